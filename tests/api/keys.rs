//! Signing keys at rest and across restarts, rotation, and several instances on one database.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use oidcd::keys::Kek;
use sea_orm::{ConnectionTrait, Statement};

use crate::helpers::{kids, stderr, stdout, Backend, TestApp, TestEnv};
use crate::jwks::verify_with_jwks;
use crate::on_both_databases;

on_both_databases!(
    a_restart_serves_the_same_keys,
    the_database_never_holds_a_private_key_in_clear,
    a_rotation_is_picked_up_by_the_running_server_and_old_tokens_still_verify,
);
crate::on_postgres!(two_instances_starting_together_agree_on_one_key_set);

async fn a_restart_serves_the_same_keys(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let before = kids(&app.get_json("/jwks.json").await);
    let env = app.stop().await;

    let app = env.spawn().await;
    let after = kids(&app.get_json("/jwks.json").await);

    assert_eq!(before, after);
}

async fn the_database_never_holds_a_private_key_in_clear(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let db = &app.state.db;

    // Read the raw rows, not through the entity.
    let rows = db
        .query_all(Statement::from_string(
            db.get_database_backend(),
            "SELECT kid, public_jwk, private_jwe FROM signing_keys",
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    let kek = Kek::from_bytes(oidcd::keys::kek::decode(&app.env.kek).unwrap());
    for row in rows {
        let public: String = row.try_get("", "public_jwk").unwrap();
        let private: String = row.try_get("", "private_jwe").unwrap();
        let public: serde_json::Value = serde_json::from_str(&public).unwrap();
        for member in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(public.get(member).is_none(), "public_jwk holds {member}");
        }
        // The private column is a compact JWE, dir + A256GCM...
        let parts: Vec<&str> = private.split('.').collect();
        assert_eq!(parts.len(), 5);
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "dir");
        assert_eq!(header["enc"], "A256GCM");
        assert!(!private.contains("PRIVATE KEY"));
        // ...whose plaintext (the DER private key) appears nowhere in the row.
        let der = kek.unwrap(&private).unwrap();
        let pkey = openssl::pkey::PKey::private_key_from_der(&der).unwrap();
        let d = pkey.rsa().unwrap().d().to_vec();
        for needle in [
            URL_SAFE_NO_PAD.encode(&d),
            URL_SAFE_NO_PAD.encode(&der),
            hex(&d),
        ] {
            assert!(!private.contains(&needle));
            assert!(!public.to_string().contains(&needle));
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn a_rotation_is_picked_up_by_the_running_server_and_old_tokens_still_verify(
    backend: Backend,
) {
    // Arrange: a server, and a token signed before the rotation.
    let app = TestApp::spawn(backend).await;
    let before = app.get_json("/jwks.json").await;
    let old_active = app.state.keys.current().signer().kid().to_owned();
    let old_token = app
        .state
        .keys
        .current()
        .signer()
        .sign("JWT", &serde_json::json!({}))
        .unwrap();
    let next = kids(&before)
        .into_iter()
        .find(|k| *k != old_active)
        .unwrap();

    // Act: the next key is brand new, so a plain rotation is refused...
    let refused = app.env.oidcd(&["keys", "rotate"], &[]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("published for") && stderr(&refused).contains("--force"),
        "{}",
        stderr(&refused)
    );
    // ...and a forced one goes through.
    let rotated = app.env.oidcd(&["keys", "rotate", "--force"], &[]);
    assert!(rotated.status.success(), "{}", stderr(&rotated));
    assert!(stdout(&rotated).contains(&format!("activated {next}")));

    // Assert: within the cache time the server signs with the former next key...
    let mut waited = 0;
    while app.state.keys.current().signer().kid() != next {
        assert!(waited < 100, "the server did not pick up the rotation");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        waited += 1;
    }
    let after = app.get_json("/jwks.json").await;
    let published = kids(&after);
    assert_eq!(published.len(), 3, "retired, active and a new next key");
    assert!(
        published.contains(&old_active),
        "the retired key stays published"
    );
    // ...the token signed before the rotation still verifies with the served set...
    verify_with_jwks(&old_token, &after);
    // ...and a new token is signed by the key that was published as next beforehand.
    let new_token = app
        .state
        .keys
        .current()
        .signer()
        .sign("JWT", &serde_json::json!({}))
        .unwrap();
    verify_with_jwks(&new_token, &before);
}

async fn two_instances_starting_together_agree_on_one_key_set(backend: Backend) {
    let env = TestEnv::new(backend).await;

    let (a, b) = tokio::join!(env.spawn(), env.spawn());

    let jwks_a = a.get_json("/jwks.json").await;
    let jwks_b = b.get_json("/jwks.json").await;
    assert_eq!(kids(&jwks_a).len(), 2);
    assert_eq!(kids(&jwks_a), kids(&jwks_b));
    assert_eq!(
        a.state.keys.current().signer().kid(),
        b.state.keys.current().signer().kid()
    );
}
