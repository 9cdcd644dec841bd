//! JWT access tokens (RFC 9068): header `typ: at+jwt`, RS256, claims iss, sub, aud,
//! client_id, scope, iat, exp, jti (and `gid`, the grant they came from, so revoking the
//! grant revokes them). `aud` is the issuer itself, or the resources (RFC 8707) the token
//! was asked for.

use std::sync::Arc;

use serde_json::Value;

use super::memo::{self, Memo};
use super::IssueError;
use crate::clock::UnixTime;
use crate::crypto;
use crate::keys::{KeySet, Signer};

pub const TYP: &str = "at+jwt";
/// Longest token accepted for verification; ours are well under 2 KiB.
const MAX_TOKEN_LEN: usize = 8192;

/// What an access token is issued for.
pub struct AccessGrant<'a> {
    pub subject: &'a str,
    pub client_id: &'a str,
    pub scope: &'a str,
    pub grant_id: Option<&'a str>,
    pub auth_time: Option<UnixTime>,
    /// The thumbprint of the DPoP key the token is bound to (RFC 9449 6.1).
    pub jkt: Option<&'a str>,
    /// The resources the token is for (RFC 8707); empty for the issuer itself.
    pub audience: &'a [String],
    /// Claims about the user declared to go into access tokens (`claims.*`).
    pub extra: Option<&'a serde_json::Map<String, Value>>,
}

pub struct Issued {
    pub token: String,
    pub jti: String,
    pub expires_at: UnixTime,
}

/// The claims of an access token, in the order they are written.
#[derive(serde::Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: Audience<'a>,
    client_id: &'a str,
    scope: &'a str,
    iat: UnixTime,
    exp: UnixTime,
    jti: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_time: Option<UnixTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<Confirmation<'a>>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    extra: Option<&'a serde_json::Map<String, Value>>,
}

/// `aud` (RFC 7519 4.1.3): one string, or an array of several.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum Audience<'a> {
    One(&'a str),
    Many(&'a [String]),
}

/// `cnf` (RFC 7800): the key the token is bound to.
#[derive(serde::Serialize)]
struct Confirmation<'a> {
    jkt: &'a str,
}

/// Signs an access token. Its audience is the issuer itself (the default resource: userinfo,
/// introspection, and resource servers that trust this issuer), or the resources it was
/// asked for.
pub fn issue(
    signer: &Signer,
    issuer: &str,
    grant: &AccessGrant<'_>,
    now: UnixTime,
    lifetime: i64,
) -> Result<Issued, IssueError> {
    let jti = crypto::b64url(&crypto::random_bytes::<16>()?);
    let expires_at = now + lifetime;
    let token = signer.sign(
        TYP,
        &Claims {
            iss: issuer,
            sub: grant.subject,
            aud: match grant.audience {
                [] => Audience::One(issuer),
                [one] => Audience::One(one),
                many => Audience::Many(many),
            },
            client_id: grant.client_id,
            scope: grant.scope,
            iat: now,
            exp: expires_at,
            jti: &jti,
            auth_time: grant.auth_time,
            gid: grant.grant_id,
            cnf: grant.jkt.map(|jkt| Confirmation { jkt }),
            extra: grant.extra,
        },
    )?;
    Ok(Issued {
        token,
        jti,
        expires_at,
    })
}

/// The claims of a verified access token.
#[derive(Clone, Debug)]
pub struct AccessClaims {
    pub subject: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub jti: String,
    pub grant_id: Option<String>,
    pub issued_at: UnixTime,
    pub expires_at: UnixTime,
    /// The DPoP key the token is bound to, if any (`cnf.jkt`).
    pub jkt: Option<String>,
    /// `aud`: the issuer, or the resources the token is for (RFC 8707).
    pub audience: Vec<String>,
}

impl AccessClaims {
    /// The grant the token came from and when it was issued: what decides whether the
    /// grant's revocations reach it.
    pub fn grant(&self) -> Option<(&str, UnixTime)> {
        self.grant_id.as_deref().map(|g| (g, self.issued_at))
    }

    /// Whether the token is for `audience`.
    pub fn is_for(&self, audience: &str) -> bool {
        self.audience.iter().any(|a| a == audience)
    }
}

