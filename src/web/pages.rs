//! HTML responses with the headers every page carries: no caching, no framing, no referrer,
//! no sniffing, and a Content-Security-Policy that allows nothing the pages do not use.

use poem::http::{header, StatusCode};
use poem::Response;
use serde::Serialize;

use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::params::Params;
use crate::oauth::redirect::{AuthResponse, ResponseMode};
use crate::oidc::factors::{self, CodeRefusal, PasskeyAnswer, Typed};
use crate::oidc::passkeys;
use crate::oidc::sessions::BrowserSession;
use crate::state::AppState;

const CSP: &str = "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                   font-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The CSP `form-action` source for a redirect target: browsers apply `form-action` to the
/// redirect that follows a form submission, so a page whose form ends at the client's
/// redirect URI must allow that origin.
fn form_action_source(uri: &str) -> String {
    match url::Url::parse(uri) {
        Ok(u) if u.origin().is_tuple() => u.origin().ascii_serialization(),
        Ok(u) => format!("{}:", u.scheme()),
        Err(_) => String::new(),
    }
}

/// The form_post page's script, allowed by its hash.
const FORM_POST_SCRIPT: &str = r#"document.getElementById("response").submit();"#;

fn secure_headers(mut builder: poem::ResponseBuilder, https: bool) -> poem::ResponseBuilder {
    builder = builder
        .content_type("text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        .header(header::PRAGMA, "no-cache")
        .header(header::X_FRAME_OPTIONS, "DENY")
        .header(header::REFERRER_POLICY, "no-referrer")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    if https {
        builder = builder.header(header::STRICT_TRANSPORT_SECURITY, "max-age=31536000");
    }
    builder
}

/// Renders `template` as a page with `status`. Its forms may post to this server and, when
/// `redirect_to` is given, lead to that URI.
pub fn render(
    state: &AppState,
    status: StatusCode,
    template: &str,
    context: impl Serialize,
    redirect_to: Option<&str>,
) -> Response {
    let form_action = redirect_to.map(form_action_source).unwrap_or_default();
    match state.templates.render(template, context) {
        Ok(html) => {
            // The passkey script, by its address, on the pages that load it (its name in an
            // attribute, which no text a page shows can forge: `"` is escaped); no other.
            let script_src = if html.contains("passkeys.js\"") {
                format!(
                    "; script-src {}{}",
                    state.issuer,
                    crate::http::assets::PASSKEY_SCRIPT_PATH
                )
            } else {
                String::new()
            };
            secure_headers(Response::builder(), state.is_https())
                .status(status)
                .header(
                    "Content-Security-Policy",
                    format!("{CSP}{script_src}; form-action 'self' {form_action}"),
                )
                .body(html)
        }
        Err(e) => {
            tracing::error!(error = %e, template, "cannot render a page");
            Response::builder()
                .status(StatusCode::INTERNAL_SERVER_ERROR)
                .content_type("text/plain; charset=utf-8")
                .body("The server met an unexpected condition.")
        }
    }
}

/// An error page for a person (never a redirect).
/// 429: this client address has started too many sign-ins for now.
pub fn too_many_requests(state: &AppState) -> Response {
    too_many(
        state,
        "Too many sign-ins were started from your network. Wait a few minutes, then try again.",
    )
}

/// 429: this client address has asked for too many mails (password resets) for now.
pub fn too_many_mail_requests(state: &AppState) -> Response {
    too_many(
        state,
        "Too many password resets were asked for from your network. Wait a while, then try \
         again.",
    )
}

fn too_many(state: &AppState, message: &str) -> Response {
    render(
        state,
        StatusCode::TOO_MANY_REQUESTS,
        "error.html",
        minijinja::context! {
            title => "Too many requests",
            message,
            code => "too_many_requests",
        },
        None,
    )
}

pub fn error_page(state: &AppState, error: &OAuthError) -> Response {
    let (status, title) = match error.code {
        ErrorCode::ServerError => (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong"),
        ErrorCode::TemporarilyUnavailable => {
            (StatusCode::SERVICE_UNAVAILABLE, "Temporarily unavailable")
        }
        _ => (StatusCode::BAD_REQUEST, "This request cannot be completed"),
    };
    render(
        state,
        status,
        "error.html",
        minijinja::context! { title, message => error.description.as_ref(), code => error.code.as_str() },
        None,
    )
}

/// Sends an authorization response: a redirect (302 after GET, 303 after a form POST), or
/// an auto-submitting form for response_mode=form_post.
pub fn authorization_response(
    state: &AppState,
    response: &AuthResponse,
    after_post: bool,
) -> Response {
    match response.mode {
        ResponseMode::Query => redirect(&response.location(), after_post),
        ResponseMode::FormPost => {
            let fields: Vec<(&str, &str)> = response
                .params
                .iter()
                .map(|(k, v)| (*k, v.as_str()))
                .collect();
            let html = match state.templates.render(
                "form_post.html",
                minijinja::context! { action => &response.redirect_uri, fields },
            ) {
                Ok(html) => html,
                Err(e) => {
                    return error_page(state, &OAuthError::server_error(&e));
                }
            };
            let script_hash =
                crate::crypto::b64_standard(&crate::crypto::sha256(FORM_POST_SCRIPT.as_bytes()));
            let origin = form_action_source(&response.redirect_uri);
            let csp = format!(
                "default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{script_hash}'; \
                 form-action {origin}; frame-ancestors 'none'; base-uri 'none'"
            );
            secure_headers(Response::builder(), state.is_https())
                .header("Content-Security-Policy", csp)
                .body(html)
        }
    }
}

/// The signed-out page's script: once every front-channel logout page has loaded (or
/// failed), or after 5 seconds whatever they do, the person goes on to where the app asked.
const SIGNED_OUT_SCRIPT: &str = r#"(function(){var gone=false;function go(){var c=document.getElementById("continue");if(c&&!gone){gone=true;location.replace(c.href);}}window.addEventListener("load",go);setTimeout(go,5000);})();"#;

/// The signed-out page when apps take part through front-channel logout: their pages load in
/// hidden iframes (the CSP allows just their origins), then the person goes on to
/// `continue_to`, if anywhere.
pub fn signed_out_with_frames(
    state: &AppState,
    frames: &[String],
    continue_to: Option<&str>,
) -> Response {
    let html = match state.templates.render(
        "logout_confirm.html",
        minijinja::context! { done => true, frames, continue_to, script => SIGNED_OUT_SCRIPT },
    ) {
        Ok(html) => html,
        Err(e) => return error_page(state, &OAuthError::server_error(&e)),
    };
    let origins: Vec<String> = frames.iter().map(|f| form_action_source(f)).collect();
    let script_hash =
        crate::crypto::b64_standard(&crate::crypto::sha256(SIGNED_OUT_SCRIPT.as_bytes()));
    let csp = format!(
        "{CSP}; frame-src {}; script-src 'sha256-{script_hash}'; form-action 'self'",
        origins.join(" ")
    );
    secure_headers(Response::builder(), state.is_https())
        .header("Content-Security-Policy", csp)
        .body(html)
}

pub fn redirect(location: &str, after_post: bool) -> Response {
    let status = if after_post {
        StatusCode::SEE_OTHER
    } else {
        StatusCode::FOUND
    };
    Response::builder()
        .status(status)
        .header(header::LOCATION, location)
        .header(header::CACHE_CONTROL, "no-store")
        .header(header::REFERRER_POLICY, "no-referrer")
        .finish()
}

/// Adds a `Set-Cookie` header, if there is one to set.
/// The response with every one of `cookies` set.
pub fn with_cookies(response: Response, cookies: Vec<String>) -> Response {
    cookies.into_iter().fold(response, |response, cookie| {
        with_cookie(response, Some(cookie))
    })
}

pub fn with_cookie(mut response: Response, cookie: Option<String>) -> Response {
    if let Some(cookie) = cookie {
        if let Ok(value) = header::HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// A scope as the consent pages show it.
#[derive(Serialize)]
pub struct ScopeView {
    pub name: String,
    pub description: String,
}

pub fn scope_views(catalog: &crate::oauth::scope::Catalog, scopes: &[String]) -> Vec<ScopeView> {
    scopes
        .iter()
        .map(|s| ScopeView {
            name: s.clone(),
            description: catalog.describe(s),
        })
        .collect()
}

/// A second factor as a form sent it: a code, or a passkey's answer.
pub fn typed_factor<'a>(
    params: &'a Params,
    ip: &'a str,
    device_token: Option<&'a str>,
) -> Typed<'a> {
    Typed {
        code: params.get("code").unwrap_or_default(),
        passkey: passkey_answer(params),
        ip,
        device_token,
    }
}

/// A passkey ceremony's answer as a form sent it, if it carries one.
pub fn passkey_answer(params: &Params) -> Option<PasskeyAnswer<'_>> {
    Some(PasskeyAnswer {
        ceremony: params.get("passkey_ceremony").filter(|c| !c.is_empty())?,
        response: params.get("passkey_response").filter(|r| !r.is_empty())?,
    })
}

/// A passkey ceremony as a page's template gets it: the handle its form sends back, the
/// options for the browser, and the script's address.
#[derive(Serialize)]
pub struct PasskeyView {
    pub ceremony: String,
    pub options: String,
    pub script: String,
}

impl PasskeyView {
    pub fn new(state: &AppState, prompt: passkeys::Prompt) -> Self {
        Self {
            ceremony: prompt.ceremony,
            options: prompt.options,
            script: format!(
                "{}{}",
                state.issuer,
                crate::http::assets::PASSKEY_SCRIPT_PATH
            ),
        }
    }
}

/// A sign-in with a passkey alone for a sign-in page shown to `session`, when passkeys are
/// on. A failure to start one leaves the page with the password only.
pub async fn passkey_sign_in(state: &AppState, session: &BrowserSession) -> Option<PasskeyView> {
    state.webauthn.as_ref()?;
    match passkeys::begin_sign_in(state.provider(), session, state.clock.now()).await {
        Ok(prompt) => Some(PasskeyView::new(state, prompt)),
        Err(e) => {
            tracing::error!(error = %e.description, "cannot start a passkey sign-in");
            None
        }
    }
}

/// Where a second-factor page's forms go: the page's own address, the fields that carry the
/// flow along, and the step a Cancel button sends (none: no button).
pub struct FactorForm<'a> {
    pub action: String,
    pub hidden: Vec<(&'a str, &'a str)>,
    pub csrf_token: String,
    pub cancel: Option<&'a str>,
    /// The app the person is signing in to, if any.
    pub client_name: Option<&'a str>,
}

