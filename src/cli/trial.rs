//! `oidcd try CLIENT_ID`: signs in through the provider as a native app would (RFC 8252),
//! so an operator sees a whole code flow work in a minute. It listens on a loopback port,
//! prints (and opens where it can) the authorization URL, receives the code, exchanges it with
//! PKCE, verifies the ID token against the JWKS, calls userinfo and prints what came back.
//! It speaks to the provider over HTTP only, like any relying party.

// Only `Value[&str]` here, which yields `Null` for a missing member and never panics.
#![allow(clippy::indexing_slicing)]

use std::time::Duration;

use poem::listener::{Acceptor as _, Listener as _, TcpListener};
use poem::web::Query;
use poem::{handler, EndpointExt as _, Route, Server};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::CliError;
use crate::config::Config;
use crate::crypto;

#[derive(Debug, clap::Args)]
pub struct TryArgs {
    /// The client to sign in with. It must be registered with a loopback redirect URI such as
    /// `http://127.0.0.1/callback` (any port matches one on a loopback IP literal).
    #[arg(allow_hyphen_values = true)]
    client_id: String,
    /// The provider's issuer URL. Default: the configured issuer (`OIDCD_ISSUER`), or
    /// `http://` + the bind address.
    #[arg(long, value_name = "URL")]
    issuer: Option<String>,
    /// The redirect URI to listen on; its port is replaced by a free one unless it names one.
    #[arg(long, value_name = "URI", default_value = "http://127.0.0.1/callback")]
    redirect_uri: String,
    /// Scopes to ask for, space-separated.
    #[arg(long, default_value = "openid profile email")]
    scope: String,
    /// The client's secret, for a confidential client (sent with HTTP Basic). A public
    /// client (registered with `--public`) needs none.
    #[arg(long, env = "OIDCD_TRY_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// Print the authorization URL only; do not try to open a browser.
    #[arg(long)]
    no_browser: bool,
    /// How long to wait for the sign-in, in seconds.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    timeout: u64,
}

fn fail(message: impl Into<String>) -> CliError {
    CliError::Usage(message.into())
}