/// Why a token is not a live access token of this issuer.
#[derive(Debug, PartialEq, Eq)]
pub enum Rejected {
    /// Not a JWT signed by one of the published keys: not one of our tokens at all.
    NotOurs,
    /// Signed by a published key, but not an access token of this issuer (an ID token,
    /// a claim missing), or not one for the issuer itself where that is asked.
    Invalid,
    /// One of our access tokens, past its expiry.
    Expired,
}

/// The access tokens this instance verified recently, so that a token presented again (a
/// resource server introspecting the bearer of each of its requests, a client calling
/// userinfo) is not verified again with RSA. What is remembered is bound to the key set it
/// was verified under (see [`KeySet::id`]): when the published keys change, nothing verified
/// before is found again, so a token never outlives its key here.
#[derive(Debug)]
pub struct AccessTokens {
    /// The issuer identifier the tokens must name, as `iss` and `aud`.
    issuer: Arc<str>,
    memo: Memo<AccessClaims>,
}

impl AccessTokens {
    pub fn new(issuer: Arc<str>) -> Self {
        Self {
            issuer,
            memo: Memo::new(memo::SLOTS),
        }
    }

    /// The issuer identifier the tokens name.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Checks signature (a published key), `typ`, issuer, expiry, and that the token is for
    /// the issuer itself (userinfo, the admin API): a token issued for another resource
    /// (RFC 8707) is refused here. Revocation is the caller's to check (it needs the
    /// database).
    pub fn check(
        &self,
        keys: &KeySet,
        token: &str,
        now: UnixTime,
    ) -> Result<AccessClaims, Rejected> {
        let claims = self.check_any_audience(keys, token, now)?;
        if !claims.is_for(&self.issuer) {
            return Err(Rejected::Invalid);
        }
        Ok(claims)
    }

    /// [`AccessTokens::check`], whatever resource the token is for: for introspection and
    /// revocation, which answer about every token this issuer signed.
    ///
    /// A token verified before under the same keys is not verified again: its claims come
    /// from the memo, and only its expiry is checked anew.
    pub fn check_any_audience(
        &self,
        keys: &KeySet,
        token: &str,
        now: UnixTime,
    ) -> Result<AccessClaims, Rejected> {
        let issuer = &*self.issuer;
        if token.len() > MAX_TOKEN_LEN {
            return Err(Rejected::NotOurs);
        }
        let digest = memo::digest(keys.id(), issuer, token);
        let claims = match self.memo.get(&digest) {
            Some(claims) => claims,
            None => {
                let claims = verify_signed(keys, issuer, token)?;
                self.memo.put(digest, claims.clone());
                claims
            }
        };
        if claims.expires_at <= now {
            return Err(Rejected::Expired);
        }
        Ok(claims)
    }
}

/// What the signature proves: the claims of one of our access tokens, whatever the time.
fn verify_signed(keys: &KeySet, issuer: &str, token: &str) -> Result<AccessClaims, Rejected> {
    let (payload, header) = keys
        .verifiers()
        .verify(token)
        .map_err(|_| Rejected::NotOurs)?;
    let dead = || Rejected::Invalid;
    if header.token_type() != Some(TYP) {
        return Err(dead());
    }
    let c = payload.claims_set();
    let text = |name: &str| c.get(name).and_then(Value::as_str);
    let number = |name: &str| c.get(name).and_then(Value::as_i64);
    if text("iss") != Some(issuer) {
        return Err(dead());
    }
    let audience: Vec<String> = match c.get("aud") {
        Some(Value::String(one)) => vec![one.clone()],
        Some(Value::Array(many)) => many
            .iter()
            .map(|a| a.as_str().map(str::to_owned).ok_or_else(dead))
            .collect::<Result<_, _>>()?,
        _ => return Err(dead()),
    };
    if audience.is_empty() {
        return Err(dead());
    }
    Ok(AccessClaims {
        subject: text("sub").ok_or_else(dead)?.to_owned(),
        client_id: text("client_id").ok_or_else(dead)?.to_owned(),
        // RFC 9068 2.2.3: the scopes, separated by spaces.
        scopes: text("scope")
            .unwrap_or_default()
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        jti: text("jti").ok_or_else(dead)?.to_owned(),
        grant_id: text("gid").map(str::to_owned),
        issued_at: number("iat").ok_or_else(dead)?,
        expires_at: number("exp").ok_or_else(dead)?,
        jkt: c
            .get("cnf")
            .and_then(|cnf| cnf.get("jkt"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        audience,
    })
}
