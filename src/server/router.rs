//! Assembles every route, and lists the protocol endpoints it mounts so discovery can be
//! derived from them.

use poem::http::Method;
use poem::{get, Endpoint as _, EndpointExt as _, IntoEndpoint, IntoResponse, Route};
use poem_openapi::error::{
    AuthorizationError, ContentTypeError, ParseParamError, ParsePathError, ParseRequestPayloadError,
};

use super::openapi;
use crate::admin::objects::AdminFailure;
use crate::http::cors::Cors;
use crate::http::limits::Limits;
use crate::http::observe::Observe;
use crate::http::{assets, errors, health};
use crate::oidc::discovery::Endpoint;
use crate::state::AppState;
use crate::web;

/// The protocol endpoints this router mounts (the JSON ones through the OpenAPI service).
pub const MOUNTED: &[Endpoint] = &[
    Endpoint::Jwks,
    Endpoint::Authorization,
    Endpoint::Token,
    Endpoint::Userinfo,
    Endpoint::EndSession,
    Endpoint::DeviceAuthorization,
    Endpoint::Introspection,
    Endpoint::Revocation,
    Endpoint::PushedAuthorization,
    Endpoint::Registration,
];

pub fn build(state: AppState) -> impl IntoEndpoint {
    let api = openapi::service(Some(&state.issuer));
    // Swagger UI, with the viewport a phone needs (the bundled page has none).
    let docs_html = api.swagger_ui_html().replacen(
        "<head>",
        "<head>\n    <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        1,
    );
    let csp = docs_policy(&docs_html);
    let docs = poem::endpoint::make_sync(move |_| {
        poem::Response::builder()
            .content_type("text/html; charset=utf-8")
            .header("Content-Security-Policy", csp.as_str())
            .header("X-Frame-Options", "DENY")
            .header("X-Content-Type-Options", "nosniff")
            .header("Referrer-Policy", "no-referrer")
            .body(docs_html.clone())
    });
    let spec = api.spec_endpoint();
    Route::new()
        // Pages for people.
        .at(
            Endpoint::Authorization.path(),
            get(web::authorize::endpoint).post(web::authorize::endpoint),
        )
        .at(
            Endpoint::EndSession.path(),
            get(web::logout::endpoint).post(web::logout::endpoint),
        )
        .at(
            web::account::PATH,
            get(web::account::endpoint).post(web::account::endpoint),
        )
        .at(
            web::recovery::FORGOT_PATH,
            get(web::recovery::forgot).post(web::recovery::forgot),
        )
        .at(
            web::recovery::RESET_PATH,
            get(web::recovery::reset).post(web::recovery::reset),
        )
        .at(
            web::recovery::VERIFY_PATH,
            get(web::recovery::verify).post(web::recovery::verify),
        )
        .at(
            web::device::PATH,
            get(web::device::endpoint).post(web::device::endpoint),
        )
        // Operations.
        .at("/healthz", get(health::healthz))
        .at("/metrics", get(health::metrics))
        .at("/static/:name", get(assets::asset))
        .at(assets::PASSKEY_SCRIPT_PATH, get(assets::passkey_script))
        .at(assets::CLIENT_LOGO_PATH, get(assets::client_logo))
        .at("/openapi.json", spec)
        .at("/docs", docs)
        // Discovery, the protocol's JSON endpoints and the admin API.
        .nest(
            "/",
            api.into_endpoint()
                // The landing page: the nest at `/` would otherwise answer `/` itself.
                .around(|api, req| async move {
                    if req.uri().path() == web::home::PATH && req.method() == Method::GET {
                        return Ok(web::home::page(&req));
                    }
                    api.call(req).await.map(IntoResponse::into_response)
                })
                .catch_error(|_: AuthorizationError| async { errors::bearer_error(None) })
                .catch_error(|e: ParseRequestPayloadError| async move {
                    AdminFailure::unparsable(None, &e.reason).into_response()
                })
                .catch_error(|e: ParseParamError| async move {
                    AdminFailure::unparsable(Some(e.name), &e.reason).into_response()
                })
                .catch_error(|e: ParsePathError| async move {
                    AdminFailure::unparsable(Some(e.name), &e.reason).into_response()
                })
                .catch_error(|e: ContentTypeError| async move {
                    AdminFailure::unparsable(None, &e.to_string()).into_response()
                }),
        )

        .with(Cors)
        .with(Limits {
            request_timeout: state.config.http.request_timeout.as_duration(),
        })
        .with(Observe {
            metrics: state.metrics.clone(),
            trusted_proxies: state.config.http.trusted_proxies.clone(),
            forwarded_header: state.config.http.forwarded_header,
        })
        .data(state)
}

/// The docs page's Content-Security-Policy: its own inline scripts (by hash) and nothing
/// else, no framing. Swagger UI sets style attributes as it renders, hence inline styles.
fn docs_policy(html: &str) -> String {
    let mut scripts = String::new();
    let mut rest = html;
    while let Some(start) = rest.find("<script") {
        let Some(after) = rest.get(start..) else {
            break;
        };
        let (Some(open_end), Some(close)) = (after.find('>'), after.find("</script>")) else {
            break;
        };
        let tag = after.get(..open_end).unwrap_or_default();
        if !tag.contains("src=") {
            let body = after.get(open_end + 1..close).unwrap_or_default();
            let digest = crate::crypto::sha256(body.as_bytes());
            scripts.push_str(&format!(
                " 'sha256-{}'",
                base64::Engine::encode(&base64::engine::general_purpose::STANDARD, digest)
            ));
        }
        rest = after.get(close + "</script>".len()..).unwrap_or_default();
    }
    format!(
        "default-src 'none'; script-src 'self'{scripts}; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; connect-src 'self'; font-src 'self' data:; \
         frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )
}
