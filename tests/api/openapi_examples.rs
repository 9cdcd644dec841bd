//! The OpenAPI document's examples, tried against a running server the way `/docs` tries
//! them: every operation's request example (read from the served document, `$ref`s
//! resolved), its path and query parameter examples, and the credentials its security
//! scheme names. Each answer must be one of the operation's documented responses, never a
//! 5xx, and the one `CASES` says; a 2xx answer must have the documented members (and enum
//! values). Every operation must also document an example of what it answers.

use std::collections::{BTreeMap, BTreeSet};

use oidcd::oauth::registration::ClientRegistration;
use serde_json::Value;

use crate::helpers::{http_client, Backend, TestApp};

/// One operation: the status its example must get, and what that shows.
struct Case {
    operation: &'static str,
    status: u16,
    proves: &'static str,
}

const fn case(operation: &'static str, status: u16, proves: &'static str) -> Case {
    Case {
        operation,
        status,
        proves,
    }
}

/// Every operation of the document, in the order they are tried. The admin operations on one
/// client (one user) use the `client_id` (`id`) the create example answered with; the
/// protocol operations authenticate as an admin client registered for every grant, and
/// userinfo uses a user's access token from the code flow.
const CASES: &[Case] = &[
    // Discovery.
    case(
        "openid_configuration",
        200,
        "discovery: the document has the members, and only the enum values, documented",
    ),
    case(
        "oauth_authorization_server",
        200,
        "RFC 8414 metadata: the same document",
    ),
    case("jwks", 200, "the JWK set has the documented members"),
    // The protocol endpoints (HTTP Basic).
    case(
        "token",
        200,
        "client_credentials for the admin scope: an admin API token, as documented",
    ),
    case(
        "device_authorization",
        200,
        "a device flow starts for openid profile offline_access",
    ),
    case(
        "pushed_authorization_request",
        201,
        "the example pushes a code flow request with PKCE; a request_uri comes back",
    ),
    case(
        "introspect",
        200,
        "an unknown refresh token is {\"active\": false}, not an error",
    ),
    case(
        "revoke",
        200,
        "revoking an unknown token answers 200 (RFC 7009 2.2)",
    ),
    case(
        "userinfo",
        200,
        "a user's claims, with the documented members",
    ),
    case("userinfo_post", 200, "the same by POST"),
    // Clients.
    case(
        "admin_create_client",
        201,
        "the create example is a valid registration (`photos`, secret generated)",
    ),
    case(
        "admin_list_clients",
        200,
        "a page of clients (limit example: 20)",
    ),
    case(
        "admin_get_client",
        200,
        "the client_id example names the client the create example registers",
    ),
    case(
        "admin_update_client",
        200,
        "the update example is a valid change to that client",
    ),
    case(
        "admin_rotate_client_secret",
        200,
        "a new secret for that client",
    ),
    case("admin_delete_client", 204, "that client is deleted"),
    // Resources.
    case(
        "admin_create_resource",
        201,
        "the create example is a valid resource (the photo API and its scopes)",
    ),
    case("admin_list_resources", 200, "a page of resources"),
    case(
        "admin_update_resource",
        200,
        "the identifier example names the resource the create example registers",
    ),
    case("admin_delete_resource", 204, "that resource is deleted"),
    // Initial access tokens, and the app registration they let through.
    case(
        "admin_create_initial_access_token",
        201,
        "the example mints a token for five registrations over a week",
    ),
    case(
        "admin_list_initial_access_tokens",
        200,
        "a page of tokens, without the tokens themselves",
    ),
    case(
        "register_client",
        201,
        "with that token, the example metadata registers a web app",
    ),
    case(
        "read_client_registration",
        200,
        "its registration access token reads the registration back",
    ),
    case(
        "update_client_registration",
        200,
        "the example metadata sent again replaces it",
    ),
    case(
        "delete_client_registration",
        204,
        "and the app deletes its registration",
    ),
    case(
        "admin_delete_initial_access_token",
        204,
        "the token is revoked",
    ),
    // Users.
    case(
        "admin_create_user",
        201,
        "the create example is a valid user (`grace`; password and claims pass validation)",
    ),
    case("admin_list_users", 200, "a page of users"),
    case("admin_get_user", 200, "the created user"),
    case(
        "admin_update_user",
        200,
        "the update example's claims are all standard and well typed",
    ),
    case(
        "admin_set_user_password",
        204,
        "the password example is long enough",
    ),
    case("admin_disable_user", 200, "the user is disabled"),
    case("admin_enable_user", 200, "and enabled again"),
    case("admin_list_user_apps", 200, "the user's apps: none yet"),
    case(
        "admin_revoke_user_app",
        404,
        "the user gave the example app nothing to revoke",
    ),
    case(
        "admin_list_user_sessions",
        200,
        "the user's sessions: none yet",
    ),
    case(
        "admin_end_user_session",
        404,
        "the user has no session of that sid",
    ),
    case(
        "admin_reset_user_factors",
        204,
        "the user's second factors (none yet) are reset",
    ),
    case(
        "admin_list_logout_deliveries",
        200,
        "the back-channel logout outbox, empty",
    ),
    case("admin_delete_user", 204, "the user is deleted"),
    // Keys.
    case(
        "admin_list_keys",
        200,
        "the keys, with the documented members",
    ),
    case(
        "admin_rotate_keys",
        409,
        "force=false (the example) is refused while the next key is new: the 409 says how to force",
    ),
    case(
        "admin_retire_key",
        404,
        "the kid example names no key of this server: not_found (a real kid is retired below)",
    ),
];

