//! User accounts: creation with validated claims, password changes and password checks.
//! Passwords are argon2id hashes computed off the async workers.

use sea_orm::ConnectionTrait;
use serde_json::{Map, Value};

use super::{claims, sign_out, Provider};
use crate::clock::UnixTime;
use crate::crypto::CryptoError;
use crate::oauth::registration::FieldError;
use crate::oauth::scope::Catalog;
use crate::password::PasswordHasher;
use crate::store::{self, users::User, StoreError};

pub use migration::usernames::canonical as canonical_username;

const MAX_USERNAME_LEN: usize = 128;
/// NIST SP 800-63B: at least 8 characters; a generous upper bound keeps hashing bounded.
pub const MIN_PASSWORD_LEN: usize = 8;
pub const MAX_PASSWORD_LEN: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

fn invalid(field: &'static str, message: impl Into<String>) -> AccountError {
    AccountError::Invalid(FieldError {
        field,
        message: message.into(),
    })
}

/// A new account as typed by an operator.
#[derive(Clone, Default)]
pub struct NewUser {
    pub username: String,
    pub password: String,
    /// OIDC standard claims (Core 5.1), e.g. name, email, email_verified, phone_number, and
    /// declared ones (`claims.*`), e.g. groups.
    pub claims: Map<String, Value>,
}

pub fn validate_username(username: &str) -> Result<(), AccountError> {
    if username.is_empty()
        || username.chars().count() > MAX_USERNAME_LEN
        || username
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(invalid(
            "username",
            format!("must be 1 to {MAX_USERNAME_LEN} characters without spaces"),
        ));
    }
    Ok(())
}

pub fn validate_password(password: &str) -> Result<(), AccountError> {
    let n = password.chars().count();
    if !(MIN_PASSWORD_LEN..=MAX_PASSWORD_LEN).contains(&n) {
        return Err(invalid(
            "password",
            format!("must be {MIN_PASSWORD_LEN} to {MAX_PASSWORD_LEN} characters"),
        ));
    }
    Ok(())
}

/// Checks claims an operator sets on a user: standard ones (OIDC Core 5.1) with their types,
/// and those declared in `claims.*` with the type declared.
pub fn validate_claims(catalog: &Catalog, claims: &Map<String, Value>) -> Result<(), AccountError> {
    for (name, value) in claims {
        if let Some(declared) = catalog.claim(name) {
            if !crate::oauth::scope::has_kind(declared.kind, value) {
                return Err(invalid(
                    "claims",
                    format!("`{name}` must be of type {}", declared.kind.as_str()),
                ));
            }
            continue;
        }
        if !claims::storable().any(|c| c == name) {
            let known: Vec<String> = claims::storable()
                .map(str::to_owned)
                .chain(catalog.declared().iter().map(|c| c.name.clone()))
                .collect();
            return Err(invalid(
                "claims",
                format!(
                    "`{name}` is neither a standard claim nor a declared one (known: {})",
                    known.join(", ")
                ),
            ));
        }
        let ok = match name.as_str() {
            "email_verified" | "phone_number_verified" => value.is_boolean(),
            "address" => value.is_object(),
            _ => value.is_string(),
        };
        if !ok {
            return Err(invalid("claims", format!("`{name}` has the wrong type")));
        }
    }
    if let Some(email) = claims.get("email").and_then(Value::as_str) {
        let valid = email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
            && !email.chars().any(char::is_whitespace);
        if !valid {
            return Err(invalid(
                "email",
                format!("`{email}` is not an email address"),
            ));
        }
    }
    Ok(())
}

/// Creates an account. A taken username is `StoreError::Conflict`.
pub async fn create(
    db: &impl ConnectionTrait,
    hasher: &PasswordHasher,
    catalog: &Catalog,
    new: NewUser,
    now: UnixTime,
) -> Result<User, AccountError> {
    let username = canonical_username(&new.username);
    validate_username(&username)?;
    validate_password(&new.password)?;
    validate_claims(catalog, &new.claims)?;
    let user = User {
        id: uuid::Uuid::new_v4().to_string(),
        username,
        password_hash: hasher.hash(new.password).await?,
        claims: new.claims,
        disabled: false,
        created_at: now,
        updated_at: now,
    };
    store::users::insert(db, &user).await?;
    Ok(user)
}

