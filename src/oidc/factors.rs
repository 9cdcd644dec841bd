//! Second factors: one-time codes from an authenticator app (TOTP, RFC 6238) and recovery
//! codes, and the level a sign-in must reach.
//!
//! - A generator's secret (160 random bits) is kept wrapped by the key-encryption key; it
//!   counts once a first code confirms it. A code is accepted for the current 30 s step or
//!   one either side, and only for a step later than the last one accepted (one statement),
//!   so each code works once.
//! - Ten recovery codes are made when the first generator is confirmed, shown once, kept as
//!   keyed hashes; each works once.
//! - Wrong codes count against the account and the address (`abuse::second_factor`): only
//!   someone who already gave the password reaches them.
//! - Who must use one is `login.second_factor`, an app's `require_mfa`, and the request
//!   (`acr_values`, an essential `acr`); [`needed`] says the level, and a session below it is
//!   stepped up, not refused.

use qrcode::render::svg;
use qrcode::QrCode;
use totp_rs::{Algorithm, TOTP};

use super::passkeys;
use super::sessions::BrowserSession;
use super::Provider;
use crate::abuse;
use crate::clock::UnixTime;
use crate::config::SecondFactorPolicy;
use crate::crypto;
use crate::oauth::auth_context::{self, Amr, Level, Method};
use crate::oauth::authorize::AuthorizationRequest;
use crate::oauth::claims_request;
use crate::oauth::error::OAuthError;
use crate::store::clients::Client;
use crate::store::factors::{self, Factor, TOTP as KIND_TOTP};
use crate::store::users::User;
use crate::store::{self, StoreError};

/// Seconds per step, digits per code, and steps accepted either side of now.
const STEP: i64 = 30;
const DIGITS: usize = 6;
const SKEW: i64 = 1;
/// How long a generator being set up waits for its first code.
const ENROLMENT_SECONDS: i64 = 900;
/// How many recovery codes are made at a time.
pub const RECOVERY_CODES: usize = 10;

/// The level the person must have reached before an app gets them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Need {
    pub level: Level,
    /// Whether they have a second factor to reach it with (else they must set one up).
    pub has_factor: bool,
}

/// Whether the user has a second factor they can use here: passkeys count only while
/// passkeys are on (`login.passkeys`, an issuer browsers accept them on), so turning them off
/// does not leave someone with passkeys alone asked for what they cannot give.
pub async fn has_factor(p: Provider<'_>, user_id: &str) -> Result<bool, StoreError> {
    factors::has_confirmed(p.db, user_id, p.webauthn.is_some()).await
}

/// The level every session of the user must reach to count as signed in at all: a second
/// factor for someone who set one up, unless the policy asks only where apps want it.
pub fn baseline(policy: SecondFactorPolicy, has_factor: bool) -> Level {
    if has_factor && policy != SecondFactorPolicy::Requested {
        Level::Mfa
    } else {
        Level::Password
    }
}

/// The level `client`'s `request` needs from the user: the baseline, raised by the policy,
/// the app's `require_mfa`, an essential `acr`, or `acr_values` naming the two-factor level
/// (a wish: asked of those who have a factor).
pub async fn needed(
    p: Provider<'_>,
    client: &Client,
    request: &AuthorizationRequest,
    user_id: &str,
) -> Result<Need, OAuthError> {
    let has_factor = has_factor(p, user_id).await?;
    let policy = p.config.login.second_factor;
    let demanded = policy == SecondFactorPolicy::Required
        || client.require_mfa
        || claims_request::essential_level(request.claims.as_ref())? == Some(Level::Mfa);
    let wished = has_factor && auth_context::wished(&request.acr_values) == Some(Level::Mfa);
    let level = if demanded || wished {
        Level::Mfa
    } else {
        baseline(policy, has_factor)
    };
    Ok(Need { level, has_factor })
}

/// The level an app without a request of its own (the device flow) needs from the user.
pub async fn needed_for_client(
    p: Provider<'_>,
    client: &Client,
    user_id: &str,
) -> Result<Need, OAuthError> {
    let has_factor = has_factor(p, user_id).await?;
    let policy = p.config.login.second_factor;
    let level = if policy == SecondFactorPolicy::Required || client.require_mfa {
        Level::Mfa
    } else {
        baseline(policy, has_factor)
    };
    Ok(Need { level, has_factor })
}

