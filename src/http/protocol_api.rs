//! The protocol's JSON endpoints, described by poem-openapi: token, device authorization,
//! introspection, revocation, userinfo. Each operation reads the request, calls one logic
//! function and maps the result.

use poem::web::Data;
use poem::{Body, Request};
use poem_openapi::auth::{Basic, Bearer};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi, SecurityScheme};

use super::cors::CorsClient;
use super::dto::{
    BearerFailure, DeviceAuthorizationBody, DeviceAuthorizationRequest, IntrospectionBody,
    OAuthFailure, PushedAuthorizationBody, PushedAuthorizationRequest, TokenBody, TokenRequest,
    TokenRequestForm,
};
use super::extract;
use super::payload::OAuthForm;
use super::tags::ApiTags;
use crate::abuse;
use crate::metrics::Metrics;
use crate::oauth::client_assertion::Verifier;
use crate::oauth::client_auth::{Credentials, Outcome};
use crate::oauth::dpop::Checker;
use crate::oauth::error::ErrorCode;
use crate::oauth::error::OAuthError;
use crate::oauth::grants::{DpopRequest, TokenContext};
use crate::oauth::params::Params;
use crate::oauth::{authorize, device, introspect, revoke, token};
use crate::oidc::discovery::Endpoint;
use crate::oidc::userinfo;
use crate::state::AppState;

/// HTTP Basic with the client id and secret, each form-encoded first (RFC 6749 2.3.1).
#[derive(SecurityScheme)]
#[oai(rename = "client_secret_basic", ty = "basic")]
// Documentation only: `extract::credentials` reads the header itself, form-decoding both
// halves as RFC 6749 2.3.1 requires.
#[allow(dead_code)]
pub struct ClientSecretBasic(Basic);

/// Client authentication: Basic, or `client_id` (and `client_secret` for client_secret_post)
/// in the form.
#[derive(SecurityScheme)]
pub enum ClientAuth {
    Basic(ClientSecretBasic),
    #[oai(fallback)]
    InForm,
}

/// An access token this provider issued (RFC 6750).
#[derive(SecurityScheme)]
#[oai(rename = "bearer", ty = "bearer", bearer_format = "JWT")]
// Documentation only: `extract::bearer` reads the header (and the form) itself.
#[allow(dead_code)]
pub struct AccessToken(Bearer);

/// The bearer token, in the header or (POST) in the form.
#[derive(SecurityScheme)]
pub enum BearerAuth {
    Header(AccessToken),
    #[oai(fallback)]
    Elsewhere,
}

const NO_STORE: &str = "no-store";

#[derive(ApiResponse)]
pub enum TokenOk {
    /// The tokens.
    #[oai(status = 200)]
    Ok(
        Json<TokenBody>,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Pragma")] String,
        /// With a DPoP proof, when proofs need nonces: the nonce for the next proof.
        #[oai(header = "DPoP-Nonce")]
        Option<String>,
    ),
}

#[derive(ApiResponse)]
pub enum DeviceOk {
    /// The device and user codes.
    #[oai(status = 200)]
    Ok(
        Json<DeviceAuthorizationBody>,
        #[oai(header = "Cache-Control")] String,
    ),
}

#[derive(ApiResponse)]
pub enum ParOk {
    /// The request is kept: send the person to the authorization endpoint with `client_id`
    /// and `request_uri`.
    #[oai(status = 201)]
    Created(
        Json<PushedAuthorizationBody>,
        #[oai(header = "Cache-Control")] String,
        /// With a DPoP proof, when proofs need nonces: the nonce for the next proof.
        #[oai(header = "DPoP-Nonce")]
        Option<String>,
    ),
}

#[derive(ApiResponse)]
pub enum IntrospectOk {
    /// What the token is, or `{"active": false}`.
    #[oai(status = 200)]
    Ok(
        Json<IntrospectionBody>,
        #[oai(header = "Cache-Control")] String,
    ),
}