/// Sets the password of the user named `username` and ends their browser sessions but
/// `keep` (the hash of the session the person changed it from, if any): a password changed
/// because it leaked must lock out whoever used it. With `revoke_grants`, their grants are
/// revoked too, so every app must sign them in again. One transaction.
pub async fn set_password(
    p: Provider<'_>,
    username: &str,
    password: String,
    revoke_grants: bool,
    keep: Option<&str>,
    now: UnixTime,
) -> Result<User, AccountError> {
    validate_password(&password)?;
    let user = store::users::find_by_username(p.db, &canonical_username(username))
        .await?
        .ok_or(StoreError::NotFound)?;
    let hash = p.passwords.hash(password).await?;
    let txn = p.db.begin().await.map_err(StoreError::from)?;
    store_password(p, &txn, &user, &hash, revoke_grants, keep, now).await?;
    txn.commit().await.map_err(StoreError::from)?;
    Ok(user)
}

/// Stores a new password hash in `txn`, drops the user's reset links, and ends every session
/// of the user but `keep` (and, with `revoke_grants`, every grant): what follows any
/// password change.
pub async fn store_password(
    p: Provider<'_>,
    txn: &impl ConnectionTrait,
    user: &User,
    hash: &str,
    revoke_grants: bool,
    keep: Option<&str>,
    now: UnixTime,
) -> Result<(), AccountError> {
    store::users::set_password_hash(txn, &user.username, hash, now).await?;
    after_password_change(p, txn, &user.id, revoke_grants, keep, now).await
}

/// What follows any password change, in `txn`: the user's reset links asked for before no
/// longer apply, every session but `keep` ends, and with `revoke_grants` every grant.
pub async fn after_password_change(
    p: Provider<'_>,
    txn: &impl ConnectionTrait,
    user_id: &str,
    revoke_grants: bool,
    keep: Option<&str>,
    now: UnixTime,
) -> Result<(), AccountError> {
    store::email_links::delete_for_user(txn, user_id, store::email_links::Purpose::Reset).await?;
    sign_out::end_user_sessions(p, txn, user_id, keep, now).await?;
    if revoke_grants {
        sign_out::revoke_user(p, txn, user_id, now).await?;
    }
    Ok(())
}

/// The user with this username and password, or `None`. Unknown usernames cost the same
/// argon2 work as known ones; disabled accounts never authenticate.
pub async fn authenticate(
    db: &impl ConnectionTrait,
    hasher: &PasswordHasher,
    username: &str,
    password: &str,
) -> Result<Option<User>, AccountError> {
    if password.len() > MAX_PASSWORD_LEN * 4 {
        return Ok(None);
    }
    let user = store::users::find_by_username(db, &canonical_username(username)).await?;
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let ok = hasher.verify(password.to_owned(), stored).await?;
    Ok(user.filter(|u| ok && !u.disabled))
}

/// Disables (or enables) an account. Disabling also ends every browser session of the user
/// and revokes every grant, telling the apps (back-channel logout), in one transaction.
pub async fn set_disabled(
    p: Provider<'_>,
    user_id: &str,
    disabled: bool,
    now: UnixTime,
) -> Result<(), AccountError> {
    let txn = p.db.begin().await.map_err(StoreError::from)?;
    store::users::set_disabled(&txn, user_id, disabled, now).await?;
    if disabled {
        sign_out::end_user_sessions(p, &txn, user_id, None, now).await?;
        sign_out::revoke_user(p, &txn, user_id, now).await?;
    }
    txn.commit().await.map_err(StoreError::from)?;
    Ok(())
}
