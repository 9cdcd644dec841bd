//! Rate limits on guessing: fixed windows counted in the database, so a limit holds across
//! instances and restarts. Only failures are counted.

use sea_orm::ConnectionTrait;

use crate::clock::UnixTime;
use crate::store::{self, StoreError};

/// At most `max` failures per `window` seconds for `key`.
#[derive(Clone, Debug)]
pub struct Rule {
    pub key: String,
    pub max: i64,
    pub window: i64,
}

/// Rules checked at a moment: what a request carries so that the check can join another
/// query (client authentication reads the client and its limits in one).
#[derive(Clone, Debug)]
pub struct Limits {
    pub rules: Vec<Rule>,
    pub now: UnixTime,
}

/// Whether any rule has reached its limit (one query when the rules share a window).
pub async fn blocked(
    db: &impl ConnectionTrait,
    rules: &[Rule],
    now: UnixTime,
) -> Result<bool, StoreError> {
    let Some(window) = rules.first().map(|r| r.window) else {
        return Ok(false);
    };
    if rules.iter().any(|r| r.window != window) {
        for rule in rules {
            if store::throttle::count(db, &rule.key, rule.window, now).await? >= rule.max {
                return Ok(true);
            }
        }
        return Ok(false);
    }
    let keys: Vec<&str> = rules.iter().map(|r| r.key.as_str()).collect();
    let counts = store::throttle::counts(db, &keys, window, now).await?;
    Ok(rules.iter().any(|rule| {
        counts
            .iter()
            .any(|(key, count)| *key == rule.key && *count >= rule.max)
    }))
}

/// Counts one failure against every rule; returns the highest count.
pub async fn record_failure(
    db: &impl ConnectionTrait,
    rules: &[Rule],
    now: UnixTime,
) -> Result<i64, StoreError> {
    let mut highest = 0;
    for rule in rules {
        highest = highest.max(store::throttle::hit(db, &rule.key, rule.window, now).await?);
    }
    Ok(highest)
}