#[derive(ApiResponse)]
pub enum RevokeOk {
    /// Revoked, or there was nothing to revoke (unknown tokens get the same answer).
    #[oai(status = 200)]
    Ok(#[oai(header = "Cache-Control")] String),
}

#[derive(ApiResponse)]
pub enum UserinfoOk {
    /// `sub` and the claims the token's scopes release (profile, email, phone, address).
    #[oai(status = 200, actual_type = "Json<crate::http::dto::UserinfoBody>")]
    Ok(
        Json<serde_json::Value>,
        #[oai(header = "Cache-Control")] String,
        /// With the DPoP scheme, when proofs need nonces: the nonce for the next proof.
        #[oai(header = "DPoP-Nonce")]
        Option<String>,
    ),
}

/// The request's client credentials, held back by the client-authentication limits: refused
/// while the claimed client id or the client IP is over its limit (checked with the client
/// lookup, in one query). A claimed id that is the URL of a metadata document has its client
/// brought up to date first.
async fn credentials(
    state: &AppState,
    req: &Request,
    params: &Params,
) -> Result<Credentials, OAuthError> {
    let mut credentials = extract::credentials(req.headers(), params)?;
    let now = state.clock.now();
    let ip = extract::client_ip(req);
    let claimed = credentials.claimed_id();
    if let Some(claimed) = &claimed {
        CorsClient::name(req, claimed);
        state
            .documents()
            .refresh(claimed, &ip, now)
            .await
            .map_err(|e| e.into_oauth(ErrorCode::InvalidClient))?;
    }
    let claimed: String = claimed.unwrap_or_default().chars().take(128).collect();
    credentials.limits = abuse::client_auth(&state.config, &claimed, &ip);
    credentials.now = now;
    if credentials.assertion.is_some() && state.config.client_auth.jwt {
        credentials.verifier = Some(assertion_verifier(state, req));
    }
    Ok(credentials)
}

/// What checks a client assertion sent to this request's endpoint: its `aud` may be the
/// issuer, the token endpoint or this endpoint.
fn assertion_verifier(state: &AppState, req: &Request) -> Verifier {
    let issuer = &*state.issuer;
    let mut audiences = vec![
        issuer.to_owned(),
        format!("{issuer}{}", Endpoint::Token.path()),
    ];
    let here = format!("{issuer}{}", req.uri().path());
    if !audiences.contains(&here) {
        audiences.push(here);
    }
    state.client_jwt_verifier(audiences)
}

/// Runs a client-authenticated operation: every `invalid_client` answer counts against the
/// claimed client id and the client IP (in the database, across instances).
/// A refused client authentication is logged at `info` with the claimed client id, the
/// method tried and the reason (never the secret), so an integrator's "invalid_client" can
/// be explained from the log.
async fn guarded<T>(
    state: &AppState,
    credentials: &Credentials,
    operation: impl std::future::Future<Output = Result<T, OAuthError>>,
) -> Result<T, OAuthFailure> {
    let tried_basic = credentials.basic.is_some();
    let result = operation.await;
    let claimed = credentials.claimed_id().unwrap_or_default();
    let claimed = claimed.as_str();
    match (&result, credentials.outcome.get()) {
        (_, Some(Outcome::Throttled)) => {
            Metrics::incr(&state.metrics.client_auth_throttled);
            tracing::warn!(client_id = %claimed, "client authentication throttled");
        }
        (Err(e), Some(outcome @ (Outcome::Failed | Outcome::Mistaken))) => {
            tracing::info!(
                client_id = %claimed,
                method = credentials.method_tried(),
                reason = %e.description,
                "client authentication refused"
            );
            if *outcome == Outcome::Failed {
                abuse::record_failure(&state.db, &credentials.limits, credentials.now)
                    .await
                    .map_err(|e| OAuthFailure::new(e.into(), tried_basic))?;
            }
        }
        _ => {}
    }
    result.map_err(|e| OAuthFailure::new(e, tried_basic))
}

/// A request's DPoP proof (RFC 9449) and what checks it: the `DPoP` header (at most one,
/// RFC 9449 4.3; ignored when `dpop.enabled` is off, as RFC 9449 5 has it), the checker, and
/// the URL the proof's `htu` must name.
struct Dpop<'a> {
    proof: Option<&'a str>,
    checker: Checker<'a>,
    htu: String,
}

impl<'a> Dpop<'a> {
    fn of(
        state: &'a AppState,
        req: &'a Request,
        now: crate::clock::UnixTime,
    ) -> Result<Self, OAuthError> {
        let mut headers = req.headers().get_all("dpop").iter();
        let first = headers.next();
        if headers.next().is_some() {
            return Err(OAuthError::new(
                ErrorCode::InvalidDpopProof,
                "Send one DPoP header, not several.",
            ));
        }
        let proof = first
            .map(|v| {
                v.to_str().map_err(|_| {
                    OAuthError::new(ErrorCode::InvalidDpopProof, "The DPoP header is malformed.")
                })
            })
            .transpose()?
            .filter(|_| state.config.dpop.enabled);
        Ok(Self {
            proof,
            checker: Self::checker(state, now),
            htu: format!("{}{}", state.issuer, req.uri().path()),
        })
    }

