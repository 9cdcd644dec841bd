//! `GET/POST /account`: a person's own page. Signed out, it signs them in (the same limits as
//! every sign-in); signed in, it lists the apps with access to the account (each can be
//! revoked), the browser sessions (the current one marked, each can be ended), sets up and
//! removes authenticator apps (with their recovery codes), and changes the password. Someone
//! who gave their password but still owes a second factor is asked for it first. Every form carries a CSRF token and answers with a redirect back here, so a
//! reload never repeats it. The rules are `oidc::account`.

use poem::http::{header, HeaderMap, Method, StatusCode};
use poem::web::Data;
use poem::{handler, Body, Request, Response};
use serde::Serialize;

use super::pages;
use super::session;
use crate::clock::UnixTime;
use crate::http::extract;
use crate::oauth::auth_context::{Amr, Level};
use crate::oauth::error::OAuthError;
use crate::oauth::params::Params;
use crate::oidc::account::{self, PasswordChange};
use crate::oidc::factors::{self, CodeRefusal, Confirmed, Enrolment};
use crate::oidc::passkeys;
use crate::oidc::recovery::{self, VerifyAsked};
use crate::oidc::sessions::{self, BrowserSession};
use crate::oidc::sign_in::{self, Attempt, SignIn};
use crate::oidc::sign_out;
use crate::state::AppState;
use crate::store::factors::PASSKEY;

pub const PATH: &str = "/account";

/// What a finished form says on the page it leads back to (`?done=`): fixed words, never
/// the request's own.
const NOTICES: [(&str, &str); 15] = [
    (
        "factor-removed",
        "The authenticator app is removed. The recovery codes went with it: without a second \
         factor, your password alone signs you in.",
    ),
    ("app-removed", "The authenticator app is removed."),
    (
        "confirm-password",
        "You signed in a while ago: give your password again to change how you sign in.",
    ),
    (
        "confirmed",
        "Thank you. For the next 15 minutes you can change how you sign in.",
    ),
    ("passkey-removed", "The passkey is removed."),
    (
        "passkey-removed-last",
        "The passkey is removed. The recovery codes went with it: without a second factor, \
         your password alone signs you in.",
    ),
    ("renamed", "The name is changed."),
    ("revoked", "The app no longer has access to your account."),
    ("ended", "That session is signed out."),
    (
        "password",
        "Your password is changed. Your other sessions are signed out.",
    ),
    ("signed-out", "You are signed out."),
    (
        "password-reset",
        "Your new password is set and every session of your account is signed out. Sign in with it.",
    ),
    (
        "verify-sent",
        "A confirmation link is on its way to your email address.",
    ),
    (
        "verify-too-many",
        "Several confirmation links were sent lately. Use the last one, or try again later.",
    ),
    ("verified", "Your email address is confirmed."),
];

#[handler]
pub async fn endpoint(req: &Request, body: Body, Data(state): Data<&AppState>) -> Response {
    let now = state.clock.now();
    let params = match extract::params(req, body).await {
        Ok(p) => p,
        Err(e) => return pages::error_page(state, &e),
    };
    let ip = extract::client_ip(req);
    let result = if req.method() == Method::POST {
        submit(state, req.headers(), &params, &ip, now).await
    } else {
        show(
            state,
            req.headers(),
            params.get("done"),
            params.get("setup") == Some("totp"),
            &ip,
            now,
        )
        .await
    };
    result.unwrap_or_else(|e| pages::error_page(state, &e))
}

/// An app as the page lists it.
#[derive(Serialize)]
struct AppView {
    client_id: String,
    name: String,
    since: String,
    offline: bool,
    scopes: Vec<pages::ScopeView>,
}

/// A session as the page lists it.
#[derive(Serialize)]
struct SessionView {
    sid: String,
    browser: String,
    signed_in: String,
    last_seen: String,
    current: bool,
}

/// A time as people read it: `2026-12-04 05:40 UTC`.
fn when(t: UnixTime) -> String {
    let text = crate::clock::rfc3339(t);
    format!("{} UTC", text.get(..16).unwrap_or(&text).replace('T', " "))
}

