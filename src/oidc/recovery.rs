//! Getting back in and proving an address, by mail: a password reset asked for by username
//! or address, and the link that marks an address verified (`email_verified`).
//!
//! A link carries a random 256-bit token; only its keyed hash is stored, with the user, the
//! address it went to and when it dies. It works once (spent by deleting its row) and dies
//! early when the address changes, the account is disabled, or (a reset link) the password
//! changes. Whether an account matched never shows: the page that
//! asks says the same, and the lookup and the mail happen after it is answered. Asking is
//! limited per client address; mail to one account is limited per account and address and
//! per account, or per browser for one that signed in to it before, so strangers who spend
//! the account's count do not keep its owner from a reset (and every mail they cause goes to
//! the owner, with a link that works).

use serde_json::Value;

use super::accounts::{self, AccountError};
use super::Provider;
use crate::abuse::{self, Verdict};
use crate::clock::UnixTime;
use crate::crypto;
use crate::mail::{Kind, Mailer};
use crate::oauth::error::OAuthError;
use crate::store::email_links::{EmailLink, Purpose};
use crate::store::users::{self, User};
use crate::store::{self, StoreError};

/// Where the links lead.
pub const RESET_PATH: &str = "/account/reset-password";
pub const VERIFY_PATH: &str = "/account/verify-email";

