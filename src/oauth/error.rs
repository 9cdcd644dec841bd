//! The protocol's errors: one code per RFC error value, with a human description. How each
//! reaches the wire: JSON body, status and `WWW-Authenticate` in `http::errors`; the
//! authorization response's redirect in `oauth::redirect`; the HTML error page in
//! `web::pages`.

use std::borrow::Cow;

use crate::store::StoreError;

/// Error codes, each with the section that defines it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// RFC 6749 4.1.2.1, 5.2: a parameter is missing, repeated, malformed or unsupported.
    InvalidRequest,
    /// RFC 6749 5.2: client authentication failed.
    InvalidClient,
    /// RFC 6749 5.2: the code or refresh token is invalid, expired, revoked, used, or was
    /// issued to another client or redirect URI.
    InvalidGrant,
    /// RFC 6749 4.1.2.1, 5.2: the client may not use this grant or response type.
    UnauthorizedClient,
    /// RFC 6749 5.2.
    UnsupportedGrantType,
    /// RFC 6749 4.1.2.1.
    UnsupportedResponseType,
    /// RFC 6749 4.1.2.1, 5.2.
    InvalidScope,
    /// RFC 6749 4.1.2.1: the user or the server denied the request.
    AccessDenied,
    /// RFC 6749 4.1.2.1: an unexpected condition (details are logged, never sent).
    ServerError,
    /// RFC 6749 4.1.2.1: overloaded or the database is unavailable.
    TemporarilyUnavailable,
    /// OIDC Core 3.1.2.6: prompt=none and the user is not logged in.
    LoginRequired,
    /// OIDC Core 3.1.2.6: prompt=none and consent is needed.
    ConsentRequired,
    /// OIDC Core 3.1.2.6: prompt=none and the person must act (a second factor).
    InteractionRequired,
    /// RFC 6750 3.1: the access token is missing parts, expired, revoked or not ours.
    InvalidToken,
    /// RFC 6750 3.1: the token lacks a scope the resource needs.
    InsufficientScope,
    /// RFC 8628 3.5: the user has not answered yet; keep polling.
    AuthorizationPending,
    /// RFC 8628 3.5: polled too fast; the interval grows by 5 seconds.
    SlowDown,
    /// RFC 8628 3.5: the device code expired; start again.
    ExpiredToken,
    /// RFC 9101 6.2, OIDC Core 6.4: the request object does not verify or is invalid.
    InvalidRequestObject,
    /// RFC 9126 2.2, OIDC Core 6.4: the `request_uri` is unknown, expired or used.
    InvalidRequestUri,
    /// OIDC Core 3.1.2.6: request objects are not accepted here.
    RequestNotSupported,
    /// OIDC Core 3.1.2.6: this kind of `request_uri` is not accepted here.
    RequestUriNotSupported,
    /// RFC 9449 5, 7.1: the DPoP proof is missing, malformed, replayed or does not match.
    InvalidDpopProof,
    /// RFC 9449 8, 9: the DPoP proof must carry the nonce in the `DPoP-Nonce` header.
    UseDpopNonce,
    /// RFC 8707 2: a `resource` is malformed, unknown, or not one the client may ask for.
    InvalidTarget,
    /// RFC 7591 3.2.2: a member of the client metadata is invalid or not allowed.
    InvalidClientMetadata,
    /// RFC 7591 3.2.2: a redirect URI is invalid or not allowed.
    InvalidRedirectUri,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::InteractionRequired => "interaction_required",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::ExpiredToken => "expired_token",
            Self::InvalidRequestObject => "invalid_request_object",
            Self::InvalidRequestUri => "invalid_request_uri",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
            Self::InvalidTarget => "invalid_target",
            Self::InvalidClientMetadata => "invalid_client_metadata",
            Self::InvalidRedirectUri => "invalid_redirect_uri",
        }
    }
}

/// A protocol error: a code and a description for the developer reading it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: {description}", code.as_str())]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: Cow<'static, str>,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }

    pub fn invalid_request(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, d)
    }
    pub fn invalid_client(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidClient, d)
    }
    pub fn invalid_grant(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidGrant, d)
    }
    pub fn unauthorized_client(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::UnauthorizedClient, d)
    }
    pub fn invalid_scope(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidScope, d)
    }
    pub fn invalid_token(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidToken, d)
    }

    /// An internal failure: the cause is logged here and never sent.
    pub fn server_error(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            ErrorCode::ServerError,
            "The server met an unexpected condition.",
        )
    }

    /// The database cannot be reached or is overloaded.
    pub fn unavailable(cause: &dyn std::fmt::Display) -> Self {
        tracing::warn!(error = %cause, "database unavailable");
        Self::new(
            ErrorCode::TemporarilyUnavailable,
            "The service is temporarily unavailable; retry shortly.",
        )
    }
}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        match &e {
            _ if e.is_unavailable() => Self::unavailable(&e),
            _ => Self::server_error(&e),
        }
    }
}

impl From<crate::crypto::CryptoError> for OAuthError {
    fn from(e: crate::crypto::CryptoError) -> Self {
        Self::server_error(&e)
    }
}

impl From<josekit::JoseError> for OAuthError {
    fn from(e: josekit::JoseError) -> Self {
        Self::server_error(&e)
    }
}

impl From<crate::keys::SignError> for OAuthError {
    fn from(e: crate::keys::SignError) -> Self {
        Self::server_error(&e)
    }
}

impl From<crate::tokens::IssueError> for OAuthError {
    fn from(e: crate::tokens::IssueError) -> Self {
        Self::server_error(&e)
    }
}

/// RFC 6750 3.1: a token that is not a live access token of this issuer is `invalid_token`,
/// whatever the reason; only an expired one is told apart in words.
impl From<crate::tokens::Rejected> for OAuthError {
    fn from(rejected: crate::tokens::Rejected) -> Self {
        use crate::tokens::Rejected;
        match rejected {
            Rejected::NotOurs | Rejected::Invalid => {
                Self::invalid_token("The access token is invalid.")
            }
            Rejected::Expired => Self::invalid_token("The access token has expired."),
        }
    }
}

impl From<sea_orm::DbErr> for OAuthError {
    fn from(e: sea_orm::DbErr) -> Self {
        StoreError::from(e).into()
    }
}