/// What a rendering of the signed-in page shows besides the lists.
#[derive(Default)]
struct Extra<'a> {
    notice: Option<&'a str>,
    error: Option<&'a str>,
    /// An authenticator app being set up.
    enrolment: Option<&'a Enrolment>,
    /// Recovery codes just made, shown this once.
    recovery_codes: Option<&'a [String]>,
    /// The form that takes the password again, before sign-in methods may change.
    confirm_password: bool,
}

/// A generator as the page lists it.
#[derive(Serialize)]
struct FactorView {
    id: String,
    name: String,
    created_at: String,
    last_used_at: Option<String>,
}

async fn show(
    state: &AppState,
    headers: &HeaderMap,
    done: Option<&str>,
    setup: bool,
    ip: &str,
    now: UnixTime,
) -> Result<Response, OAuthError> {
    let p = state.provider();
    let current = session::current(state, headers, now).await?;
    if let Some(current) = &current {
        if let Some((_, user)) = sessions::signed_in(p, current).await? {
            let notice = NOTICES
                .iter()
                .find(|(key, _)| Some(*key) == done)
                .map(|(_, words)| *words);
            let enrolment = match setup {
                true => factors::pending_totp(p, current, &user, now).await?,
                false => None,
            };
            let extra = Extra {
                notice,
                enrolment: enrolment.as_ref(),
                confirm_password: done == Some("confirm-password"),
                ..Extra::default()
            };
            return account_page(state, current, &user, extra, StatusCode::OK, now).await;
        }
        if sessions::identified(p, current).await?.is_some() {
            return Ok(second_factor_page(state, current, None).await);
        }
    }
    // Signed out: a sign-in form, in a session made to carry it.
    let (session, cookies) = match current {
        Some(s) => (s, Vec::new()),
        None => match session::current_or_new(state, headers, ip, now).await? {
            Some(made) => made,
            None => return Ok(pages::too_many_requests(state)),
        },
    };
    let notice = NOTICES
        .iter()
        .find(|(key, _)| Some(*key) == done && matches!(*key, "signed-out" | "password-reset"))
        .map(|(_, words)| *words);
    let response = login_page(state, &session, "", notice, None, StatusCode::OK).await;
    Ok(pages::with_cookies(response, cookies))
}

async fn login_page(
    state: &AppState,
    session: &BrowserSession,
    username: &str,
    notice: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    pages::render(
        state,
        status,
        "account.html",
        minijinja::context! {
            action => format!("{}{PATH}", state.issuer),
            csrf_token => session::csrf_token(state, session),
            username,
            notice,
            error,
            passkey => pages::passkey_sign_in(state, session).await,
        },
        None,
    )
}

/// The second-factor page for someone who gave their password here.
async fn second_factor_page(
    state: &AppState,
    current: &BrowserSession,
    refusal: Option<CodeRefusal>,
) -> Response {
    let form = pages::FactorForm {
        action: format!("{}{PATH}", state.issuer),
        hidden: Vec::new(),
        csrf_token: session::csrf_token(state, current),
        cancel: Some("sign_out"),
        client_name: None,
    };
    pages::second_factor_page(state, current, &form, refusal).await
}