pub async fn run(config: &Config, args: TryArgs) -> Result<(), CliError> {
    let issuer = match &args.issuer {
        Some(issuer) => issuer.trim_end_matches('/').to_owned(),
        None => match &config.issuer {
            Some(issuer) => issuer.trim_end_matches('/').to_owned(),
            None => format!("http://{}", config.bind_addr()?),
        },
    };
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| fail(format!("cannot make an HTTP client: {e}")))?;

    // Discovery.
    let discovery_url = format!("{issuer}/.well-known/openid-configuration");
    let metadata = get_json(&http, &discovery_url, None).await?;
    if metadata["issuer"] != Value::String(issuer.clone()) {
        return Err(fail(format!(
            "{discovery_url} names the issuer {}, not {issuer}",
            metadata["issuer"]
        )));
    }
    let endpoint = |name: &str| -> Result<String, CliError> {
        metadata[name]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| fail(format!("the discovery document has no {name}")))
    };

    // The loopback listener that receives the code.
    let mut redirect =
        url::Url::parse(&args.redirect_uri).map_err(|e| fail(format!("--redirect-uri: {e}")))?;
    let host = redirect
        .host_str()
        .ok_or_else(|| fail("--redirect-uri has no host"))?
        .trim_matches(['[', ']'])
        .to_owned();
    let port = redirect.port().unwrap_or(0);
    let acceptor = TcpListener::bind(format!("{host}:{port}").replace("::1:", "[::1]:"))
        .into_acceptor()
        .await
        .map_err(|e| fail(format!("cannot listen on {host}:{port}: {e}")))?;
    let bound = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
        .ok_or_else(|| fail("the listener has no address"))?;
    redirect
        .set_port(Some(bound.port()))
        .map_err(|()| fail("--redirect-uri cannot take a port"))?;
    let redirect_uri = redirect.to_string();

    // The request: PKCE S256, state and nonce.
    let verifier = crypto::random_token()?;
    let challenge = crypto::b64url(&crypto::sha256(verifier.as_bytes()));
    let state = crypto::random_token()?;
    let nonce = crypto::random_token()?;
    let mut authorize = url::Url::parse(&endpoint("authorization_endpoint")?)
        .map_err(|e| fail(format!("authorization_endpoint: {e}")))?;
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &args.client_id)
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("scope", &args.scope)
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    say!("Open this URL in a browser and sign in:\n\n  {authorize}\n");
    say!("Waiting for the redirect to {redirect_uri} ...");
    if !args.no_browser {
        open_browser(authorize.as_str());
    }

    let (tx, mut rx) = mpsc::channel::<Vec<(String, String)>>(1);
    let path = redirect.path().to_owned();
    let app = Route::new().at(&path, callback.data(tx));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        Server::new_with_acceptor(acceptor).run_with_graceful_shutdown(
            app,
            async {
                let _ = stop_rx.await;
            },
            Some(Duration::from_secs(1)),
        ),
    );
    let received = tokio::time::timeout(Duration::from_secs(args.timeout), rx.recv()).await;
    let _ = stop_tx.send(());
    let _ = server.await;
    let params = match received {
        Ok(Some(params)) => params,
        _ => return Err(fail("no sign-in arrived before --timeout")),
    };
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    if param("state").as_deref() != Some(state.as_str()) {
        return Err(fail(
            "the redirect's state is not the one sent: refusing it",
        ));
    }
    if let Some(iss) = param("iss") {
        if iss != issuer {
            return Err(fail(format!(
                "the redirect came from issuer {iss}, not {issuer}"
            )));
        }
    }
    if let Some(error) = param("error") {
        return Err(fail(format!(
            "the provider answered {error}: {}",
            param("error_description").unwrap_or_default()
        )));
    }
    let code = param("code").ok_or_else(|| fail("the redirect carries no code"))?;

    // The code exchange.
    let mut form = vec![
        ("grant_type", "authorization_code".to_owned()),
        ("code", code),
        ("redirect_uri", redirect_uri.clone()),
        ("code_verifier", verifier),
    ];
    let mut request = http.post(endpoint("token_endpoint")?);
    match &args.secret {
        Some(secret) => {
            let encode =
                |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            request = request.basic_auth(encode(&args.client_id), Some(encode(secret)));
        }
        None => form.push(("client_id", args.client_id.clone())),
    }
    let response = request
        .form(&form)
        .send()
        .await
        .map_err(|e| fail(format!("the token request failed: {e}")))?;
    let status = response.status();
    let tokens: Value = response
        .json()
        .await
        .map_err(|e| fail(format!("the token response is not JSON: {e}")))?;
    if !status.is_success() {
        return Err(fail(format!(
            "the token endpoint answered {status}: {} ({})",
            tokens["error"], tokens["error_description"]
        )));
    }

    // The ID token, verified against the published keys.
    let jwks = get_json(&http, &endpoint("jwks_uri")?, None).await?;
    let id_token = tokens["id_token"]
        .as_str()
        .ok_or_else(|| fail("no id_token came back (is `openid` among --scope?)"))?;
    let id_claims = verify_id_token(id_token, &jwks, &issuer, &args.client_id, &nonce)?;
    let access_token = tokens["access_token"]
        .as_str()
        .ok_or_else(|| fail("no access_token came back"))?;
    let userinfo = get_json(&http, &endpoint("userinfo_endpoint")?, Some(access_token)).await?;
    if userinfo["sub"] != id_claims["sub"] {
        return Err(fail("userinfo names another subject than the ID token"));
    }

    let summary = json!({
        "id_token": { "verified": true, "claims": id_claims },
        "access_token": { "claims": unverified_claims(access_token), "expires_in": tokens["expires_in"], "scope": tokens["scope"] },
        "refresh_token": tokens.get("refresh_token").is_some(),
        "userinfo": userinfo,
    });
    let text = serde_json::to_string_pretty(&summary)
        .map_err(|e| fail(format!("cannot print JSON: {e}")))?;
    say!("\nSigned in. The ID token's signature, issuer, audience, expiry and nonce check out.\n");
    say!("{text}");
    Ok(())
}