/// A schema with `#/components/schemas/...` followed.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let name = reference
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("a local $ref: {reference}"));
            let target = &doc["components"]["schemas"][name];
            assert!(target.is_object(), "$ref {reference} resolves");
            target
        }
        None => schema,
    }
}

/// A schema's example: its own, or its `$ref`'s, or (arrays) one of its items', or that of a
/// member of its `allOf`.
fn schema_example(doc: &Value, schema: &Value) -> Option<Value> {
    if let Some(example) = schema.get("example") {
        return Some(example.clone());
    }
    let schema = resolve(doc, schema);
    if let Some(example) = schema.get("example") {
        return Some(example.clone());
    }
    if schema["type"] == "array" {
        return schema_example(doc, &schema["items"]).map(|item| Value::Array(vec![item]));
    }
    schema["allOf"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|part| schema_example(doc, part))
}

/// A media type's example: its own, or its schema's.
fn media_example(doc: &Value, media: &Value) -> Option<Value> {
    media
        .get("example")
        .cloned()
        .or_else(|| schema_example(doc, &media["schema"]))
}

/// A parameter's example (poem-openapi puts it in the parameter's schema).
fn parameter_example(doc: &Value, parameter: &Value) -> Option<Value> {
    parameter
        .get("example")
        .cloned()
        .or_else(|| schema_example(doc, &parameter["schema"]))
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A JSON example object as form fields, the way `/docs` sends a form (nulls left out).
fn form_fields(example: &Value) -> Vec<(String, String)> {
    example
        .as_object()
        .unwrap_or_else(|| panic!("a form example is an object: {example}"))
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), scalar(v)))
        .collect()
}

/// `value` has the members `schema` documents: every required one, no undocumented one, and
/// only documented enum values; recursively through objects and arrays.
fn assert_conforms(doc: &Value, schema: &Value, value: &Value, at: &str) {
    let schema = resolve(doc, schema);
    // A described `$ref` is `allOf: [$ref, {description}]`.
    for part in schema["allOf"].as_array().into_iter().flatten() {
        assert_conforms(doc, part, value, at);
    }
    if let Some(allowed) = schema["enum"].as_array() {
        assert!(
            allowed.contains(value),
            "{at}: {value} is not one of the documented values {allowed:?}"
        );
    }
    match schema["type"].as_str() {
        Some("object") => {
            let Some(object) = value.as_object() else {
                panic!("{at}: {value} is not an object");
            };
            for required in schema["required"].as_array().into_iter().flatten() {
                let name = required.as_str().unwrap();
                assert!(object.contains_key(name), "{at}: `{name}` is missing");
            }
            // A map (`additionalProperties`) has no fixed members.
            if let Some(properties) = schema["properties"].as_object() {
                for (name, member) in object {
                    let documented = properties
                        .get(name)
                        .unwrap_or_else(|| panic!("{at}: `{name}` is not documented"));
                    assert_conforms(doc, documented, member, &format!("{at}.{name}"));
                }
            }
        }
        Some("array") => {
            let Some(items) = value.as_array() else {
                panic!("{at}: {value} is not an array");
            };
            for (i, item) in items.iter().enumerate() {
                assert_conforms(doc, &schema["items"], item, &format!("{at}[{i}]"));
            }
        }
        _ => {}
    }
}

/// An operation of the document.
struct Operation {
    path: String,
    method: String,
    spec: Value,
}

fn operations(doc: &Value) -> BTreeMap<String, Operation> {
    let mut found = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, spec) in item.as_object().unwrap() {
            let id = spec["operationId"].as_str().unwrap().to_owned();
            let previous = found.insert(
                id.clone(),
                Operation {
                    path: path.clone(),
                    method: method.clone(),
                    spec: spec.clone(),
                },
            );
            assert!(previous.is_none(), "operationId {id} is unique");
        }
    }
    found
}