    fn checker(state: &AppState, now: crate::clock::UnixTime) -> Checker<'_> {
        Checker {
            hasher: &state.secrets,
            require_nonce: state.config.dpop.require_nonce,
            now,
        }
    }

    /// The nonce for the next proof, which goes with every answer to a request that carried
    /// one (RFC 9449 8).
    fn next_nonce(&self) -> Option<String> {
        (self.proof.is_some() && self.checker.require_nonce).then(|| self.checker.nonce())
    }
}

/// Whether the request's Authorization header uses the Basic scheme (even a malformed one).
fn tried_basic(req: &Request) -> bool {
    req.headers()
        .get(poem::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(' ').next())
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("basic"))
}

pub struct ProtocolApi;

#[OpenApi(tag = "ApiTags::Protocol")]
impl ProtocolApi {
    /// Token endpoint
    ///
    /// Exchanges an authorization code, a refresh token, a device code, or the client's own
    /// credentials for tokens (RFC 6749 3.2, RFC 7636, RFC 8628 3.4, OIDC Core 3.1.3).
    ///
    /// With a `DPoP` header (a proof, RFC 9449) the access token is bound to the proof's key
    /// (`token_type` DPoP, `cnf.jkt`), and so are a public client's refresh tokens. A proof
    /// without the server's nonce gets `use_dpop_nonce` and the nonce in `DPoP-Nonce`.
    ///
    /// With `resource` (RFC 8707) the access token is for those registered APIs (`aud`) and
    /// carries only the scopes they accept; a resource the grant or the client does not
    /// have is `invalid_target`.
    ///
    /// **Permissions**: a registered client, authenticated with the method it was registered
    /// for (client_secret_basic, client_secret_post, client_secret_jwt, private_key_jwt, or
    /// none for public clients), and registered for the grant it uses. Refresh tokens rotate
    /// on every use.
    #[oai(path = "/oauth/token", method = "post", operation_id = "token")]
    async fn token(
        &self,
        req: &Request,
        Data(state): Data<&AppState>,
        _auth: ClientAuth,
        form: OAuthForm<TokenRequest>,
    ) -> Result<TokenOk, OAuthFailure> {
        let credentials = credentials(state, req, &form.params)
            .await
            .map_err(|e| OAuthFailure::new(e, tried_basic(req)))?;
        let now = state.clock.now();
        let dpop = Dpop::of(state, req, now).map_err(|e| OAuthFailure::new(e, tried_basic(req)))?;
        // With a proof, the nonce for the next one goes with every answer.
        let nonce = dpop.next_nonce();
        let dpop = state.config.dpop.enabled.then_some(DpopRequest {
            proof: dpop.proof,
            checker: dpop.checker,
            htu: dpop.htu,
        });
        let ctx = TokenContext {
            db: &state.db,
            secrets: &state.secrets,
            keys: state.keys.current(),
            issuer: &state.issuer,
            lifetimes: &state.config.lifetimes,
            metrics: &state.metrics,
            claims: &state.claims,
            now,
            dpop,
            jkt: None,
        };
        let tokens = guarded(
            state,
            &credentials,
            token::token(&ctx, &credentials, &form.params),
        )
        .await
        .map_err(|failure| failure.with_dpop_nonce(nonce.clone()))?;
        Ok(TokenOk::Ok(
            Json(tokens.into()),
            NO_STORE.into(),
            "no-cache".into(),
            nonce,
        ))
    }