/// A lifetime as the pages and mails say it: `30 minutes`, `24 hours`, `2 days`.
pub fn lifetime_words(seconds: u64) -> String {
    let (n, unit) = match seconds {
        s if s % 86_400 == 0 && s >= 2 * 86_400 => (s / 86_400, "day"),
        s if s % 3600 == 0 => (s / 3600, "hour"),
        s if s % 60 == 0 => (s / 60, "minute"),
        s => (s, "second"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// Whether the asking address may ask for mail now (counted either way).
pub async fn admit(p: Provider<'_>, ip: &str, now: UnixTime) -> Result<bool, StoreError> {
    let rules = abuse::mail_requests(p.config, ip);
    Ok(abuse::reserve(p.db, &rules, now).await?.verdict == Verdict::Allowed)
}

/// The accounts a reset asked for by `typed` names: the one with that username, else the
/// enabled ones with that address.
async fn accounts_named(p: Provider<'_>, typed: &str) -> Result<Vec<User>, StoreError> {
    let typed = typed.trim();
    if typed.is_empty() || typed.chars().count() > 320 {
        return Ok(Vec::new());
    }
    let by_name = users::find_by_username(p.db, &accounts::canonical_username(typed)).await?;
    if let Some(user) = by_name.filter(|u| !u.disabled) {
        return Ok(vec![user]);
    }
    if typed.contains('@') {
        return users::find_by_email(p.db, typed).await;
    }
    Ok(Vec::new())
}

/// Where a mail to `user` goes (the `email` claim as written, trimmed) and the address as
/// compared (lower case); `None` without one.
fn recipient(user: &User) -> Option<(String, String)> {
    let to = user.claims.get("email")?.as_str()?.trim();
    Some((to.to_owned(), users::email_of(&user.claims)?))
}

/// Makes a link for `purpose` to `email` and returns its token.
async fn new_link(
    p: Provider<'_>,
    user: &User,
    email: &str,
    purpose: Purpose,
    now: UnixTime,
) -> Result<String, OAuthError> {
    let lifetime = match purpose {
        Purpose::Reset => p.config.mail.reset_link_lifetime,
        Purpose::Verify => p.config.mail.verify_link_lifetime,
    };
    let token = crypto::random_token().map_err(|e| OAuthError::server_error(&e))?;
    store::email_links::insert(
        p.db,
        &EmailLink {
            token_hash: p.secrets.hash(&token),
            purpose: purpose.as_str().to_owned(),
            user_id: user.id.clone(),
            email: email.to_owned(),
            created_at: now,
            expires_at: now + lifetime.as_i64(),
        },
    )
    .await?;
    Ok(token)
}

/// Sends a reset link to each account `typed` names that has an address and is not over
/// its limits; `device_token` is the asking browser's device cookie, `ip` its address. Run
/// after the page is answered; how many mails went out, for the log.
pub async fn send_reset(
    p: Provider<'_>,
    mailer: &Mailer,
    typed: &str,
    device_token: Option<&str>,
    ip: &str,
    now: UnixTime,
) -> Result<usize, OAuthError> {
    let mut sent = 0;
    for user in accounts_named(p, typed).await? {
        let Some((to, email)) = recipient(&user) else {
            continue;
        };
        let trusted =
            device_token.and_then(|t| abuse::trusted_device(p.secrets, t, &user.username));
        let rules = abuse::reset_mail(p.config, &user.id, trusted, ip);
        if abuse::reserve_in_order(p.db, &rules, now).await? != Verdict::Allowed {
            tracing::info!(user_id = %user.id, "password reset mail held back: too many for this account");
            continue;
        }
        let token = new_link(p, &user, &email, Purpose::Reset, now).await?;
        let context = minijinja::context! {
            username => &user.username,
            issuer => p.issuer,
            link => format!("{}{RESET_PATH}?token={token}", p.issuer),
            lifetime => lifetime_words(p.config.mail.reset_link_lifetime.0),
        };
        mailer.send(Kind::PasswordReset, &to, context).await;
        tracing::info!(user_id = %user.id, "password reset link sent");
        sent += 1;
    }
    Ok(sent)
}

/// The user a live reset link is for, without spending it.
pub async fn reset_link_user(
    p: Provider<'_>,
    token: &str,
    now: UnixTime,
) -> Result<Option<User>, StoreError> {
    let Some(link) =
        store::email_links::find(p.db, &p.secrets.hash(token), Purpose::Reset, now).await?
    else {
        return Ok(None);
    };
    match users::get(p.db, &link.user_id).await {
        Ok(user) if !user.disabled => Ok(Some(user)),
        Ok(_) | Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

/// How a reset went.
#[derive(Debug, PartialEq, Eq)]
pub enum Reset {
    /// The password is set; every session of the user ended.
    Done,
    /// The link is unknown, expired or spent.
    Gone,
    /// The new password does not meet the rules (the words say which); the link still works.
    Invalid(String),
}

/// Sets a new password through a reset link: spends the link (and the user's other reset
/// links), ends every session of the user (and, with `login.password_change_revokes_grants`,
/// every grant), and, since the link proved the mailbox, marks the address verified. The
/// user's row is written first, and only while the account is enabled and the link's
/// address is still its own: the order every password or address change takes (the user,
/// then the links), so none of them can slip between the check and the change.
pub async fn reset(
    p: Provider<'_>,
    token: &str,
    new_password: String,
    now: UnixTime,
) -> Result<Reset, OAuthError> {
    if let Err(AccountError::Invalid(e)) = accounts::validate_password(&new_password) {
        return Ok(Reset::Invalid(format!("The new password {}.", e.message)));
    }
    let token_hash = p.secrets.hash(token);
    let Some(link) = store::email_links::find(p.db, &token_hash, Purpose::Reset, now).await? else {
        return Ok(Reset::Gone);
    };
    let hash = p
        .passwords
        .hash(new_password)
        .await
        .map_err(|e| OAuthError::server_error(&e))?;
    let txn = p.db.begin().await?;
    if !users::set_password_hash_for_link(&txn, &link.user_id, &link.email, &hash, now).await? {
        // Disabled, or the address changed, since the link was sent.
        return Ok(Reset::Gone);
    }
    if !store::email_links::take(&txn, &token_hash, Purpose::Reset, now).await? {
        // Spent by another request meanwhile (dropping the transaction undoes the above).
        return Ok(Reset::Gone);
    }
    accounts::after_password_change(
        p,
        &txn,
        &link.user_id,
        p.config.login.password_change_revokes_grants,
        None,
        now,
    )
    .await
    .map_err(|e| match e {
        AccountError::Store(s) => s.into(),
        other => OAuthError::server_error(&other),
    })?;
    users::mark_email_verified(&txn, &link.user_id, &link.email, now).await?;
    txn.commit().await?;
    tracing::info!(user_id = %link.user_id, "password set through a reset link; every session ended");
    Ok(Reset::Done)
}

/// Why no verification link was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerifyAsked {
    /// The account has no address, or it is verified already.
    Nothing,
    /// Too many links were sent to this account lately.
    TooMany,
}

/// Makes a verification link for the signed-in `user`'s address: the token and where to
/// send it, or why not.
pub async fn verification_link(
    p: Provider<'_>,
    user: &User,
    now: UnixTime,
) -> Result<Result<(String, String), VerifyAsked>, OAuthError> {
    let Some((to, email)) = recipient(user) else {
        return Ok(Err(VerifyAsked::Nothing));
    };
    if user.claims.get("email_verified") == Some(&Value::Bool(true)) {
        return Ok(Err(VerifyAsked::Nothing));
    }
    let rules = abuse::verify_mail(p.config, &user.id);
    if abuse::reserve(p.db, &rules, now).await?.verdict != Verdict::Allowed {
        return Ok(Err(VerifyAsked::TooMany));
    }
    let token = new_link(p, user, &email, Purpose::Verify, now).await?;
    Ok(Ok((token, to)))
}

/// Sends the verification link made by [`verification_link`].
pub async fn send_verification(
    p: Provider<'_>,
    mailer: &Mailer,
    user: &User,
    token: &str,
    email: &str,
) {
    let context = minijinja::context! {
        username => &user.username,
        email,
        issuer => p.issuer,
        link => format!("{}{VERIFY_PATH}?token={token}", p.issuer),
        lifetime => lifetime_words(p.config.mail.verify_link_lifetime.0),
    };
    mailer.send(Kind::VerifyEmail, email, context).await;
}

/// The address a live verification link is for, without spending it.
pub async fn verify_link_email(
    p: Provider<'_>,
    token: &str,
    now: UnixTime,
) -> Result<Option<String>, StoreError> {
    Ok(
        store::email_links::find(p.db, &p.secrets.hash(token), Purpose::Verify, now)
            .await?
            .map(|link| link.email),
    )
}

/// Spends a verification link: whether it marked the address verified (`false` when the
/// link is unknown, expired, spent, the account's address changed since, or it is
/// disabled). The user's row first, then the link, as in [`reset`].
pub async fn verify(p: Provider<'_>, token: &str, now: UnixTime) -> Result<bool, OAuthError> {
    let token_hash = p.secrets.hash(token);
    let Some(link) = store::email_links::find(p.db, &token_hash, Purpose::Verify, now).await?
    else {
        return Ok(false);
    };
    let txn = p.db.begin().await?;
    if !users::mark_email_verified(&txn, &link.user_id, &link.email, now).await? {
        return Ok(false);
    }
    if !store::email_links::take(&txn, &token_hash, Purpose::Verify, now).await? {
        return Ok(false);
    }
    store::email_links::delete_for_user(&txn, &link.user_id, Purpose::Verify).await?;
    txn.commit().await?;
    tracing::info!(user_id = %link.user_id, "email address verified");
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::lifetime_words;

    #[test]
    fn lifetimes_read_as_people_say_them() {
        assert_eq!(lifetime_words(1800), "30 minutes");
        assert_eq!(lifetime_words(3600), "1 hour");
        assert_eq!(lifetime_words(86_400), "24 hours");
        assert_eq!(lifetime_words(172_800), "2 days");
        assert_eq!(lifetime_words(60), "1 minute");
        assert_eq!(lifetime_words(90), "90 seconds");
    }
}