/// A second factor as the form sent it.
#[derive(Clone, Copy, Debug)]
pub struct Typed<'a> {
    pub code: &'a str,
    /// A passkey's answer instead of a code.
    pub passkey: Option<PasskeyAnswer<'a>>,
    /// The client address.
    pub ip: &'a str,
    /// The browser's device token, if it holds one.
    pub device_token: Option<&'a str>,
}

/// The browser's answer to a passkey ceremony, as a form sent it.
#[derive(Clone, Copy, Debug)]
pub struct PasskeyAnswer<'a> {
    /// The ceremony's handle.
    pub ceremony: &'a str,
    /// The credential, as `PublicKeyCredential.toJSON()` gives it.
    pub response: &'a str,
}

/// What the second-factor page offers `session`'s user: a passkey ceremony when they have a
/// passkey (and passkeys are on), and whether they have an authenticator app (else the code
/// field takes recovery codes only).
pub struct Choices {
    pub passkey: Option<passkeys::Prompt>,
    pub app: bool,
}

pub async fn choices(
    p: Provider<'_>,
    session: &BrowserSession,
    now: UnixTime,
) -> Result<Choices, OAuthError> {
    let Some(user_id) = session.row.user_id.as_deref() else {
        return Ok(Choices {
            passkey: None,
            app: true,
        });
    };
    let app = factors::list(p.db, user_id)
        .await?
        .iter()
        .any(|f| f.kind == KIND_TOTP && f.confirmed_at.is_some());
    Ok(Choices {
        passkey: passkeys::begin_second_factor(p, session, user_id, now).await?,
        app,
    })
}

/// A second factor that was accepted.
pub struct Passed {
    /// The session's methods now.
    pub amr: Amr,
    /// The device token that marks this browser as one that passed the account's factors.
    pub device_token: String,
}

/// Why a typed code was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeRefusal {
    /// Wrong, outside the window, or already used: the same words for each.
    Wrong,
    TooManyFailures,
    /// A passkey's answer was not taken.
    Passkey(passkeys::Refusal),
}

impl CodeRefusal {
    pub fn message(self) -> &'static str {
        match self {
            Self::Wrong => "That code is wrong or was already used. Try the next one.",
            Self::TooManyFailures => "Too many wrong codes. Wait a few minutes, then try again.",
            Self::Passkey(refusal) => refusal.message(),
        }
    }
}

fn generator(secret: Vec<u8>) -> TOTP {
    TOTP::new_unchecked(Algorithm::SHA1, DIGITS, 1, STEP.unsigned_abs(), secret)
}

