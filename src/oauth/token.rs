//! The token endpoint's dispatch (RFC 6749 3.2): reject repeated parameters, authenticate the
//! client, check it may use the grant, run the grant.

use super::client_auth::{self, Credentials};
use super::dpop;
use super::error::{ErrorCode, OAuthError};
use super::grants::{self, DpopRequest, TokenContext, TokenResponse};
use super::params::Params;
use crate::store::clients::GrantType;

/// The grants this token endpoint serves (`grant_types_supported`).
pub const GRANT_TYPES: [GrantType; 4] = [
    GrantType::AuthorizationCode,
    GrantType::RefreshToken,
    GrantType::ClientCredentials,
    GrantType::DeviceCode,
];

pub async fn token(
    ctx: &TokenContext<'_>,
    credentials: &Credentials,
    params: &Params,
) -> Result<TokenResponse, OAuthError> {
    params.reject_duplicates()?;
    let client = client_auth::authenticate(ctx.db, ctx.secrets, credentials).await?;
    let jkt = match &ctx.dpop {
        Some(DpopRequest {
            proof: Some(proof),
            checker,
            htu,
        }) => {
            let request = dpop::Request {
                htm: "POST",
                htu,
                access_token: None,
            };
            Some(checker.check(ctx.db, proof, &request).await?)
        }
        _ => None,
    };
    if client.dpop_bound_access_tokens && jkt.is_none() {
        return Err(OAuthError::new(
            ErrorCode::InvalidDpopProof,
            "This client's tokens are bound to a key: send a DPoP proof (RFC 9449).",
        ));
    }
    let ctx = &TokenContext { jkt, ..ctx.clone() };
    let requested = params.require("grant_type")?;
    let grant = GRANT_TYPES
        .into_iter()
        .find(|g| g.as_str() == requested)
        .ok_or_else(|| {
            OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                format!("grant_type `{requested}` is not supported."),
            )
        })?;
    if !client.allows_grant(grant) {
        return Err(OAuthError::unauthorized_client(format!(
            "This client is not registered for the {} grant.",
            grant.as_str()
        )));
    }
    let issued = match grant {
        GrantType::AuthorizationCode => {
            grants::authorization_code::exchange(ctx, &client, params).await
        }
        GrantType::RefreshToken => grants::refresh_token::refresh(ctx, &client, params).await,
        GrantType::ClientCredentials => {
            grants::client_credentials::issue(ctx, &client, params).await
        }
        GrantType::DeviceCode => grants::device_code::poll(ctx, &client, params).await,
    }?;
    // Counted under the short grant names (`device_code`, not its URN).
    let label = match grant {
        GrantType::AuthorizationCode => "authorization_code",
        GrantType::RefreshToken => "refresh_token",
        GrantType::ClientCredentials => "client_credentials",
        GrantType::DeviceCode => "device_code",
    };
    ctx.metrics.token_issued(label);
    Ok(issued)
}
