//! Sends the back-channel logout tokens in the outbox (OpenID Connect Back-Channel Logout 1.0
//! section 2.5): every instance looks for due deliveries each second, and one at a time
//! takes each (a lease in the database), so each is POSTed by one instance. A delivery that
//! does not get through is tried again with backoff (5 s, doubling, at most 10 min) until
//! `logout.retry_for` has passed; one the app refuses (a 4xx other than 408 and 429) is
//! given up at once. Rows outlive restarts; a lease of an instance that died lapses.

use std::time::Duration;

use serde::Serialize;

use crate::clock::UnixTime;
use crate::crypto;
use crate::metrics::Metrics;
use crate::state::AppState;
use crate::store::logout_deliveries::{self, Delivery, DELIVERED, FAILED, PENDING};
use crate::store::StoreError;

/// How often each instance looks for due deliveries.
pub const PERIOD: Duration = Duration::from_secs(1);
/// How long a delivery is held by the instance sending it, beyond the longest a POST may
/// take (`fetch.timeout`): no other instance takes it while it may still be on its way.
const LEASE_MARGIN: i64 = 60;
/// Deliveries taken per look.
const BATCH: u64 = 32;
/// How long a logout token is valid after it is signed.
const TOKEN_LIFETIME: i64 = 120;

/// The event a logout token carries.
const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// The claims of a logout token (section 2.4): no `nonce`.
#[derive(Serialize)]
struct LogoutClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    iat: UnixTime,
    exp: UnixTime,
    jti: String,
    sub: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<&'a str>,
    events: serde_json::Value,
}

/// How one attempt ended.
enum Outcome {
    Delivered,
    /// Worth another try later.
    Retry(String),
    /// The app said no: trying again would not help.
    Refused(String),
}

/// The wait before the attempt after `attempts` failed ones.
fn backoff(attempts: i64) -> i64 {
    let doublings = u32::try_from(attempts.clamp(0, 7)).unwrap_or(0);
    (5_i64 << doublings).min(600)
}

/// Sends what is due now; how many deliveries this instance handled.
pub async fn send_due(state: &AppState) -> Result<usize, StoreError> {
    let now = state.clock.now();
    let due = logout_deliveries::due(&state.db, now, BATCH).await?;
    let lease = state.config.fetch.timeout.as_i64() + LEASE_MARGIN;
    let mut sending = tokio::task::JoinSet::new();
    let held = now + lease;
    for delivery in due {
        match logout_deliveries::lease(&state.db, &delivery.id, delivery.attempts, now, held).await
        {
            Ok(true) => {}
            Ok(false) => continue, // another instance took it, or tried it meanwhile
            Err(e) => {
                // Those already on their way are seen through; the rest wait for the next look.
                tracing::warn!(error = %e, "leasing a logout delivery failed");
                break;
            }
        }
        let state = state.clone();
        sending.spawn(async move { attempt(&state, delivery, held, now).await });
    }
    let mut handled = 0;
    while let Some(done) = sending.join_next().await {
        match done {
            Ok(Ok(())) => handled += 1,
            Ok(Err(e)) => tracing::warn!(error = %e, "recording a logout delivery failed"),
            Err(e) => tracing::warn!(error = %e, "a logout delivery stopped"),
        }
    }
    Ok(handled)
}

async fn attempt(
    state: &AppState,
    d: Delivery,
    held: UnixTime,
    now: UnixTime,
) -> Result<(), StoreError> {
    let db = &state.db;
    let attempts = d.attempts + 1;
    if now >= d.expires_at {
        // Not tried again: the attempt count stays.
        let attempts = d.attempts;
        Metrics::incr(&state.metrics.logout_given_up);
        tracing::warn!(client_id = %d.client_id, delivery = %d.id, "back-channel logout given up");
        let why = d
            .last_error
            .as_deref()
            .map_or("not delivered within logout.retry_for".to_owned(), |e| {
                format!("not delivered within logout.retry_for; last: {e}")
            });
        return logout_deliveries::record(db, &d.id, held, attempts, FAILED, now, Some(&why), now)
            .await;
    }
    match deliver(state, &d, now).await {
        Outcome::Delivered => {
            Metrics::incr(&state.metrics.logout_delivered);
            tracing::info!(client_id = %d.client_id, delivery = %d.id, "back-channel logout delivered");
            logout_deliveries::record(db, &d.id, held, attempts, DELIVERED, now, None, now).await
        }
        Outcome::Refused(why) => {
            Metrics::incr(&state.metrics.logout_given_up);
            tracing::warn!(client_id = %d.client_id, delivery = %d.id, why, "back-channel logout refused");
            logout_deliveries::record(db, &d.id, held, attempts, FAILED, now, Some(&why), now).await
        }
        Outcome::Retry(why) => {
            Metrics::incr(&state.metrics.logout_attempts_failed);
            let next = now + backoff(d.attempts);
            tracing::info!(client_id = %d.client_id, delivery = %d.id, why, next, "back-channel logout will be tried again");
            logout_deliveries::record(db, &d.id, held, attempts, PENDING, next, Some(&why), now)
                .await
        }
    }
}

/// Signs a fresh logout token (a new `jti` each attempt, so an app that saw an earlier one
/// does not take this one for a replay) and POSTs it.
async fn deliver(state: &AppState, d: &Delivery, now: UnixTime) -> Outcome {
    let jti = match crypto::random_bytes::<16>() {
        Ok(bytes) => crypto::b64url(&bytes),
        Err(e) => return Outcome::Retry(e.to_string()),
    };
    let claims = LogoutClaims {
        iss: &state.issuer,
        aud: &d.client_id,
        iat: now,
        exp: now + TOKEN_LIFETIME,
        jti,
        sub: &d.subject,
        sid: d.sid.as_deref(),
        events: serde_json::json!({ EVENT: {} }),
    };
    let token = match state.keys.current().signer().sign("logout+jwt", &claims) {
        Ok(token) => token,
        Err(e) => return Outcome::Retry(e.to_string()),
    };
    let fetcher = state.client_jwks.fetcher();
    match fetcher.post_form(&d.uri, &[("logout_token", &token)]).await {
        Ok(status) if (200..300).contains(&status) => Outcome::Delivered,
        // A redirect is never followed: the URI is wrong, and stays wrong.
        Ok(status @ 300..=399) => Outcome::Refused(format!("answered {status} (a redirect)")),
        Ok(status @ (408 | 429)) => Outcome::Retry(format!("answered {status}")),
        Ok(status @ 400..=499) => Outcome::Refused(format!("answered {status}")),
        Ok(status) => Outcome::Retry(format!("answered {status}")),
        Err(crate::fetch::FetchError::Refused(why)) => Outcome::Refused(why),
        // A host with no public address will not get one by waiting.
        Err(crate::fetch::FetchError::Failed(why)) if why.contains("no public address") => {
            Outcome::Refused(why)
        }
        Err(e) => Outcome::Retry(e.to_string()),
    }
}

pub async fn run(state: AppState) {
    let mut ticker = tokio::time::interval(PERIOD);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(e) = send_due(&state).await {
            tracing::warn!(error = %e, "sending back-channel logouts failed; will retry");
        }
    }
}
