//! Key rotation through the admin API and on a schedule, and several instances on one
//! database.

use oidcd::config::Seconds;
use oidcd::Clock;

use crate::admin::Admin;
use crate::helpers::{kids, Backend, TestApp, TestEnv, T0};
use crate::jwks::verify_with_jwks;
use crate::on_both_databases;

on_both_databases!(
    a_rotation_keeps_old_tokens_valid_and_signs_with_the_announced_key,
    a_retired_key_disappears_once_its_tokens_have_expired,
    the_schedule_rotates_once_per_interval,
);
crate::on_postgres!(instances_sharing_a_database_follow_each_others_rotations);

fn sign(app: &TestApp) -> String {
    app.state
        .keys
        .current()
        .signer()
        .sign("JWT", &serde_json::json!({}))
        .unwrap()
}

async fn a_rotation_keeps_old_tokens_valid_and_signs_with_the_announced_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = Admin::new(&app).await;
    let before = app.get_json("/jwks.json").await;
    let old_token = sign(&app);

    let (status, rotation) = admin
        .post("/admin/keys/rotate?force=true", serde_json::json!({}))
        .await;
    assert_eq!(status, 200);

    let after = app.get_json("/jwks.json").await;
    verify_with_jwks(&old_token, &after);
    let new_token = sign(&app);
    // The new active key was already in the set published before the rotation.
    verify_with_jwks(&new_token, &before);
    assert!(kids(&before).contains(&rotation["activated"].as_str().unwrap().to_owned()));
}

async fn a_retired_key_disappears_once_its_tokens_have_expired(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let clock = Clock::fixed(T0);
    let mut config = env.config();
    config.lifetimes.access_token = Seconds(60);
    config.lifetimes.id_token = Seconds(60);
    let app = env.spawn_config(config, clock.clone()).await;
    let admin = Admin::new(&app).await;
    let old = app.state.keys.current().signer().kid().to_owned();
    admin
        .post("/admin/keys/rotate?force=true", serde_json::json!({}))
        .await;
    assert!(kids(&app.get_json("/jwks.json").await).contains(&old));

    clock.advance(59);
    oidcd::tasks::rotation::tick(&app.state).await.unwrap();
    app.state
        .keys
        .refresh(&app.state.db, clock.now())
        .await
        .unwrap();
    assert!(
        kids(&app.get_json("/jwks.json").await).contains(&old),
        "still published while its tokens live"
    );

    clock.advance(2);
    oidcd::tasks::rotation::tick(&app.state).await.unwrap();
    app.state
        .keys
        .refresh(&app.state.db, clock.now())
        .await
        .unwrap();
    assert!(!kids(&app.get_json("/jwks.json").await).contains(&old));
    let rows = oidcd::store::keys::list(&app.state.db).await.unwrap();
    assert!(
        rows.iter().all(|r| r.kid != old),
        "and removed from the database"
    );
}

/// Retired keys and the active kid, as the database has them.
async fn key_states(app: &TestApp) -> (usize, String) {
    let rows = oidcd::store::keys::list(&app.state.db).await.unwrap();
    let retired = rows
        .iter()
        .filter(|r| r.state == oidcd::keys::KeyState::Retired)
        .count();
    let active = rows
        .iter()
        .find(|r| r.state == oidcd::keys::KeyState::Active)
        .unwrap()
        .kid
        .clone();
    (retired, active)
}

// The server's own schedule loop runs beside these explicit ticks; whichever gets there first
// rotates, so the assertions read the outcome from the database, not from who did it.
async fn the_schedule_rotates_once_per_interval(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let clock = Clock::fixed(T0);
    let mut config = env.config();
    config.keys.rotation_interval = Seconds(1000);
    let app = env.spawn_config(config, clock.clone()).await;
    let (_, first) = key_states(&app).await;

    oidcd::tasks::rotation::tick(&app.state).await.unwrap();
    assert_eq!(key_states(&app).await, (0, first.clone()), "not due yet");
    clock.advance(1000);
    oidcd::tasks::rotation::tick(&app.state).await.unwrap();
    let (retired, second) = key_states(&app).await;
    assert_eq!(retired, 1, "due: rotated");
    assert_ne!(second, first);
    oidcd::tasks::rotation::tick(&app.state).await.unwrap();
    assert_eq!(
        key_states(&app).await,
        (1, second.clone()),
        "once per interval"
    );
    clock.advance(999);
    oidcd::tasks::rotation::tick(&app.state).await.unwrap();
    assert_eq!(key_states(&app).await, (1, second.clone()));
    clock.advance(1);
    oidcd::tasks::rotation::tick(&app.state).await.unwrap();
    let (retired, third) = key_states(&app).await;
    assert_eq!(retired, 2);
    assert_ne!(third, second);
    // The instance signs with the key the schedule activated (within its cache time).
    let mut waited = 0;
    while app.state.keys.current().signer().kid() != third {
        assert!(
            waited < 50,
            "the cache did not follow the scheduled rotation"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        waited += 1;
    }
}

async fn instances_sharing_a_database_follow_each_others_rotations(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let clock = Clock::fixed(T0);
    let mut config = env.config();
    config.keys.rotation_interval = Seconds(1000);
    let a = env.spawn_config(config.clone(), clock.clone()).await;
    let b = env.spawn_config(config, clock.clone()).await;
    let admin = Admin::new(&a).await;

    // Rotate through A; B signs with the new key within its cache time (1 s in tests).
    let (status, rotation) = admin
        .post("/admin/keys/rotate?force=true", serde_json::json!({}))
        .await;
    assert_eq!(status, 200);
    let new_active = rotation["activated"].as_str().unwrap().to_owned();
    let mut waited = 0;
    while b.state.keys.current().signer().kid() != new_active {
        assert!(waited < 50, "instance B did not follow the rotation");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        waited += 1;
    }
    assert_eq!(
        kids(&a.get_json("/jwks.json").await),
        kids(&b.get_json("/jwks.json").await)
    );
    // Tokens from either verify with either's JWKS.
    let (ta, tb) = (sign(&a), sign(&b));
    for jwks in [
        a.get_json("/jwks.json").await,
        b.get_json("/jwks.json").await,
    ] {
        verify_with_jwks(&ta, &jwks);
        verify_with_jwks(&tb, &jwks);
    }

    // A scheduled rotation happens once, not once per instance. Each instance's own ticker
    // (every second here) may be the one that does it, before or while these ticks run.
    clock.advance(1000);
    let (ra, rb) = tokio::join!(
        oidcd::tasks::rotation::tick(&a.state),
        oidcd::tasks::rotation::tick(&b.state)
    );
    let rotations = [ra.unwrap(), rb.unwrap()].into_iter().flatten().count();
    assert!(rotations <= 1, "{rotations} rotations from one schedule");
    let retired_keys = || async {
        let rows = oidcd::store::keys::list(&a.state.db).await.unwrap();
        rows.iter()
            .filter(|r| r.state == oidcd::keys::KeyState::Retired)
            .count()
    };
    let mut waited = 0;
    while retired_keys().await < 2 && waited < 50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        waited += 1;
    }
    // Both tickers have had a second more to rotate again, had the schedule let them.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        retired_keys().await,
        2,
        "the forced rotation and one scheduled one"
    );
}