/// The digits of a typed one-time code (spaces allowed), if it has the right shape.
fn one_time_code(typed: &str) -> Option<String> {
    let digits: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
    (digits.len() == DIGITS && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// The step, within the window around `now`, `code` is for (each candidate compared in
/// constant time).
fn matching_step(totp: &TOTP, code: &str, now: UnixTime) -> Option<i64> {
    let current = now.div_euclid(STEP);
    let mut found = None;
    for step in (current - SKEW)..=(current + SKEW) {
        let Ok(at) = u64::try_from(step * STEP) else {
            continue;
        };
        if crypto::constant_time_eq(totp.generate(at).as_bytes(), code.as_bytes()) {
            found = Some(step);
        }
    }
    found
}

fn secret_of(p: Provider<'_>, factor: &Factor) -> Result<Vec<u8>, OAuthError> {
    p.kek
        .unwrap(&factor.secret)
        .map_err(|e| OAuthError::server_error(&e))
}

/// A one-time code generator being set up: what the page shows.
pub struct Enrolment {
    /// The secret in base32, for typing into an app by hand.
    pub secret: String,
    /// The `otpauth://` URI the QR code holds.
    pub uri: String,
    /// The QR code, as SVG.
    pub qr_svg: String,
}

fn enrolment(p: Provider<'_>, user: &User, secret: Vec<u8>) -> Result<Enrolment, OAuthError> {
    let totp = generator(secret);
    let secret = totp.get_secret_base32();
    let issuer = url::Url::parse(p.issuer)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| p.issuer.to_owned());
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let uri = format!(
        "otpauth://totp/{}:{}?secret={secret}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP}",
        enc(&issuer).replace('+', "%20"),
        enc(&user.username).replace('+', "%20"),
        enc(&issuer),
    );
    let qr = QrCode::new(uri.as_bytes()).map_err(|e| OAuthError::server_error(&e))?;
    let drawn = qr
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    // Inline in the page: without the XML declaration, and named for screen readers.
    let start = drawn.find("<svg").unwrap_or(0);
    let qr_svg = drawn.get(start..).unwrap_or_default().replacen(
        "<svg ",
        "<svg role=\"img\" aria-label=\"QR code to scan with an authenticator app\" ",
        1,
    );
    Ok(Enrolment {
        secret,
        uri,
        qr_svg,
    })
}

/// Starts setting up a generator for `user` in `session` (an earlier unfinished one is
/// dropped): only this session sees its key and may confirm it, for 15 minutes.
pub async fn begin_totp(
    p: Provider<'_>,
    session: &BrowserSession,
    user: &User,
    now: UnixTime,
) -> Result<Enrolment, OAuthError> {
    let secret = crypto::random_bytes::<20>()?.to_vec();
    let wrapped = p
        .kek
        .wrap(&secret)
        .map_err(|e| OAuthError::server_error(&e))?;
    let txn = p.db.begin().await?;
    factors::delete_unconfirmed(&txn, &user.id).await?;
    factors::insert(
        &txn,
        &Factor {
            id: crypto::b64url(&crypto::random_bytes::<12>()?),
            user_id: user.id.clone(),
            kind: KIND_TOTP.to_owned(),
            name: "Authenticator app".to_owned(),
            secret: wrapped,
            last_step: None,
            created_at: now,
            confirmed_at: None,
            last_used_at: None,
            session_id_hash: Some(session.row.id_hash.clone()),
            credential_id: None,
        },
    )
    .await?;
    txn.commit().await?;
    enrolment(p, user, secret)
}

/// The generator `user` is setting up in `session`, if any and not stale.
async fn pending_row(
    p: Provider<'_>,
    session: &BrowserSession,
    user: &User,
    now: UnixTime,
) -> Result<Option<Factor>, OAuthError> {
    Ok(factors::list(p.db, &user.id).await?.into_iter().find(|f| {
        f.confirmed_at.is_none()
            && f.kind == KIND_TOTP
            && f.session_id_hash.as_deref() == Some(session.row.id_hash.as_str())
            && now - f.created_at < ENROLMENT_SECONDS
    }))
}

/// The generator `user` is setting up in `session`, if any (to show it again after a wrong
/// code).
pub async fn pending_totp(
    p: Provider<'_>,
    session: &BrowserSession,
    user: &User,
    now: UnixTime,
) -> Result<Option<Enrolment>, OAuthError> {
    match pending_row(p, session, user, now).await? {
        Some(f) => Ok(Some(enrolment(p, user, secret_of(p, &f)?)?)),
        None => Ok(None),
    }
}

/// What confirming a generator led to.
pub enum Confirmed {
    /// Set up; the recovery codes made with it when it is the first (shown once).
    Done {
        recovery_codes: Option<Vec<String>>,
    },
    Refused(CodeRefusal),
    /// There is nothing being set up (it expired or was finished in another tab).
    Nothing,
}

/// Confirms the generator being set up with a first code from it. The session it was done
/// in has now used two factors.
pub async fn confirm_totp(
    p: Provider<'_>,
    session: &BrowserSession,
    user: &User,
    typed: &str,
    ip: &str,
    now: UnixTime,
) -> Result<Confirmed, OAuthError> {
    let Some(pending) = pending_row(p, session, user, now).await? else {
        return Ok(Confirmed::Nothing);
    };
    let rules = abuse::second_factor(p.config, &user.id, None, ip);
    if let abuse::Verdict::Refused(_) = abuse::reserve(p.db, &rules, now).await?.verdict {
        return Ok(Confirmed::Refused(CodeRefusal::TooManyFailures));
    }
    let totp = generator(secret_of(p, &pending)?);
    let Some(step) = one_time_code(typed).and_then(|code| matching_step(&totp, &code, now)) else {
        return Ok(Confirmed::Refused(CodeRefusal::Wrong));
    };
    let txn = p.db.begin().await?;
    if !factors::confirm(&txn, &user.id, &pending.id, step, now).await? {
        return Ok(Confirmed::Nothing);
    }
    // Counted after the write, in its transaction: the first factor brings the codes.
    let first = factors::list(&txn, &user.id)
        .await?
        .iter()
        .filter(|f| f.confirmed_at.is_some())
        .count()
        == 1;
    let recovery_codes = if first {
        Some(new_recovery_codes(p, &txn, &user.id, now).await?)
    } else {
        None
    };
    raise_session(&txn, session, Method::Otp, now).await?;
    txn.commit().await?;
    abuse::release(p.db, &rules, now).await?;
    tracing::info!(user_id = %user.id, "one-time code generator set up");
    Ok(Confirmed::Done { recovery_codes })
}

/// The session has now used `method` as well: its methods and `auth_time` say so.
pub(super) async fn raise_session(
    db: &impl sea_orm::ConnectionTrait,
    session: &BrowserSession,
    method: Method,
    now: UnixTime,
) -> Result<Amr, OAuthError> {
    let amr = Amr::from_stored(session.row.amr.as_deref()).with(method);
    store::sessions::raise(db, &session.row.id_hash, &amr.to_stored(), now).await?;
    Ok(amr)
}

/// Checks a second factor typed by `user`, who gave their password in `session` (a one-time
/// code from any of their generators, or a recovery code), under the limits; on success the
/// session has used two factors.
pub async fn verify(
    p: Provider<'_>,
    session: &BrowserSession,
    user: &User,
    typed: Typed<'_>,
    now: UnixTime,
) -> Result<Result<Passed, CodeRefusal>, OAuthError> {
    let Typed {
        code: typed_code,
        passkey,
        ip,
        device_token,
    } = typed;
    if let Some(answer) = passkey {
        // Not counted with the codes: a passkey's answer cannot be guessed, and a thief who
        // spent the account's count of codes does not keep its owner's passkey out.
        return match passkeys::finish_second_factor(
            p,
            session,
            user,
            answer.ceremony,
            answer.response,
            now,
        )
        .await?
        {
            Ok(method) => {
                let amr = raise_session(p.db, session, method, now).await?;
                tracing::info!(user_id = %user.id, "second factor: a passkey");
                Ok(Ok(Passed {
                    amr,
                    device_token: abuse::device_token(p.secrets, &user.username)?,
                }))
            }
            Err(refusal) => Ok(Err(CodeRefusal::Passkey(refusal))),
        };
    }
    let user_id = user.id.as_str();
    let device =
        device_token.and_then(|token| abuse::trusted_device(p.secrets, token, &user.username));
    let rules = abuse::second_factor(p.config, user_id, device, ip);
    let reservation = abuse::reserve(p.db, &rules, now).await?;
    if let abuse::Verdict::Refused(_) = reservation.verdict {
        tracing::warn!(ip, "second factor throttled");
        return Ok(Err(CodeRefusal::TooManyFailures));
    }
    let accepted = match one_time_code(typed_code) {
        Some(code) => accept_one_time_code(p, user_id, &code, now).await?,
        None => match recovery_code(typed_code) {
            Some(code) => {
                let taken =
                    factors::take_recovery_code(p.db, user_id, &p.secrets.hash(&code)).await?;
                if taken {
                    tracing::info!(user_id, "recovery code used");
                }
                taken
            }
            None => false,
        },
    };
    if !accepted {
        tracing::info!(ip, user_id, "wrong second factor");
        let exponent = u32::try_from(reservation.highest.clamp(1, 5) - 1).unwrap_or(0);
        tokio::time::sleep(std::time::Duration::from_millis(100 << exponent)).await;
        return Ok(Err(CodeRefusal::Wrong));
    }
    abuse::release(p.db, &rules, now).await?;
    let amr = raise_session(p.db, session, Method::Otp, now).await?;
    tracing::info!(user_id, "second factor");
    Ok(Ok(Passed {
        amr,
        device_token: abuse::device_token(p.secrets, &user.username)?,
    }))
}

async fn accept_one_time_code(
    p: Provider<'_>,
    user_id: &str,
    code: &str,
    now: UnixTime,
) -> Result<bool, OAuthError> {
    for factor in factors::list(p.db, user_id).await? {
        if factor.kind != KIND_TOTP || factor.confirmed_at.is_none() {
            continue;
        }
        let totp = generator(secret_of(p, &factor)?);
        if let Some(step) = matching_step(&totp, code, now) {
            if factors::accept_step(p.db, &factor.id, step, now).await? {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// The alphabet of recovery codes (32 characters, 5 bits each): no 0/o or 1/l to mistake.
const RECOVERY_ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";

/// A typed recovery code, normalized (case, spaces and dashes do not matter).
fn recovery_code(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (code.len() == 10 && code.bytes().all(|b| RECOVERY_ALPHABET.contains(&b))).then_some(code)
}

/// Ten new recovery codes for the user (the old ones stop working), as shown: `xxxxx-xxxxx`,
/// 50 bits each.
pub(super) async fn new_recovery_codes(
    p: Provider<'_>,
    db: &impl sea_orm::ConnectionTrait,
    user_id: &str,
    now: UnixTime,
) -> Result<Vec<String>, OAuthError> {
    let mut shown = Vec::with_capacity(RECOVERY_CODES);
    let mut hashes = Vec::with_capacity(RECOVERY_CODES);
    for _ in 0..RECOVERY_CODES {
        let bytes = crypto::random_bytes::<10>()?;
        let code: String = bytes
            .iter()
            .map(|b| char::from(*RECOVERY_ALPHABET.get(usize::from(b & 31)).unwrap_or(&b'a')))
            .collect();
        hashes.push(p.secrets.hash(&code));
        shown.push(format!(
            "{}-{}",
            code.get(..5).unwrap_or_default(),
            code.get(5..).unwrap_or_default()
        ));
    }
    factors::replace_recovery_codes(db, user_id, &hashes, now).await?;
    Ok(shown)
}

/// New recovery codes for a user who has a second factor (the old ones stop working).
pub async fn regenerate_recovery_codes(
    p: Provider<'_>,
    user_id: &str,
    now: UnixTime,
) -> Result<Option<Vec<String>>, OAuthError> {
    if !factors::has_confirmed(p.db, user_id, true).await? {
        return Ok(None);
    }
    let txn = p.db.begin().await?;
    let codes = new_recovery_codes(p, &txn, user_id, now).await?;
    txn.commit().await?;
    tracing::info!(user_id, "recovery codes made again");
    Ok(Some(codes))
}

/// What removing a factor did.
pub struct Removed {
    /// `totp` or `passkey`.
    pub kind: String,
    /// It was the last one: the recovery codes went with it.
    pub last: bool,
}

/// Removes one of the user's generators or passkeys; the last one takes the recovery codes
/// with it. `None` when there was no such factor.
pub async fn remove(
    p: Provider<'_>,
    user_id: &str,
    factor_id: &str,
) -> Result<Option<Removed>, OAuthError> {
    let Some(kind) = factors::list(p.db, user_id)
        .await?
        .into_iter()
        .find(|f| f.id == factor_id)
        .map(|f| f.kind)
    else {
        return Ok(None);
    };
    let txn = p.db.begin().await?;
    if !factors::delete(&txn, user_id, factor_id).await? {
        return Ok(None);
    }
    let last = !factors::has_confirmed(&txn, user_id, true).await?;
    if last {
        factors::delete_all(&txn, user_id).await?;
    }
    txn.commit().await?;
    tracing::info!(user_id, kind, last, "second factor removed");
    Ok(Some(Removed { kind, last }))
}

/// Renames one of the user's factors; `false` when there is no such factor.
pub async fn rename(
    p: Provider<'_>,
    user_id: &str,
    factor_id: &str,
    name: &str,
) -> Result<bool, OAuthError> {
    Ok(factors::rename(p.db, user_id, factor_id, name).await?)
}

/// The longest name a person may give a factor.
pub const NAME_MAX: usize = 64;

/// A factor's name as the person typed it: trimmed, without control characters, at most
/// [`NAME_MAX`] characters; `None` when nothing is left.
pub fn factor_name(typed: &str) -> Option<String> {
    let name: String = typed
        .chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .chars()
        .take(NAME_MAX)
        .collect();
    let name = name.trim_end().to_owned();
    (!name.is_empty()).then_some(name)
}

/// Removes every second factor and recovery code of the user (an operator's reset, for
/// someone who lost them) and ends every session of the user, saying who did it.
pub async fn reset(
    p: Provider<'_>,
    user_id: &str,
    by: &str,
    now: UnixTime,
) -> Result<u64, super::accounts::AccountError> {
    let txn = p.db.begin().await.map_err(StoreError::from)?;
    let removed = factors::delete_all(&txn, user_id).await?;
    // Whoever holds a session that passed the lost factor (a thief, maybe) is signed out.
    super::sign_out::end_user_sessions(p, &txn, user_id, None, now).await?;
    txn.commit().await.map_err(StoreError::from)?;
    tracing::warn!(
        user_id,
        by,
        removed,
        "second factors reset; every session ended"
    );
    Ok(removed)
}

/// A generator or passkey as the account page lists it.
pub struct Listed {
    pub id: String,
    /// `totp` or `passkey`.
    pub kind: String,
    pub name: String,
    pub created_at: UnixTime,
    pub last_used_at: Option<UnixTime>,
}

/// The user's confirmed generators and passkeys, and how many recovery codes are left.
pub async fn list(p: Provider<'_>, user_id: &str) -> Result<(Vec<Listed>, u64), OAuthError> {
    let listed = factors::list(p.db, user_id)
        .await?
        .into_iter()
        .filter(|f| f.confirmed_at.is_some())
        .map(|f| Listed {
            id: f.id,
            kind: f.kind,
            name: f.name,
            created_at: f.created_at,
            last_used_at: f.last_used_at,
        })
        .collect();
    let left = factors::recovery_codes_left(p.db, user_id).await?;
    Ok((listed, left))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1, truncated to six digits.
    #[test]
    fn codes_match_the_rfc_vectors_within_one_step() {
        let totp = generator(b"12345678901234567890".to_vec());
        assert_eq!(totp.generate(59), "287082");
        assert_eq!(totp.generate(1_111_111_109), "081804");
        assert_eq!(matching_step(&totp, "287082", 59), Some(1));
        // One step either side of now, not two.
        assert_eq!(matching_step(&totp, "287082", 59 + 30), Some(1));
        assert_eq!(matching_step(&totp, "287082", 59 + 60), None);
        assert_eq!(
            matching_step(&totp, "081804", 1_111_111_109 - 30),
            Some(37_037_036)
        );
        assert_eq!(one_time_code(" 287 082 "), Some("287082".to_owned()));
        assert_eq!(one_time_code("28708"), None);
        assert_eq!(one_time_code("28708a"), None);
    }

    #[test]
    fn recovery_codes_are_read_loosely() {
        assert_eq!(recovery_code("ABCDE-fghjk"), Some("abcdefghjk".to_owned()));
        assert_eq!(recovery_code("abcde-fghjl"), None);
        assert_eq!(recovery_code("abcde fghjk"), Some("abcdefghjk".to_owned()));
        assert_eq!(recovery_code("abcde-fghj0"), None);
        assert_eq!(recovery_code("abcde-fghj"), None);
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            factor_name("  Work laptop \n"),
            Some("Work laptop".to_owned())
        );
        assert_eq!(factor_name(" \t "), None);
        assert_eq!(
            factor_name(&"x".repeat(100)).map(|n| n.chars().count()),
            Some(NAME_MAX)
        );
    }

    #[test]
    fn the_baseline_follows_the_policy() {
        use SecondFactorPolicy::*;
        assert_eq!(baseline(Enrolled, true), Level::Mfa);
        assert_eq!(baseline(Enrolled, false), Level::Password);
        assert_eq!(baseline(Requested, true), Level::Password);
        assert_eq!(baseline(Required, true), Level::Mfa);
        assert_eq!(baseline(Required, false), Level::Password);
    }
}