/// Every 2xx answer with a body has an example of it, and an operation whose success has no
/// body (204, revocation's 200) has one for another of its answers; every example conforms to
/// its schema.
fn assert_answers_have_examples(doc: &Value, id: &str, op: &Operation) {
    let mut any = false;
    for (status, response) in op.spec["responses"].as_object().unwrap() {
        for (content_type, media) in response["content"].as_object().into_iter().flatten() {
            let example = media_example(doc, media);
            if status.starts_with('2') {
                assert!(
                    example.is_some(),
                    "{id}: its {status} answer ({content_type}) has an example"
                );
            }
            if let Some(example) = example {
                assert_conforms(
                    doc,
                    &media["schema"],
                    &example,
                    &format!("{id} {status} example"),
                );
                any = true;
            }
        }
    }
    assert!(any, "{id}: at least one of its answers has an example");
}

/// Who the example requests authenticate as.
struct Credentials {
    admin_token: String,
    client_id: String,
    client_secret: String,
    user_token: String,
    /// Set once the examples minted one, and registered an app with it.
    initial_access_token: String,
    registration_access_token: String,
}

/// The outcome of one example.
struct Tried {
    status: u16,
    answer: Value,
    text: String,
}

async fn try_example(
    app: &TestApp,
    doc: &Value,
    id: &str,
    op: &Operation,
    ids: &BTreeMap<&'static str, String>,
    credentials: &Credentials,
) -> Tried {
    // Path parameters: the resources made earlier, else the parameter's example.
    let mut path = op.path.clone();
    let mut query: Vec<(String, String)> = Vec::new();
    for parameter in op.spec["parameters"].as_array().into_iter().flatten() {
        let name = parameter["name"].as_str().unwrap();
        let example = parameter_example(doc, parameter);
        match parameter["in"].as_str() {
            Some("path") => {
                let value =
                    match ids.get(name) {
                        Some(made) => made.clone(),
                        None => scalar(&example.unwrap_or_else(|| {
                            panic!("{id}: path parameter {name} has an example")
                        })),
                    };
                path = path.replace(&format!("{{{name}}}"), &value);
            }
            // What `/docs` fills in: the example, when there is one.
            Some("query") => {
                if let Some(example) = example {
                    query.push((name.to_owned(), scalar(&example)));
                }
            }
            other => panic!("{id}: a parameter in {other:?}"),
        }
    }

    let method = reqwest::Method::from_bytes(op.method.to_uppercase().as_bytes()).unwrap();
    let mut request = http_client().request(method, app.url(&path)).query(&query);

    if let Some(body) = op.spec.get("requestBody") {
        let (content_type, media) = body["content"]
            .as_object()
            .and_then(|content| content.iter().next())
            .unwrap_or_else(|| panic!("{id}: its request body has a media type"));
        let example = media_example(doc, media)
            .unwrap_or_else(|| panic!("{id}: its request body has an example"));
        assert_conforms(
            doc,
            &media["schema"],
            &example,
            &format!("{id} request example"),
        );
        request = if content_type.starts_with("application/json") {
            request.json(&example)
        } else if content_type == "application/x-www-form-urlencoded" {
            request.form(&form_fields(&example))
        } else {
            panic!("{id}: a request body of {content_type}");
        };
    }

    let schemes: BTreeSet<&str> = op.spec["security"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .flat_map(|requirement| requirement.keys().map(String::as_str))
        .collect();
    request = if schemes.contains("registration_access_token") {
        request.bearer_auth(&credentials.registration_access_token)
    } else if schemes.contains("initial_access_token") {
        request.bearer_auth(&credentials.initial_access_token)
    } else if schemes.contains("admin_bearer") {
        request.bearer_auth(&credentials.admin_token)
    } else if schemes.contains("client_secret_basic") {
        request.basic_auth(&credentials.client_id, Some(&credentials.client_secret))
    } else if schemes.contains("bearer") {
        request.bearer_auth(&credentials.user_token)
    } else {
        assert!(
            schemes.is_empty(),
            "{id}: unknown security schemes {schemes:?}"
        );
        request
    };

    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let answer = serde_json::from_str(&text).unwrap_or(Value::Null);
    Tried {
        status,
        answer,
        text,
    }
}

#[tokio::test]
async fn every_example_in_the_document_works_when_tried() {
    // Registration by initial access token, so its examples are tried as an app would.
    let app = crate::helpers::TestEnv::new(Backend::Sqlite)
        .await
        .spawn_with(|c| {
            c.registration.mode = oidcd::config::RegistrationMode::InitialAccessToken;
        })
        .await;
    let doc = app.get_json("/openapi.json").await;
    let operations = operations(&doc);

    // One row per operation, no more, no less.
    let documented: BTreeSet<&str> = operations.keys().map(String::as_str).collect();
    let tabled: BTreeSet<&str> = CASES.iter().map(|c| c.operation).collect();
    assert_eq!(documented, tabled, "CASES has a row for every operation");
    assert_eq!(tabled.len(), CASES.len(), "one row each");

    for (id, op) in &operations {
        assert_answers_have_examples(&doc, id, op);
    }

    // An admin client registered for every grant (for the protocol examples), a user's
    // access token from the code flow (userinfo), and an admin token (the admin API).
    let client = app
        .register_client_with(ClientRegistration {
            admin: true,
            // The test's own, and the one the pushed request example names.
            redirect_uris: vec![
                crate::helpers::REDIRECT_URI.into(),
                "https://photos.example.com/callback".into(),
            ],
            grant_types: vec![
                "authorization_code".into(),
                "refresh_token".into(),
                "device_code".into(),
            ],
            ..Default::default()
        })
        .await;
    let user = app.create_user().await;
    let tokens = app
        .signed_in_tokens(&client, &user, "openid profile email")
        .await;
    let mut credentials = Credentials {
        admin_token: crate::admin::admin_token(&app).await,
        client_secret: client.secret.clone().unwrap(),
        client_id: client.id.clone(),
        user_token: tokens["access_token"].as_str().unwrap().to_owned(),
        initial_access_token: String::new(),
        registration_access_token: String::new(),
    };

    let mut ids: BTreeMap<&'static str, String> = BTreeMap::new();
    let mut table = vec![format!(
        "| {:<28} | {:>6} | {:<60} |",
        "operation", "status", "what its example shows"
    )];
    for case in CASES {
        let id = case.operation;
        let op = &operations[id];
        let tried = try_example(&app, &doc, id, op, &ids, &credentials).await;
        let (status, text) = (tried.status, &tried.text);
        assert!(status < 500, "{id}: {status} {text}");
        let documented = &op.spec["responses"][status.to_string()];
        assert!(
            documented.is_object(),
            "{id}: {status} is not one of its documented answers: {text}"
        );
        assert_eq!(status, case.status, "{id} ({}): {text}", case.proves);
        // The answer has the documented members.
        if let Some(media) = documented["content"]
            .as_object()
            .and_then(|content| content.values().next())
        {
            assert_conforms(
                &doc,
                &media["schema"],
                &tried.answer,
                &format!("{id} answer"),
            );
        }
        match id {
            "admin_create_client" => {
                let made = tried.answer["client_id"].as_str().unwrap().to_owned();
                // `/docs` tells one story: the client_id examples name this client.
                let example = operations["admin_get_client"].spec["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|p| p["name"] == "client_id")
                    .and_then(|p| parameter_example(&doc, p));
                assert_eq!(example, Some(Value::String(made.clone())));
                assert!(
                    tried.answer["client_secret"].is_string(),
                    "the secret, once"
                );
                ids.insert("client_id", made);
            }
            "admin_create_initial_access_token" => {
                let answer = &tried.answer;
                credentials.initial_access_token = answer["token"].as_str().unwrap().to_owned();
                ids.insert("id", answer["id"].as_str().unwrap().to_owned());
            }
            "register_client" => {
                let answer = &tried.answer;
                credentials.registration_access_token = answer["registration_access_token"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                ids.insert(
                    "client_id",
                    answer["client_id"].as_str().unwrap().to_owned(),
                );
            }
            "admin_create_user" => {
                ids.insert("id", tried.answer["id"].as_str().unwrap().to_owned());
            }
            "token" => {
                let token = tried.answer["access_token"].as_str().unwrap();
                let claims = crate::helpers::jwt_claims(token);
                assert_eq!(claims["scope"], "admin", "{claims}");
            }
            _ => {}
        }
        table.push(format!("| {id:<28} | {status:>6} | {:<60} |", case.proves));
    }

    // A real kid for the retire operation: a forced rotation retires the active key, which
    // can then be withdrawn (last: it signed the admin token).
    let http = http_client();
    let rotation: Value = http
        .post(app.url("/admin/keys/rotate?force=true"))
        .bearer_auth(&credentials.admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let retired = rotation["retired"].as_str().unwrap();
    ids.insert("kid", retired.to_owned());
    let op = &operations["admin_retire_key"];
    let tried = try_example(&app, &doc, "admin_retire_key", op, &ids, &credentials).await;
    assert_eq!(tried.status, 204, "{}", tried.text);
    table.push(format!(
        "| {:<28} | {:>6} | {:<60} |",
        "admin_retire_key", 204, "a retired key's kid: withdrawn"
    ));

    eprintln!("{}", table.join("\n"));
}
