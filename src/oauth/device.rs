//! The device authorization grant (RFC 8628): issuing device and user codes, and the user's
//! answer. Polling is `grants::device_code`.

use sea_orm::ConnectionTrait;
use serde::Serialize;

use super::client_auth::{self, Credentials};
use super::error::OAuthError;
use super::params::Params;
use super::resource;
use super::scope;
use crate::clock::UnixTime;
use crate::crypto::{self, KeyedHasher};
use crate::store::clients::{Client, GrantType};
use crate::store::device_codes::{self, DeviceRow};
use crate::store::{self, StoreError};

/// RFC 8628 6.1: consonants only, no vowels (no words) and no look-alikes (no 0/O, 1/I/L
/// confusion: digits are left out entirely). 20^8 is about 2^34.6 codes.
pub const ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
pub const USER_CODE_LEN: usize = 8;

/// The verification URI's path (the page where people enter user codes).
pub const VERIFICATION_PATH: &str = "/device";

/// Draws a user code (rejection sampling keeps it uniform).
pub fn generate_user_code() -> Result<String, crypto::CryptoError> {
    let mut code = String::with_capacity(USER_CODE_LEN);
    while code.len() < USER_CODE_LEN {
        for byte in crypto::random_bytes::<16>()? {
            // 240 = 12 * 20: bytes above it would favour the first letters.
            if byte < 240 && code.len() < USER_CODE_LEN {
                if let Some(c) = ALPHABET.get(usize::from(byte) % ALPHABET.len()) {
                    code.push(char::from(*c));
                }
            }
        }
    }
    Ok(code)
}

/// `BCDFGHJK` -> `BCDF-GHJK`.
pub fn display(code: &str) -> String {
    match (code.get(..4), code.get(4..)) {
        (Some(a), Some(b)) => format!("{a}-{b}"),
        _ => code.to_owned(),
    }
}

/// What a person typed, made canonical: case, dashes and spaces do not matter. `None` when it
/// cannot be a user code at all.
pub fn normalize(input: &str) -> Option<String> {
    let code: String = input
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\t'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == USER_CODE_LEN && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

/// RFC 8628 3.2.
#[derive(Debug, Serialize)]
pub struct DeviceAuthorizationResponse {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: i64,
    pub interval: i64,
}

/// `POST /oauth/device_authorization` (RFC 8628 3.1): public clients identify themselves,
/// confidential ones authenticate; the client must be registered for the device grant.
#[allow(clippy::too_many_arguments)] // the settings the response is made of
pub async fn authorize_device(
    db: &impl ConnectionTrait,
    secrets: &KeyedHasher,
    credentials: &Credentials,
    params: &Params,
    issuer: &str,
    lifetime: i64,
    interval: i64,
    now: UnixTime,
) -> Result<DeviceAuthorizationResponse, OAuthError> {
    params.reject_duplicates()?;
    let client = client_auth::authenticate(db, secrets, credentials).await?;
    if !client.allows_grant(GrantType::DeviceCode) {
        return Err(OAuthError::unauthorized_client(
            "This client is not registered for the device authorization grant.",
        ));
    }
    let scopes = requested_scopes(&client, params.get("scope"))?;
    let resources = resource::requested(params)?;
    resource::allowed(db, &client, &resources).await?;
    let device_code = crypto::random_token()?;
    // A user code collision is possible (rarely): draw again.
    for _ in 0..5 {
        let user_code = generate_user_code()?;
        let row = DeviceRow {
            device_code_hash: secrets.hash(&device_code),
            user_code_hash: secrets.hash(&user_code),
            client_id: client.client_id.clone(),
            scope: scope::join(&scopes),
            resources: resource::to_stored(&resources),
            status: device_codes::PENDING.to_owned(),
            user_id: None,
            auth_time: None,
            amr: None,
            session_id: None,
            interval,
            last_polled_at: None,
            used_at: None,
            created_at: now,
            expires_at: now + lifetime,
        };
        match device_codes::insert(db, &row).await {
            Ok(()) => {
                let shown = display(&user_code);
                return Ok(DeviceAuthorizationResponse {
                    device_code,
                    verification_uri: format!("{issuer}{VERIFICATION_PATH}"),
                    verification_uri_complete: format!(
                        "{issuer}{VERIFICATION_PATH}?user_code={shown}"
                    ),
                    user_code: shown,
                    expires_in: lifetime,
                    interval,
                });
            }
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(OAuthError::server_error(
        &"no free user code after five draws",
    ))
}

fn requested_scopes(client: &Client, requested: Option<&str>) -> Result<Vec<String>, OAuthError> {
    let mut scopes = scope::parse(requested.unwrap_or_default())?;
    if scopes.is_empty() {
        return Err(OAuthError::invalid_scope(
            "The scope parameter is required.",
        ));
    }
    scope::check_for_user(&client.scopes, &scopes)?;
    if !client.allows_grant(GrantType::RefreshToken) {
        scopes.retain(|s| s != "offline_access");
    }
    if scopes.is_empty() {
        return Err(OAuthError::invalid_scope(
            "offline_access alone cannot be granted here.",
        ));
    }
    Ok(scopes)
}

/// What a typed user code leads to.
pub enum Lookup {
    /// Waiting for the user's answer.
    Pending {
        row: Box<DeviceRow>,
        client: Box<Client>,
    },
    /// Expired, already answered, or already used.
    Finished,
    /// No such code.
    Unknown,
}

/// Finds the authorization for a normalized user code.
pub async fn lookup(
    db: &impl ConnectionTrait,
    secrets: &KeyedHasher,
    user_code: &str,
    now: UnixTime,
) -> Result<Lookup, OAuthError> {
    let Some(row) = device_codes::find_by_user_code(db, &secrets.hash(user_code)).await? else {
        return Ok(Lookup::Unknown);
    };
    if row.expires_at <= now || row.status != device_codes::PENDING {
        return Ok(Lookup::Finished);
    }
    match store::clients::get(db, &row.client_id).await {
        Ok(client) => Ok(Lookup::Pending {
            row: Box::new(row),
            client: Box::new(client),
        }),
        Err(StoreError::NotFound) => Ok(Lookup::Finished),
        Err(e) => Err(e.into()),
    }
}

/// Records the user's answer. `false` when the code was no longer pending.
pub async fn answer(
    db: &impl ConnectionTrait,
    secrets: &KeyedHasher,
    user_code: &str,
    approval: Option<device_codes::Approval<'_>>,
    now: UnixTime,
) -> Result<bool, OAuthError> {
    Ok(device_codes::decide(db, &secrets.hash(user_code), approval, now).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_use_the_alphabet_and_normalize() {
        for _ in 0..100 {
            let code = generate_user_code().unwrap();
            assert_eq!(code.len(), 8);
            assert!(code.bytes().all(|b| ALPHABET.contains(&b)));
            assert_eq!(
                normalize(&display(&code).to_lowercase()),
                Some(code.clone())
            );
        }
        assert_eq!(normalize("bcdf-ghjk"), Some("BCDFGHJK".into()));
        assert_eq!(normalize(" BCDF GHJK "), Some("BCDFGHJK".into()));
        assert_eq!(normalize("BCDF-GHJ"), None);
        assert_eq!(
            normalize("ABCD-EFGH"),
            None,
            "vowels are not in the alphabet"
        );
        assert_eq!(normalize("BCDF-GHJ0"), None);
    }
}