    /// Device authorization endpoint
    ///
    /// Starts the device flow (RFC 8628 3.1): returns a device code to poll with and a user
    /// code for the person to enter at `verification_uri`.
    ///
    /// **Permissions**: a client registered for the device_code grant (public clients send
    /// `client_id`; confidential ones authenticate).
    #[oai(
        path = "/oauth/device_authorization",
        method = "post",
        operation_id = "device_authorization"
    )]
    async fn device_authorization(
        &self,
        req: &Request,
        Data(state): Data<&AppState>,
        _auth: ClientAuth,
        form: OAuthForm<DeviceAuthorizationRequest>,
    ) -> Result<DeviceOk, OAuthFailure> {
        let credentials = credentials(state, req, &form.params)
            .await
            .map_err(|e| OAuthFailure::new(e, tried_basic(req)))?;
        let operation = device::authorize_device(
            &state.db,
            &state.secrets,
            &credentials,
            &form.params,
            &state.issuer,
            state.config.lifetimes.device_code.as_i64(),
            state.config.device.interval.as_i64(),
            state.clock.now(),
        );
        let response = guarded(state, &credentials, operation).await?;
        Ok(DeviceOk::Ok(Json(response.into()), NO_STORE.into()))
    }

    /// Pushed authorization request endpoint
    ///
    /// Takes an authorization request (its parameters, or a signed request object in
    /// `request`) from the client itself and keeps it, validated, for a short time
    /// (`lifetimes.pushed_request`) under a `request_uri` that works once (RFC 9126). The
    /// person then goes to `/oauth/authorize?client_id=...&request_uri=...`. Errors are
    /// those of the authorization endpoint, answered here as JSON. A `DPoP` proof sent with
    /// the push binds the code to its key, as `dpop_jkt` does (RFC 9449 10.1).
    ///
    /// **Permissions**: a client registered for the authorization code grant, authenticated
    /// as at the token endpoint (public clients send `client_id`). Off when `authorize.par`
    /// is off.
    #[oai(
        path = "/oauth/par",
        method = "post",
        operation_id = "pushed_authorization_request"
    )]
    async fn pushed_authorization_request(
        &self,
        req: &Request,
        Data(state): Data<&AppState>,
        _auth: ClientAuth,
        form: OAuthForm<PushedAuthorizationRequest>,
    ) -> Result<ParOk, OAuthFailure> {
        let refuse = |e| OAuthFailure::new(e, tried_basic(req));
        if !state.config.authorize.par {
            return Err(refuse(OAuthError::invalid_request(
                "Pushed authorization requests are not accepted here (authorize.par is off).",
            )));
        }
        let credentials = credentials(state, req, &form.params)
            .await
            .map_err(refuse)?;
        let now = state.clock.now();
        authorize::admit_push(
            &state.db,
            &state.config,
            &credentials,
            &extract::client_ip(req),
            now,
        )
        .await
        .map_err(refuse)?;
        let rules = state.authorize_rules(now);
        let dpop = Dpop::of(state, req, now).map_err(refuse)?;
        let nonce = dpop.next_nonce();
        let proof = dpop.proof.map(|p| (p, &dpop.checker, dpop.htu.as_str()));
        let operation = authorize::push(
            &state.db,
            &credentials,
            &form.params,
            &rules,
            proof,
            state.config.lifetimes.pushed_request.as_i64(),
        );
        let pushed = guarded(state, &credentials, operation)
            .await
            .map_err(|failure| failure.with_dpop_nonce(nonce.clone()))?;
        Ok(ParOk::Created(Json(pushed.into()), NO_STORE.into(), nonce))
    }

    /// Introspection endpoint
    ///
    /// Says whether an access or refresh token is active, and what it grants (RFC 7662).
    ///
    /// **Permissions**: an authenticated confidential client. It sees tokens issued to
    /// itself; a client allowed the `introspect` scope (a resource server) sees any token.
    /// Anything else is `{"active": false}`.
    #[oai(
        path = "/oauth/introspect",
        method = "post",
        operation_id = "introspect"
    )]
    async fn introspect(
        &self,
        req: &Request,
        Data(state): Data<&AppState>,
        _auth: ClientAuth,
        form: OAuthForm<TokenRequestForm>,
    ) -> Result<IntrospectOk, OAuthFailure> {
        let credentials = credentials(state, req, &form.params)
            .await
            .map_err(|e| OAuthFailure::new(e, tried_basic(req)))?;
        let keys = state.keys.current();
        let operation = introspect::introspect(
            &state.db,
            &state.secrets,
            &keys,
            &state.access_tokens,
            &credentials,
            &form.params,
            state.clock.now(),
        );
        let result = guarded(state, &credentials, operation).await?;
        Ok(IntrospectOk::Ok(Json(result.into()), NO_STORE.into()))
    }

    /// Revocation endpoint
    ///
    /// Revokes an access token (by its `jti`) or a refresh token (with its whole grant)
    /// (RFC 7009). Unknown tokens get the same 200.
    ///
    /// **Permissions**: the client the token was issued to.
    #[oai(path = "/oauth/revoke", method = "post", operation_id = "revoke")]
    async fn revoke(
        &self,
        req: &Request,
        Data(state): Data<&AppState>,
        _auth: ClientAuth,
        form: OAuthForm<TokenRequestForm>,
    ) -> Result<RevokeOk, OAuthFailure> {
        let credentials = credentials(state, req, &form.params)
            .await
            .map_err(|e| OAuthFailure::new(e, tried_basic(req)))?;
        let keys = state.keys.current();
        let operation = revoke::revoke(
            &state.db,
            &state.secrets,
            &keys,
            &state.access_tokens,
            &credentials,
            &form.params,
            state.clock.now(),
        );
        guarded(state, &credentials, operation).await?;
        Ok(RevokeOk::Ok(NO_STORE.into()))
    }

    /// UserInfo endpoint
    ///
    /// The claims about the signed-in user that the access token's scopes release
    /// (OIDC Core 5.3). A token bound to a key comes as `Authorization: DPoP <token>` with a
    /// `DPoP` proof for this request and token (`ath`; RFC 9449 7.1); refusals of the proof
    /// carry the `DPoP` challenge.
    ///
    /// **Permissions**: an access token with the `openid` scope.
    #[oai(path = "/oauth/userinfo", method = "get", operation_id = "userinfo")]
    async fn userinfo_get(
        &self,
        req: &Request,
        Data(state): Data<&AppState>,
        _auth: BearerAuth,
    ) -> Result<UserinfoOk, BearerFailure> {
        userinfo_response(state, req, None).await
    }

    /// UserInfo endpoint (POST)
    ///
    /// As GET; the token may also come as the `access_token` form parameter
    /// (RFC 6750 2.2).
    ///
    /// **Permissions**: an access token with the `openid` scope.
    #[oai(
        path = "/oauth/userinfo",
        method = "post",
        operation_id = "userinfo_post"
    )]
    async fn userinfo_post(
        &self,
        req: &Request,
        Data(state): Data<&AppState>,
        _auth: BearerAuth,
        body: Body,
    ) -> Result<UserinfoOk, BearerFailure> {
        let is_form = req
            .content_type()
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        let form = if is_form {
            Some(
                extract::form(req.headers(), body)
                    .await
                    .map_err(|e| BearerFailure::of(Some(e)))?,
            )
        } else {
            None
        };
        userinfo_response(state, req, form.as_ref()).await
    }
}