async fn account_page(
    state: &AppState,
    current: &BrowserSession,
    user: &crate::store::users::User,
    extra: Extra<'_>,
    status: StatusCode,
    now: UnixTime,
) -> Result<Response, OAuthError> {
    let p = state.provider();
    let (listed, recovery_left) = factors::list(p, &user.id).await?;
    let (passkeys, factors): (Vec<_>, Vec<_>) = listed.into_iter().partition(|f| f.kind == PASSKEY);
    let view = |f: factors::Listed| FactorView {
        id: f.id,
        name: f.name,
        created_at: when(f.created_at),
        last_used_at: f.last_used_at.map(when),
    };
    let may_change_factors =
        may_change_factors(current, !(passkeys.is_empty() && factors.is_empty()));
    let factors: Vec<FactorView> = factors.into_iter().map(view).collect();
    let passkeys: Vec<FactorView> = passkeys.into_iter().map(view).collect();
    // A passkey can be added right here by a session that may change the factors and
    // signed in lately; others give their password first.
    let recent = account::signed_in_within(current, account::RECENT_SIGN_IN, now);
    let passkey = match (&state.webauthn, may_change_factors && recent) {
        (Some(_), true) => match passkeys::begin_registration(p, current, user, now).await {
            Ok(prompt) => Some(pages::PasskeyView::new(state, prompt)),
            Err(e) => {
                tracing::error!(error = %e.description, "cannot start a passkey registration");
                None
            }
        },
        _ => None,
    };
    let Extra {
        notice,
        error,
        enrolment,
        recovery_codes,
        confirm_password,
    } = extra;
    let enrolment = enrolment.map(|e| {
        minijinja::context! {
            qr_svg => &e.qr_svg,
            secret => &e.secret,
        }
    });
    let apps: Vec<AppView> = account::apps(p.db, &user.id, now)
        .await?
        .into_iter()
        .map(|a| AppView {
            scopes: pages::scope_views(&state.claims, &a.scopes),
            client_id: a.client_id,
            name: a.client_name,
            since: when(a.since),
            offline: a.offline,
        })
        .collect();
    let sessions: Vec<SessionView> = account::sessions(p, &user.id, now)
        .await?
        .into_iter()
        .map(|s| SessionView {
            current: s.id_hash == current.row.id_hash,
            browser: s
                .user_agent
                .unwrap_or_else(|| "A browser that did not say which".to_owned()),
            signed_in: when(s.signed_in_at),
            last_seen: when(s.last_seen_at),
            sid: s.sid,
        })
        .collect();
    Ok(pages::render(
        state,
        status,
        "account.html",
        minijinja::context! {
            action => format!("{}{PATH}", state.issuer),
            csrf_token => session::csrf_token(state, current),
            user => &user.username,
            apps,
            sessions,
            factors,
            passkeys,
            passkey,
            passkeys_offered => state.webauthn.is_some(),
            confirm_password,
            recovery_left,
            enrolment,
            recovery_codes,
            email => crate::store::users::email_of(&user.claims),
            email_verified => user.claims.get("email_verified") == Some(&serde_json::Value::Bool(true)),
            notice,
            error,
        },
        None,
    ))
}

/// Back to the page, with what happened.
fn back(state: &AppState, done: &str) -> Response {
    pages::redirect(&format!("{}{PATH}?done={done}", state.issuer), true)
}