#[handler]
async fn callback(
    Query(params): Query<Vec<(String, String)>>,
    poem::web::Data(tx): poem::web::Data<&mpsc::Sender<Vec<(String, String)>>>,
) -> poem::web::Html<&'static str> {
    let _ = tx.try_send(params);
    poem::web::Html(
        "<!doctype html><html lang=\"en\"><title>oidcd try</title>\
         <p>Signed in: you can close this window and return to the terminal.</p></html>",
    )
}

async fn get_json(
    http: &reqwest::Client,
    url: &str,
    bearer: Option<&str>,
) -> Result<Value, CliError> {
    let mut request = http.get(url);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .map_err(|e| fail(format!("cannot reach {url}: {e}")))?;
    let status = response.status();
    if !status.is_success() {
        return Err(fail(format!("{url} answered {status}")));
    }
    response
        .json()
        .await
        .map_err(|e| fail(format!("{url} did not answer JSON: {e}")))
}

fn b64url_decode(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s)
}

/// A JWT's claims, not verified (for display).
fn unverified_claims(jwt: &str) -> Value {
    jwt.split('.')
        .nth(1)
        .and_then(|p| b64url_decode(p).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(Value::Null)
}

/// Checks an ID token as a relying party must (OIDC Core 3.1.3.7): RS256 signature by a
/// published key, `iss`, `aud`, `exp`, `nonce`.
fn verify_id_token(
    token: &str,
    jwks: &Value,
    issuer: &str,
    client_id: &str,
    nonce: &str,
) -> Result<Value, CliError> {
    let header = token
        .split('.')
        .next()
        .and_then(|h| b64url_decode(h).ok())
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .ok_or_else(|| fail("the ID token's header is malformed"))?;
    if header["alg"] != "RS256" {
        return Err(fail(format!(
            "the ID token is signed with {}, not RS256",
            header["alg"]
        )));
    }
    let kid = header["kid"].as_str().unwrap_or_default();
    let key = jwks["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["kid"] == kid))
        .ok_or_else(|| fail(format!("no published key has the ID token's kid {kid}")))?;
    let jwk = josekit::jwk::Jwk::from_bytes(key.to_string().as_bytes())
        .map_err(|e| fail(format!("the published key {kid} is malformed: {e}")))?;
    let verifier = josekit::jws::RS256
        .verifier_from_jwk(&jwk)
        .map_err(|e| fail(format!("the published key {kid} cannot verify: {e}")))?;
    let (payload, _) = josekit::jwt::decode_with_verifier(token, &verifier)
        .map_err(|e| fail(format!("the ID token's signature does not verify: {e}")))?;
    let claims = Value::Object(payload.claims_set().clone());
    let now = crate::clock::Clock::System.now();
    let audience_ok = match &claims["aud"] {
        Value::String(aud) => aud == client_id,
        Value::Array(auds) => auds.iter().any(|a| a == client_id),
        _ => false,
    };
    if claims["iss"] != issuer {
        return Err(fail(format!(
            "the ID token's iss is {}, not {issuer}",
            claims["iss"]
        )));
    }
    if !audience_ok {
        return Err(fail("the ID token is not for this client (aud)"));
    }
    if claims["exp"].as_i64().is_none_or(|exp| exp + 60 < now) {
        return Err(fail("the ID token has expired"));
    }
    if claims["nonce"] != nonce {
        return Err(fail("the ID token's nonce is not the one sent"));
    }
    Ok(claims)
}

/// Opens `url` in the desktop's browser where there is one; quietly does nothing otherwise.
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let _ = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}
