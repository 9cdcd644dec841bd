//! `GET/POST /oauth/authorize`: the pages of the authorization code flow. The rules are
//! `oidc::interaction` (which validates with `oauth::authorize`); this room reads the request,
//! checks the form token, calls them and renders what they answer. Forms come back here
//! carrying `request_id`, `step` and a CSRF token.

use poem::http::{HeaderMap, Method, StatusCode};
use poem::web::Data;
use poem::{handler, Body, Request, Response};

use super::pages;
use super::session::{self, provider};
use crate::clock::UnixTime;
use crate::http::extract;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::metadata_document::DocumentError;
use crate::oauth::params::Params;
use crate::oidc::interaction::{self, Action, Answer, Page, Waiting};
use crate::oidc::sessions::BrowserSession;
use crate::oidc::sign_in::{Attempt, Refusal};
use crate::state::AppState;

#[handler]
pub async fn endpoint(req: &Request, body: Body, Data(state): Data<&AppState>) -> Response {
    let now = state.clock.now();
    let is_post = req.method() == Method::POST;
    let params = match extract::params(req, body).await {
        Ok(p) => p,
        Err(e) => return pages::error_page(state, &e),
    };
    let ip = extract::client_ip(req);
    let result = if is_post && params.contains("request_id") {
        interaction(state, req.headers(), &params, &ip, now)
            .await
            .map(|answer| (answer, true))
    } else {
        start(state, req.headers(), &params, &ip, now)
            .await
            .map(|answer| (answer, is_post))
    };
    match result {
        Ok((answer, after_post)) => render(state, answer, after_post).await,
        Err(e) => pages::error_page(state, &e),
    }
}

async fn start(
    state: &AppState,
    headers: &HeaderMap,
    params: &Params,
    ip: &str,
    now: UnixTime,
) -> Result<Answer, OAuthError> {
    let session = session::current(state, headers, now).await?;
    if let Some(client_id) = params.get("client_id") {
        match state.documents().refresh(client_id, ip, now).await {
            Ok(()) => {}
            Err(DocumentError::Throttled) => return Ok(Answer::page(Page::Throttled, session)),
            Err(e) => return Err(e.into_oauth(ErrorCode::InvalidRequest)),
        }
    }
    let rules = state.authorize_rules(now);
    interaction::begin(provider(state), params, &rules, session, ip).await
}

async fn interaction(
    state: &AppState,
    headers: &HeaderMap,
    params: &Params,
    ip: &str,
    now: UnixTime,
) -> Result<Answer, OAuthError> {
    params.reject_duplicates()?;
    let session = session::current(state, headers, now)
        .await?
        .ok_or_else(interaction::expired)?;
    if !session::csrf_ok(state, &session, params.get("csrf_token")) {
        return Err(OAuthError::invalid_request(
            "The form could not be verified. Reload the page and try again.",
        ));
    }
    let request_id = params.require("request_id")?;
    let device_token = session::device_token(state, headers);
    let action = match params.get("step") {
        Some("cancel") => Action::Cancel,
        Some("login") => Action::Login(Attempt {
            username: params.get("username").unwrap_or_default(),
            password: params.get("password").unwrap_or_default(),
            device_token: device_token.as_deref(),
            ip,
            user_agent: headers
                .get(poem::http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok()),
        }),
        Some("second_factor") => {
            Action::SecondFactor(pages::typed_factor(params, ip, device_token.as_deref()))
        }
        Some("passkey") => Action::Passkey {
            answer: pages::passkey_answer(params),
            ip,
            user_agent: headers
                .get(poem::http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok()),
        },
        Some("continue") => Action::Continue,
        Some("consent") => Action::Consent {
            allow: match params.get("decision") {
                Some("allow") => true,
                Some("deny") => false,
                _ => {
                    return Err(OAuthError::invalid_request(
                        "The form must answer allow or deny.",
                    ))
                }
            },
        },
        _ => return Err(interaction::expired()),
    };
    interaction::act(provider(state), session, request_id, action, now).await
}