async fn submit(
    state: &AppState,
    headers: &HeaderMap,
    params: &Params,
    ip: &str,
    now: UnixTime,
) -> Result<Response, OAuthError> {
    params.reject_duplicates()?;
    let p = state.provider();
    let Some(current) = session::current(state, headers, now).await? else {
        // The session ended meanwhile: start again.
        return Ok(pages::redirect(&format!("{}{PATH}", state.issuer), true));
    };
    if !session::csrf_ok(state, &current, params.get("csrf_token")) {
        return Err(OAuthError::invalid_request(
            "The form could not be verified. Reload the page and try again.",
        ));
    }
    let device_token = session::device_token(state, headers);
    let device = device_token.as_deref();
    let attempt = |username: &'static str| Attempt {
        username,
        password: "",
        device_token: device_token.as_deref(),
        ip,
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok()),
    };
    let signed_in = sessions::signed_in(p, &current).await?;
    let Some((_, user)) = signed_in else {
        if let Some((_, owed_user)) = sessions::identified(p, &current).await? {
            // The password was given; the second factor is owed.
            return match params.get("step") {
                Some("second_factor") => {
                    second_factor(state, &current, &owed_user, params, ip, device, now).await
                }
                Some("sign_out") => sign_out_here(state, &current, now).await,
                _ => Ok(pages::redirect(&format!("{}{PATH}", state.issuer), true)),
            };
        }
        if params.get("step") == Some("passkey") {
            return sign_in_with_passkey(state, headers, &current, params, ip, now).await;
        }
        if params.get("step") != Some("login") {
            return Ok(pages::redirect(&format!("{}{PATH}", state.issuer), true));
        }
        let username = params.get("username").unwrap_or_default();
        let login = Attempt {
            username,
            password: params.get("password").unwrap_or_default(),
            ..attempt("")
        };
        return match sign_in::sign_in(p, &current, login, now).await? {
            SignIn::Signed(signed) => Ok(pages::with_cookies(
                pages::redirect(&format!("{}{PATH}", state.issuer), true),
                session::cookies(state, Some(&signed.session), signed.device_token.as_deref()),
            )),
            SignIn::Refused(refusal) => Ok(login_page(
                state,
                &current,
                username,
                None,
                Some(refusal.message()),
                StatusCode::OK,
            )
            .await),
        };
    };
    let step = params.get("step");
    if matches!(
        step,
        Some(
            "totp_begin"
                | "totp_confirm"
                | "remove_factor"
                | "recovery_codes"
                | "passkey_add"
                | "passkey_register"
                | "rename_factor"
        )
    ) {
        if !may_change_factors(&current, factors::has_factor(p, &user.id).await?) {
            // Only a session that used the second factor may change the second factors.
            return Ok(second_factor_page(state, &current, None).await);
        }
        // And only one that signed in lately (or gave its password again): whoever holds a
        // session left open, or a stolen cookie, cannot plant a way in or take the owner's
        // codes. A passkey's registration, started while recent, may finish within its
        // ceremony's time.
        let within = match step {
            Some("passkey_register") => account::RECENT_SIGN_IN + passkeys::CEREMONY_SECONDS,
            _ => account::RECENT_SIGN_IN,
        };
        if !account::signed_in_within(&current, within, now) {
            return Ok(back(state, "confirm-password"));
        }
    }
    match step {
        // A session that used the password alone steps up (`login.second_factor =
        // "requested"`), then is back here.
        Some("second_factor") => {
            second_factor(state, &current, &user, params, ip, device, now).await
        }
        Some("totp_begin") => {
            factors::begin_totp(p, &current, &user, now).await?;
            Ok(pages::redirect(
                &format!("{}{PATH}?setup=totp#two-step", state.issuer),
                true,
            ))
        }
        Some("totp_confirm") => {
            let code = params.get("code").unwrap_or_default();
            match factors::confirm_totp(p, &current, &user, code, ip, now).await? {
                Confirmed::Done { recovery_codes } => {
                    let extra = Extra {
                        notice: Some("Two-step verification is on."),
                        recovery_codes: recovery_codes.as_deref(),
                        ..Extra::default()
                    };
                    account_page(state, &current, &user, extra, StatusCode::OK, now).await
                }
                Confirmed::Refused(refusal) => {
                    let enrolment = factors::pending_totp(p, &current, &user, now).await?;
                    let extra = Extra {
                        error: Some(refusal.message()),
                        enrolment: enrolment.as_ref(),
                        ..Extra::default()
                    };
                    account_page(state, &current, &user, extra, StatusCode::OK, now).await
                }
                Confirmed::Nothing => Ok(back(state, "")),
            }
        }
        Some("remove_factor") => {
            let removed = factors::remove(p, &user.id, params.require("factor_id")?).await?;
            let done = match removed {
                None => "",
                Some(r) => match (r.kind.as_str(), r.last) {
                    (PASSKEY, true) => "passkey-removed-last",
                    (PASSKEY, false) => "passkey-removed",
                    (_, true) => "factor-removed",
                    (_, false) => "app-removed",
                },
            };
            Ok(back(state, done))
        }
        // The form to add one shows once the session may (see above).
        Some("passkey_add") => Ok(pages::redirect(
            &format!("{}{PATH}#passkeys", state.issuer),
            true,
        )),
        Some("confirm_password") => {
            let confirmed = account::confirm_password(
                p,
                &current,
                &user,
                Attempt {
                    password: params.get("current_password").unwrap_or_default(),
                    ..attempt("")
                },
                now,
            )
            .await?;
            match confirmed {
                Ok(()) => Ok(back(state, "confirmed")),
                Err(refusal) => {
                    let words = match refusal {
                        sign_in::Refusal::WrongCredentials => "That password is wrong.",
                        _ => refusal.message(),
                    };
                    let extra = Extra {
                        error: Some(words),
                        confirm_password: true,
                        ..Extra::default()
                    };
                    account_page(state, &current, &user, extra, StatusCode::OK, now).await
                }
            }
        }
        Some("passkey_register") => {
            let Some(answer) = pages::passkey_answer(params) else {
                return Ok(back(state, ""));
            };
            let registered = passkeys::finish_registration(
                p,
                &current,
                &user,
                answer.ceremony,
                answer.response,
                params.get("name").unwrap_or_default(),
                now,
            )
            .await?;
            let mut shown = current.clone();
            let extra = match &registered {
                Ok(done) => {
                    // The session used the new passkey: the page shows what it now may do.
                    shown.row.amr = Some(done.amr.to_stored());
                    Extra {
                        notice: Some("Your passkey is added. You can sign in with it alone."),
                        recovery_codes: done.recovery_codes.as_deref(),
                        ..Extra::default()
                    }
                }
                Err(refusal) => Extra {
                    error: Some(refusal.message()),
                    ..Extra::default()
                },
            };
            account_page(state, &shown, &user, extra, StatusCode::OK, now).await
        }
        Some("rename_factor") => {
            let factor_id = params.require("factor_id")?;
            let Some(name) = factors::factor_name(params.get("name").unwrap_or_default()) else {
                let extra = Extra {
                    error: Some("Give it a name."),
                    ..Extra::default()
                };
                return account_page(state, &current, &user, extra, StatusCode::OK, now).await;
            };
            let renamed = factors::rename(p, &user.id, factor_id, &name).await?;
            Ok(back(state, if renamed { "renamed" } else { "" }))
        }
        Some("recovery_codes") => {
            let codes = factors::regenerate_recovery_codes(p, &user.id, now).await?;
            let extra = Extra {
                notice: codes
                    .is_some()
                    .then_some("New recovery codes are made; the old ones no longer work."),
                recovery_codes: codes.as_deref(),
                ..Extra::default()
            };
            account_page(state, &current, &user, extra, StatusCode::OK, now).await
        }
        Some("revoke_app") => {
            let client_id = params.require("client_id")?;
            account::revoke_app(p, &user.id, client_id, now).await?;
            tracing::info!(user_id = %user.id, client_id, "app access revoked on the account page");
            Ok(back(state, "revoked"))
        }
        Some("end_session") => {
            let sid = params.require("sid")?;
            if sid == sessions::sid(p.secrets, &current.row) {
                return sign_out_here(state, &current, now).await;
            }
            account::end_session(p, &user.id, sid, now).await?;
            Ok(back(state, "ended"))
        }
        Some("sign_out") => sign_out_here(state, &current, now).await,
        Some("send_verification") => send_verification(state, &user, now).await,
        Some("password") => {
            let changed = account::change_password(
                p,
                &current,
                &user,
                Attempt {
                    password: params.get("current_password").unwrap_or_default(),
                    ..attempt("")
                },
                params.get("new_password").unwrap_or_default().to_owned(),
                now,
            )
            .await?;
            match changed {
                PasswordChange::Changed => Ok(back(state, "password")),
                PasswordChange::Refused(refusal) => {
                    let words = match refusal {
                        sign_in::Refusal::WrongCredentials => "Your current password is wrong.",
                        sign_in::Refusal::TooManyFailures | sign_in::Refusal::Passkey(_) => {
                            refusal.message()
                        }
                    };
                    let extra = Extra {
                        error: Some(words),
                        ..Extra::default()
                    };
                    account_page(state, &current, &user, extra, StatusCode::OK, now).await
                }
                PasswordChange::Invalid(words) => {
                    let extra = Extra {
                        error: Some(&words),
                        ..Extra::default()
                    };
                    account_page(state, &current, &user, extra, StatusCode::OK, now).await
                }
            }
        }
        _ => Err(OAuthError::invalid_request(
            "The form names no step this page knows.",
        )),
    }
}

