//! Cross-origin requests from browser apps (the Fetch standard's CORS protocol) on the
//! endpoints a browser-only app calls.
//!
//! - Discovery and the JWKS are public documents: any origin may read them (`*`).
//! - The token, revocation, introspection and device authorization endpoints answer a page
//!   whose origin is allowed for the client the request speaks for: an origin of one of its
//!   redirect URIs, or one in its `allowed_origins`. Userinfo answers the origins of the
//!   access token's client.
//! - A preflight (`OPTIONS`) is answered 204 for any origin: it carries no body, so the
//!   client is not known yet, and it only lets the browser send the request. The answer to
//!   the request itself decides: a disallowed origin gets no `Access-Control-Allow-Origin`,
//!   so the page cannot read it. Errors carry the headers too, so an allowed app can read
//!   `error` and `error_description`.
//!
//! The handlers name the client in a [`CorsClient`] slot the layer puts on the request; only
//! the answer to an allowed origin is readable, and a success is only ever the answer to a
//! request that proved it speaks for that client (a secret, a PKCE verifier, a signed token).

use std::sync::{Arc, OnceLock};

use poem::http::{header, HeaderValue, Method, StatusCode};
use poem::{Endpoint, IntoResponse as _, Middleware, Request, Response};

use crate::oidc::discovery::Endpoint as ProtocolEndpoint;
use crate::state::AppState;
use crate::store;

/// How long a browser may cache a preflight's answer, in seconds.
const MAX_AGE: &str = "3600";
/// Request headers a browser app may send.
const ALLOW_HEADERS: &str = "Authorization, Content-Type, DPoP";
/// Response headers a browser app may read beyond the CORS-safelisted ones.
const EXPOSE_HEADERS: &str = "WWW-Authenticate, Retry-After, X-Request-Id, DPoP-Nonce";

/// The client a request speaks for, set by its handler once it knows.
#[derive(Clone, Default)]
pub struct CorsClient(Arc<OnceLock<String>>);

impl CorsClient {
    /// Names the client on `req` (no-op when the request is not cross-origin).
    pub fn name(req: &Request, client_id: &str) {
        if let Some(slot) = req.extensions().get::<CorsClient>() {
            let _ = slot.0.set(client_id.to_owned());
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Discovery and JWKS: anyone may read them.
    Public,
    /// Answers readable by the origins of the client the request speaks for.
    ClientBased { methods: &'static str },
}

fn kind_of(path: &str) -> Option<Kind> {
    use ProtocolEndpoint as E;
    match path {
        "/.well-known/openid-configuration" | "/.well-known/oauth-authorization-server" => {
            Some(Kind::Public)
        }
        p if p == E::Jwks.path() => Some(Kind::Public),
        p if p == E::Userinfo.path() => Some(Kind::ClientBased {
            methods: "GET, POST",
        }),
        p if [
            E::Token,
            E::Revocation,
            E::Introspection,
            E::DeviceAuthorization,
            E::PushedAuthorization,
        ]
        .iter()
        .any(|e| e.path() == p) =>
        {
            Some(Kind::ClientBased { methods: "POST" })
        }
        _ => None,
    }
}

pub struct Cors;

impl<E: Endpoint> Middleware<E> for Cors {
    type Output = CorsEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        CorsEndpoint { inner }
    }
}

pub struct CorsEndpoint<E> {
    inner: E,
}

impl<E: Endpoint> Endpoint for CorsEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Self::Output> {
        let Some(kind) = kind_of(req.uri().path()) else {
            return self.inner.call(req).await.map(|r| r.into_response());
        };
        let origin = req
            .headers()
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if req.method() == Method::OPTIONS {
            return Ok(preflight(kind, origin.as_deref()));
        }
        let slot = CorsClient::default();
        let state = req.data::<AppState>().cloned();
        let cross_origin = match (&origin, &state) {
            (Some(origin), Some(state)) => !same_origin(origin, &state.issuer),
            _ => false,
        };
        if cross_origin {
            req.extensions_mut().insert(slot.clone());
        }
        let mut response = match self.inner.call(req).await {
            Ok(r) => r.into_response(),
            Err(e) => e.into_response(),
        };
        let (Some(origin), Some(state)) = (origin, state) else {
            return Ok(response);
        };
        match kind {
            Kind::Public => {
                response.headers_mut().insert(
                    header::ACCESS_CONTROL_ALLOW_ORIGIN,
                    HeaderValue::from_static("*"),
                );
            }
            Kind::ClientBased { .. } => {
                append_vary(&mut response);
                if cross_origin && allowed(&state, slot.0.get(), &origin).await {
                    if let Ok(value) = HeaderValue::from_str(&origin) {
                        let headers = response.headers_mut();
                        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
                        headers.insert(
                            header::ACCESS_CONTROL_EXPOSE_HEADERS,
                            HeaderValue::from_static(EXPOSE_HEADERS),
                        );
                    }
                }
            }
        }
        Ok(response)
    }
}

/// Whether the page at `origin` may read the answer given for `client_id`.
async fn allowed(state: &AppState, client_id: Option<&String>, origin: &str) -> bool {
    let Some(client_id) = client_id else {
        return false;
    };
    match store::clients::get(&state.db, client_id).await {
        Ok(client) => client.allows_origin(origin),
        Err(_) => false,
    }
}

fn same_origin(origin: &str, issuer: &str) -> bool {
    url::Url::parse(issuer).is_ok_and(|u| u.origin().ascii_serialization() == origin)
}

fn append_vary(response: &mut Response) {
    response
        .headers_mut()
        .append(header::VARY, HeaderValue::from_static("Origin"));
}

/// The answer to a preflight: what may be sent, for how long.
fn preflight(kind: Kind, origin: Option<&str>) -> Response {
    let (allow_origin, methods) = match kind {
        Kind::Public => (Some("*".to_owned()), "GET"),
        Kind::ClientBased { methods } => (origin.map(str::to_owned), methods),
    };
    let mut builder = Response::builder()
        .status(StatusCode::NO_CONTENT)
        .header(header::ALLOW, format!("{methods}, OPTIONS"))
        .header(header::VARY, "Origin");
    if let Some(allow_origin) = allow_origin.filter(|_| origin.is_some()) {
        builder = builder
            .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin)
            .header(header::ACCESS_CONTROL_ALLOW_METHODS, methods)
            .header(header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOW_HEADERS)
            .header(header::ACCESS_CONTROL_MAX_AGE, MAX_AGE);
    }
    builder.finish()
}