/// The page that asks `session`'s user for a second factor (a passkey of theirs, a one-time
/// code, a recovery code); after a refused one, why.
pub async fn second_factor_page(
    state: &AppState,
    session: &BrowserSession,
    form: &FactorForm<'_>,
    refusal: Option<CodeRefusal>,
) -> Response {
    let choices = match factors::choices(state.provider(), session, state.clock.now()).await {
        Ok(choices) => choices,
        Err(e) => return error_page(state, &e),
    };
    let status = match refusal {
        Some(CodeRefusal::TooManyFailures) => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::OK,
    };
    render(
        state,
        status,
        "second_factor.html",
        minijinja::context! {
            action => &form.action,
            hidden => &form.hidden,
            csrf_token => &form.csrf_token,
            cancel => form.cancel,
            client_name => form.client_name,
            passkey => choices.passkey.map(|p| PasskeyView::new(state, p)),
            app => choices.app,
            error => refusal.map(CodeRefusal::message),
        },
        None,
    )
}

/// The page that sends someone to set up a second factor an app needs, then on.
pub fn enrol_factor_page(state: &AppState, form: &FactorForm<'_>) -> Response {
    render(
        state,
        StatusCode::OK,
        "enrol_factor.html",
        minijinja::context! {
            action => &form.action,
            hidden => &form.hidden,
            csrf_token => &form.csrf_token,
            cancel => form.cancel,
            client_name => form.client_name.unwrap_or("This app"),
            account_url => format!("{}{}", state.issuer, super::account::PATH),
        },
        None,
    )
}