/// A second factor typed here: on success, back to the page (this browser now trusted for
/// the account), else the form again with why.
async fn second_factor(
    state: &AppState,
    current: &BrowserSession,
    user: &crate::store::users::User,
    params: &Params,
    ip: &str,
    device_token: Option<&str>,
    now: UnixTime,
) -> Result<Response, OAuthError> {
    let typed = pages::typed_factor(params, ip, device_token);
    match factors::verify(state.provider(), current, user, typed, now).await? {
        Ok(passed) => Ok(pages::with_cookies(
            pages::redirect(&format!("{}{PATH}", state.issuer), true),
            session::cookies(state, None, Some(&passed.device_token)),
        )),
        Err(refusal) => Ok(second_factor_page(state, current, Some(refusal)).await),
    }
}

/// Whether `session` may add, rename or remove second factors: one that used a second factor,
/// or any for an account without one.
fn may_change_factors(session: &BrowserSession, has_factor: bool) -> bool {
    !has_factor || Amr::from_stored(session.row.amr.as_deref()).level() >= Level::Mfa
}

/// A sign-in here with a passkey alone: back to the page signed in, or the sign-in form
/// again with why not.
async fn sign_in_with_passkey(
    state: &AppState,
    headers: &HeaderMap,
    current: &BrowserSession,
    params: &Params,
    ip: &str,
    now: UnixTime,
) -> Result<Response, OAuthError> {
    let outcome = match pages::passkey_answer(params) {
        Some(answer) => {
            let user_agent = headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok());
            sign_in::sign_in_with_passkey(state.provider(), current, answer, ip, user_agent, now)
                .await?
        }
        None => Err(passkeys::Refusal::Failed),
    };
    match outcome {
        Ok(signed) => Ok(pages::with_cookies(
            pages::redirect(&format!("{}{PATH}", state.issuer), true),
            session::cookies(state, Some(&signed.session), signed.device_token.as_deref()),
        )),
        Err(refusal) => Ok(login_page(
            state,
            current,
            "",
            None,
            Some(refusal.message()),
            StatusCode::OK,
        )
        .await),
    }
}