async fn userinfo_response(
    state: &AppState,
    req: &Request,
    form: Option<&Params>,
) -> Result<UserinfoOk, BearerFailure> {
    let presented = match extract::bearer(req.headers(), form) {
        Ok(Some(t)) => t,
        Ok(None) => return Err(BearerFailure::of(None)),
        Err(e) => return Err(BearerFailure::of(Some(e))),
    };
    if let Some(client_id) = unverified_client_id(&presented.token) {
        CorsClient::name(req, &client_id);
    }
    let now = state.clock.now();
    // With the DPoP scheme, the nonce for the next proof goes with every answer.
    let nonce = (presented.dpop && state.config.dpop.require_nonce)
        .then(|| Dpop::checker(state, now).nonce());
    let fail = |e: OAuthError| BearerFailure(Some(e), nonce.clone());
    let keys = state.keys.current();
    if presented.dpop && !state.config.dpop.enabled {
        return Err(fail(OAuthError::invalid_request(
            "DPoP is not accepted here: present the token with the Bearer scheme.",
        )));
    }
    // The header is read only for the DPoP scheme.
    let dpop = if presented.dpop {
        Some(Dpop::of(state, req, now).map_err(fail)?)
    } else {
        None
    };
    let dpop = dpop.as_ref().map(|d| userinfo::DpopPresented {
        proof: d.proof,
        checker: &d.checker,
        request: crate::oauth::dpop::Request {
            htm: req.method().as_str(),
            htu: &d.htu,
            access_token: Some(&presented.token),
        },
    });
    let claims = userinfo::answer(
        &state.db,
        &keys,
        &state.access_tokens,
        &state.claims,
        &presented.token,
        dpop,
        now,
    )
    .await
    .map_err(fail)?;
    Ok(UserinfoOk::Ok(
        Json(serde_json::Value::Object(claims)),
        NO_STORE.into(),
        nonce,
    ))
}

/// The `client_id` an access token claims, read without checking its signature: it only
/// decides which origins may read the answer, and the answer is a success only for a token
/// whose signature holds (so whose `client_id` is what it says).
fn unverified_client_id(token: &str) -> Option<String> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    if payload.len() > 8192 {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    #[derive(serde::Deserialize)]
    struct Claims {
        client_id: String,
    }
    serde_json::from_slice::<Claims>(&bytes)
        .ok()
        .map(|c| c.client_id)
}
