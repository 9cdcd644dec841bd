use sea_orm::ConnectionTrait;

use crate::helpers::{Backend, TestApp};
use crate::on_both_databases;

on_both_databases!(health_is_ok_while_the_database_answers_and_503_when_it_is_gone);

async fn health_is_ok_while_the_database_answers_and_503_when_it_is_gone(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let ok = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["cache-control"], "no-store");

    // Take the database away underneath the running server.
    match &app.env.postgres {
        Some((server, name)) => {
            let admin = sea_orm::Database::connect(server).await.unwrap();
            admin
                .execute_unprepared(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
                .await
                .unwrap();
        }
        None => app.state.db.pool().close_by_ref().await.unwrap(),
    }

    let gone = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(gone.status(), 503);
    let body: serde_json::Value = gone.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    // Discovery and JWKS need no database and keep answering.
    let jwks = app.client.get(app.url("/jwks.json")).send().await.unwrap();
    assert_eq!(jwks.status(), 200);
}