/// Mails the user a link that confirms their address, when mail is set up and the address is
/// not confirmed yet; back to the page with what happened.
async fn send_verification(
    state: &AppState,
    user: &crate::store::users::User,
    now: UnixTime,
) -> Result<Response, OAuthError> {
    let Some(mailer) = state.mailer.clone() else {
        return Err(OAuthError::invalid_request(
            "This server sends no mail, so it cannot confirm addresses.",
        ));
    };
    match recovery::verification_link(state.provider(), user, now).await? {
        Ok((token, email)) => {
            let (state, user) = (state.clone(), user.clone());
            let answer = back(&state, "verify-sent");
            std::sync::Arc::clone(&mailer).spawn(async move {
                recovery::send_verification(state.provider(), &mailer, &user, &token, &email).await;
            });
            Ok(answer)
        }
        Err(VerifyAsked::TooMany) => Ok(back(state, "verify-too-many")),
        Err(VerifyAsked::Nothing) => Ok(back(state, "")),
    }
}

/// Ends this browser's session (telling the apps that took part) and clears its cookie.
async fn sign_out_here(
    state: &AppState,
    current: &BrowserSession,
    now: UnixTime,
) -> Result<Response, OAuthError> {
    let txn = state.db.begin().await?;
    let frames = sign_out::end_sessions(
        state.provider(),
        &txn,
        std::slice::from_ref(&current.row),
        now,
    )
    .await?;
    txn.commit().await?;
    let done = format!("{}{PATH}?done=signed-out", state.issuer);
    let response = if frames.is_empty() {
        pages::redirect(&done, true)
    } else {
        pages::signed_out_with_frames(state, &frames, Some(&done))
    };
    Ok(pages::with_cookie(
        response,
        Some(session::clear_cookie(state)),
    ))
}