/// The page for an answer, with the cookies it sets.
async fn render(state: &AppState, answer: Answer, after_post: bool) -> Response {
    let Answer {
        page,
        session,
        new_session,
        device_token,
    } = answer;
    let response = match (page, &session) {
        (Page::Error(e), _) => pages::error_page(state, &e),
        (Page::Respond(r), _) => pages::authorization_response(state, &r, after_post),
        (Page::Throttled, _) => pages::too_many_requests(state),
        (Page::Login(waiting, failure), Some(s)) => login_page(state, s, &waiting, failure).await,
        (Page::SecondFactor(waiting, refusal), Some(s)) => {
            pages::second_factor_page(state, s, &factor_form(state, s, &waiting), refusal).await
        }
        (Page::Enrol(waiting), Some(s)) => {
            pages::enrol_factor_page(state, &factor_form(state, s, &waiting))
        }
        (Page::Consent(waiting, username), Some(s)) => consent_page(state, s, &waiting, &username),
        (Page::Login(..) | Page::SecondFactor(..) | Page::Enrol(..) | Page::Consent(..), None) => {
            pages::error_page(
                state,
                &OAuthError::server_error(&"a page to show without a session"),
            )
        }
    };
    let new_session = session.as_ref().filter(|_| new_session);
    let cookies = session::cookies(state, new_session, device_token.as_deref());
    pages::with_cookies(response, cookies)
}

/// Where the second-factor pages of a waiting request send their forms.
fn factor_form<'a>(
    state: &AppState,
    session: &BrowserSession,
    waiting: &'a Waiting,
) -> pages::FactorForm<'a> {
    pages::FactorForm {
        action: format!("{}/oauth/authorize", state.issuer),
        hidden: vec![("request_id", waiting.request_id.as_str())],
        csrf_token: session::csrf_token(state, session),
        cancel: Some("cancel"),
        client_name: Some(&waiting.client.name),
    }
}

async fn login_page(
    state: &AppState,
    session: &BrowserSession,
    waiting: &Waiting,
    failure: Option<(String, Refusal)>,
) -> Response {
    let request = &waiting.request;
    let username = match &failure {
        Some((name, _)) => name.as_str(),
        None => request.login_hint.as_deref().unwrap_or_default(),
    };
    pages::render(
        state,
        StatusCode::OK,
        "login.html",
        minijinja::context! {
            action => format!("{}/oauth/authorize", state.issuer),
            client_name => &waiting.client.name,
            hidden => [("request_id", waiting.request_id.as_str())],
            csrf_token => session::csrf_token(state, session),
            username,
            error => failure.map(|(_, refusal)| refusal.message()),
            passkey => pages::passkey_sign_in(state, session).await,
        },
        Some(&request.redirect_uri),
    )
}

fn consent_page(
    state: &AppState,
    session: &BrowserSession,
    waiting: &Waiting,
    username: &str,
) -> Response {
    let scopes = pages::scope_views(&state.claims, &waiting.request.scopes);
    let client = &waiting.client;
    let client_links: Vec<_> = [
        (&client.client_uri, "Website"),
        (&client.policy_uri, "Privacy policy"),
        (&client.tos_uri, "Terms of service"),
    ]
    .into_iter()
    .filter_map(|(href, label)| {
        href.as_deref()
            .map(|href| minijinja::context! { href, label })
    })
    .collect();
    let redirect_host = url::Url::parse(&waiting.request.redirect_uri)
        .ok()
        .map(|u| match u.host_str() {
            Some(host) => host.to_owned(),
            None => format!("{}:", u.scheme()),
        });
    pages::render(
        state,
        StatusCode::OK,
        "consent.html",
        minijinja::context! {
            action => format!("{}/oauth/authorize", state.issuer),
            account_url => format!("{}{}", state.issuer, super::account::PATH),
            client_name => &client.name,
            client_logo => client
                .logo_uri
                .as_ref()
                .map(|_| format!(
                    "{}{}",
                    state.issuer,
                    crate::http::assets::client_logo_path(&client.client_id, client.updated_at)
                )),
            client_links,
            self_registered => client.self_registered(),
            // An app described by its metadata document is known by the host it is on.
            document_host => client
                .document
                .as_ref()
                .and_then(|_| url::Url::parse(&client.client_id).ok())
                .and_then(|u| u.host_str().map(str::to_owned)),
            redirect_host,
            scopes,
            resources => &waiting.request.resource_names,
            username,
            request_id => &waiting.request_id,
            csrf_token => session::csrf_token(state, session),
        },
        Some(&waiting.request.redirect_uri),
    )
}
