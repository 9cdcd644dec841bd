//! The person's side of the authorization code flow: a request validated by
//! `oauth::authorize` that needs the person (to sign in, or to consent) waits in the database,
//! bound to the browser session, until they act. Its stages:
//!
//! ```text
//! begin ──▶ issue a code / error to the client                (nothing to ask)
//!       └─▶ Login ──sign-in (password or passkey)──▶ issue / SecondFactor / Enrol / Consent / error
//!       └─▶ SecondFactor ──code──▶ issue / Consent / error    (the session stepped up)
//!       └─▶ Enrol ──continue──▶ decided again                 (set one up on /account)
//!       └─▶ Consent ──allow──▶ issue (consent remembered)
//!                    └─deny──▶ access_denied
//! any stage ──cancel──▶ access_denied
//! ```
//!
//! Each answer consumes the request first (one statement that only one caller can win): a
//! double submit issues one code.

use serde::{Deserialize, Serialize};

use super::factors::{self, CodeRefusal};
use super::passkeys;
use super::sessions::{self, BrowserSession};
use super::sign_in::{self, Attempt, Refusal, SignIn};
use super::Provider;
use crate::clock::UnixTime;
use crate::crypto;
use crate::oauth::auth_context::Level;
use crate::oauth::authorize::{
    self, Arrival, AuthorizationRequest, Next, Rejection, Rules, SignedIn,
};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::params::Params;
use crate::oauth::redirect::AuthResponse;
use crate::store::clients::Client;
use crate::store::{self, authorization_requests::PendingRow, StoreError};

/// Which page a waiting request is on; an answer for another stage is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Stage {
    Login,
    /// The person signed in, but the app needs a second factor they have.
    SecondFactor,
    /// The app needs a second factor the person has not set up yet.
    Enrol,
    Consent,
}

/// What is stored for a waiting request.
#[derive(Serialize, Deserialize)]
struct Pending {
    stage: Stage,
    request: AuthorizationRequest,
    /// Whether the person signed in for this request (which satisfies `prompt=login` and
    /// `max_age` on the pages that follow).
    #[serde(default)]
    fresh: bool,
}

/// A request waiting for the person, as its page needs it.
pub struct Waiting {
    /// The handle the page's form sends back (only its keyed hash is stored).
    pub request_id: String,
    pub request: AuthorizationRequest,
    pub client: Client,
}

/// What the browser is shown next.
pub enum Page {
    /// The request cannot be trusted (unknown client, unregistered redirect URI): tell the
    /// person, redirect nowhere.
    Error(OAuthError),
    /// The authorization response (a code, or an error) goes to the client.
    Respond(AuthResponse),
    /// Too many sign-in pages for browsers nobody signed in to, from this address.
    Throttled,
    /// The sign-in page; after a refused attempt, the username typed and why.
    Login(Box<Waiting>, Option<(String, Refusal)>),
    /// The page asking for a second factor; after a refused code, why.
    SecondFactor(Box<Waiting>, Option<CodeRefusal>),
    /// The page saying a second factor must be set up first (on the account page).
    Enrol(Box<Waiting>),
    /// The consent page, for this username.
    Consent(Box<Waiting>, String),
}

/// The answer to one step: the page, and the browser's session after it.
pub struct Answer {
    pub page: Page,
    /// The session the browser holds after this step, if any.
    pub session: Option<BrowserSession>,
    /// Whether that session is new: its id must reach the browser.
    pub new_session: bool,
    /// After a sign-in: the device token that marks this browser as one that signed in to
    /// the account.
    pub device_token: Option<String>,
}

impl Answer {
    pub fn page(page: Page, session: Option<BrowserSession>) -> Self {
        Self {
            page,
            session,
            new_session: false,
            device_token: None,
        }
    }
}

/// What the person did on a waiting request's page.
#[derive(Clone, Copy, Debug)]
pub enum Action<'a> {
    Cancel,
    Login(Attempt<'a>),
    /// A one-time or recovery code, or a passkey, from this address.
    SecondFactor(factors::Typed<'a>),
    /// A sign-in with a passkey alone (the form's answer, if it carried one), from this
    /// address and a browser with this User-Agent.
    Passkey {
        answer: Option<factors::PasskeyAnswer<'a>>,
        ip: &'a str,
        user_agent: Option<&'a str>,
    },
    /// Back from setting up a second factor.
    Continue,
    Consent {
        allow: bool,
    },
}

/// The words for a request that is gone (expired, answered, or another browser's).
pub fn expired() -> OAuthError {
    OAuthError::invalid_request(
        "This sign-in page has expired or was already used. Go back to the application and start again.",
    )
}

/// A new authorization request: validated, then answered at once when the person has
/// nothing to do (or `prompt=none` forbids asking), else stored to wait for them in their
/// browser session (made now if there is none; what a browser nobody signed in to makes the
/// server keep is bounded per client address).
pub async fn begin(
    p: Provider<'_>,
    params: &Params,
    rules: &Rules<'_>,
    session: Option<BrowserSession>,
    ip: &str,
) -> Result<Answer, OAuthError> {
    let now = rules.now;
    let (request, client) = match authorize::validate(p.db, params, rules, Arrival::Front).await {
        Ok(v) => v,
        Err(Rejection::Page(e)) => return Ok(Answer::page(Page::Error(e), session)),
        Err(Rejection::Redirect { response, .. }) => {
            return Ok(Answer::page(Page::Respond(response), session))
        }
    };
    // Whoever gave their password here, with what else they still need.
    let user = match &session {
        Some(s) => sessions::identified(p, s).await?,
        None => None,
    };
    let (remembered, need) = match &user {
        Some((s, _)) => (
            store::consents::granted(p.db, &s.user_id, &client.client_id).await?,
            Some(factors::needed(p, &client, &request, &s.user_id).await?),
        ),
        None => (None, None),
    };
    let next = authorize::decide(
        &request,
        user.as_ref().map(|(s, _)| s),
        need.map_or(Level::Password, |n| n.level),
        remembered.as_ref(),
        false,
        now,
    );
    let stage = match next {
        Err(e) => {
            let response = authorize::error_response(&request, &e, p.issuer);
            return Ok(Answer::page(Page::Respond(response), session));
        }
        Ok(Next::Issue) => {
            // decide() only answers Issue for a signed-in user, who has a session.
            let (Some((user, _)), Some(s)) = (&user, &session) else {
                return Err(OAuthError::server_error(&"issue without a session"));
            };
            let response = issue(p, p.db, &request, user, s, now).await?;
            return Ok(Answer::page(Page::Respond(response), session));
        }
        Ok(Next::Login) => Stage::Login,
        Ok(Next::StepUp) => step_up_stage(need),
        Ok(Next::Consent) => Stage::Consent,
    };

    if user.is_none() && !sessions::admit_anonymous(p, ip, now).await? {
        return Ok(Answer::page(Page::Throttled, session));
    }
    let (session, new_session) = match session {
        Some(s) => (s, false),
        None => (sessions::start_anonymous(p, now).await?, true),
    };
    let request_id = crypto::random_token()?;
    let pending = Pending {
        stage,
        request,
        fresh: false,
    };
    store::authorization_requests::insert(
        p.db,
        &PendingRow {
            id_hash: p.secrets.hash(&request_id),
            client_id: client.client_id.clone(),
            session_id_hash: Some(session.row.id_hash.clone()),
            params: to_json(&pending)?,
            created_at: now,
            expires_at: now + p.config.lifetimes.authorization_request.as_i64(),
        },
    )
    .await?;
    let waiting = Box::new(Waiting {
        request_id,
        request: pending.request,
        client,
    });
    let page = match stage {
        Stage::Login => Page::Login(waiting, None),
        Stage::SecondFactor => Page::SecondFactor(waiting, None),
        Stage::Enrol => Page::Enrol(waiting),
        Stage::Consent => Page::Consent(waiting, user.map(|(_, u)| u.username).unwrap_or_default()),
    };
    Ok(Answer {
        page,
        session: Some(session),
        new_session,
        device_token: None,
    })
}

/// The person's answer on a waiting request's page, sent from `session` (whose form token
/// the page has checked).
pub async fn act(
    p: Provider<'_>,
    session: BrowserSession,
    request_id: &str,
    action: Action<'_>,
    now: UnixTime,
) -> Result<Answer, OAuthError> {
    let id_hash = p.secrets.hash(request_id);
    let row =
        store::authorization_requests::find_for_session(p.db, &id_hash, &session.row.id_hash, now)
            .await?
            .ok_or_else(expired)?;
    let pending: Pending =
        serde_json::from_str(&row.params).map_err(|e| OAuthError::server_error(&e))?;
    let client = match store::clients::get(p.db, &row.client_id).await {
        Ok(c) => c,
        Err(StoreError::NotFound) => return Err(expired()),
        Err(e) => return Err(e.into()),
    };
    let fresh = pending.fresh;
    let waiting = Waiting {
        request_id: request_id.to_owned(),
        request: pending.request,
        client,
    };
    match (action, pending.stage) {
        (Action::Cancel, _) => {
            let page = deny(
                p,
                &id_hash,
                &waiting.request,
                "The user cancelled the sign-in.",
            )
            .await?;
            Ok(Answer::page(page, Some(session)))
        }
        (Action::Login(attempt), Stage::Login) => {
            login(p, session, &id_hash, waiting, attempt, now).await
        }
        (Action::SecondFactor(typed), Stage::SecondFactor) => {
            second_factor(p, session, &id_hash, waiting, typed, now).await
        }
        (
            Action::Passkey {
                answer,
                ip,
                user_agent,
            },
            Stage::Login,
        ) => {
            let signed = match answer {
                Some(answer) => {
                    sign_in::sign_in_with_passkey(p, &session, answer, ip, user_agent, now).await?
                }
                None => Err(passkeys::Refusal::Failed),
            };
            match signed {
                Ok(signed) => signed_in(p, signed, &id_hash, waiting, now).await,
                Err(refusal) => {
                    let failure = Some((String::new(), Refusal::Passkey(refusal)));
                    Ok(Answer::page(
                        Page::Login(Box::new(waiting), failure),
                        Some(session),
                    ))
                }
            }
        }
        (Action::Continue, Stage::Enrol | Stage::SecondFactor) => {
            let page = redecide(p, &session, &id_hash, waiting, fresh, now).await?;
            Ok(Answer::page(page, Some(session)))
        }
        (Action::Consent { allow: true }, Stage::Consent)
            if !strong_enough(p, &session, &waiting).await? =>
        {
            // Another sign-in in this browser since the page was shown (a session that
            // used less than this app needs): decided again.
            let page = redecide(p, &session, &id_hash, waiting, fresh, now).await?;
            Ok(Answer::page(page, Some(session)))
        }
        (Action::Consent { allow }, Stage::Consent) => {
            let page = consent(p, &session, &id_hash, &waiting.request, allow, now).await?;
            Ok(Answer::page(page, Some(session)))
        }
        _ => Err(expired()),
    }
}

/// A sign-in on the login page; the request is decided again (a fresh login satisfies
/// `prompt=login` and `max_age`).
async fn login(
    p: Provider<'_>,
    old: BrowserSession,
    id_hash: &str,
    waiting: Waiting,
    attempt: Attempt<'_>,
    now: UnixTime,
) -> Result<Answer, OAuthError> {
    let signed = match sign_in::sign_in(p, &old, attempt, now).await? {
        SignIn::Signed(signed) => *signed,
        SignIn::Refused(refusal) => {
            let failure = Some((attempt.username.to_owned(), refusal));
            return Ok(Answer::page(
                Page::Login(Box::new(waiting), failure),
                Some(old),
            ));
        }
    };
    signed_in(p, signed, id_hash, waiting, now).await
}

/// After a sign-in (a password, or a passkey alone) in a new session: the request decided
/// again, as one the person just signed in for.
async fn signed_in(
    p: Provider<'_>,
    signed: sign_in::Signed,
    id_hash: &str,
    waiting: Waiting,
    now: UnixTime,
) -> Result<Answer, OAuthError> {
    let (signed_in, _) = sessions::identified(p, &signed.session)
        .await?
        .ok_or_else(|| OAuthError::server_error(&"a new session without its user"))?;
    let page = next_page(p, &signed.session, id_hash, waiting, &signed_in, true, now).await?;
    Ok(Answer {
        page,
        session: Some(signed.session),
        new_session: true,
        device_token: signed.device_token,
    })
}

/// The stage a request that needs a higher level goes to: the second factor, or setting
/// one up first.
fn step_up_stage(need: Option<factors::Need>) -> Stage {
    match need {
        Some(n) if !n.has_factor => Stage::Enrol,
        _ => Stage::SecondFactor,
    }
}

/// Decides a waiting request again for the person signed in to `session` (after a sign-in,
/// a second factor, or coming back from setting one up) and moves it to the page that
/// follows, or answers it. `fresh` is true right after they signed in for it.
async fn next_page(
    p: Provider<'_>,
    session: &BrowserSession,
    id_hash: &str,
    waiting: Waiting,
    signed_in: &SignedIn,
    fresh: bool,
    now: UnixTime,
) -> Result<Page, OAuthError> {
    let need = factors::needed(p, &waiting.client, &waiting.request, &signed_in.user_id).await?;
    let remembered =
        store::consents::granted(p.db, &signed_in.user_id, &waiting.client.client_id).await?;
    let stage = match authorize::decide(
        &waiting.request,
        Some(signed_in),
        need.level,
        remembered.as_ref(),
        fresh,
        now,
    ) {
        Ok(Next::Issue) => {
            if !store::authorization_requests::take(p.db, id_hash).await? {
                return Err(OAuthError::invalid_request(
                    "This sign-in request was already completed.",
                ));
            }
            let response = issue(p, p.db, &waiting.request, signed_in, session, now).await?;
            return Ok(Page::Respond(response));
        }
        Ok(Next::StepUp) => step_up_stage(Some(need)),
        Ok(Next::Login) => Stage::Login,
        Ok(Next::Consent) => Stage::Consent,
        Err(e) => {
            store::authorization_requests::take(p.db, id_hash).await?;
            return Ok(Page::Respond(authorize::error_response(
                &waiting.request,
                &e,
                p.issuer,
            )));
        }
    };
    let pending = Pending {
        stage,
        request: waiting.request,
        fresh,
    };
    store::authorization_requests::set_params(p.db, id_hash, &to_json(&pending)?).await?;
    let waiting = Box::new(Waiting {
        request: pending.request,
        ..waiting
    });
    Ok(match stage {
        Stage::Login => Page::Login(waiting, None),
        Stage::SecondFactor => Page::SecondFactor(waiting, None),
        Stage::Enrol => Page::Enrol(waiting),
        Stage::Consent => {
            let username = match store::users::get(p.db, &signed_in.user_id).await {
                Ok(u) => u.username,
                Err(e) => return Err(e.into()),
            };
            Page::Consent(waiting, username)
        }
    })
}

/// The request decided again for the session as it is now; `fresh` when the person signed
/// in for it.
async fn redecide(
    p: Provider<'_>,
    session: &BrowserSession,
    id_hash: &str,
    waiting: Waiting,
    fresh: bool,
    now: UnixTime,
) -> Result<Page, OAuthError> {
    let Some((signed_in, _)) = sessions::identified(p, session).await? else {
        return Err(signed_out());
    };
    next_page(p, session, id_hash, waiting, &signed_in, fresh, now).await
}

/// Whether the session reached the level the waiting request needs.
async fn strong_enough(
    p: Provider<'_>,
    session: &BrowserSession,
    waiting: &Waiting,
) -> Result<bool, OAuthError> {
    let Some((signed_in, _)) = sessions::identified(p, session).await? else {
        // `consent` answers a session that is gone.
        return Ok(true);
    };
    let need = factors::needed(p, &waiting.client, &waiting.request, &signed_in.user_id).await?;
    Ok(signed_in.amr.level() >= need.level)
}

/// A second factor typed on the request's page.
async fn second_factor(
    p: Provider<'_>,
    session: BrowserSession,
    id_hash: &str,
    waiting: Waiting,
    typed: factors::Typed<'_>,
    now: UnixTime,
) -> Result<Answer, OAuthError> {
    let Some((signed_in, user)) = sessions::identified(p, &session).await? else {
        return Err(signed_out());
    };
    match factors::verify(p, &session, &user, typed, now).await? {
        Err(refusal) => Ok(Answer::page(
            Page::SecondFactor(Box::new(waiting), Some(refusal)),
            Some(session),
        )),
        Ok(passed) => {
            let signed_in = SignedIn {
                amr: passed.amr,
                auth_time: now,
                ..signed_in
            };
            // The second factor completes a sign-in for this request.
            let page = next_page(p, &session, id_hash, waiting, &signed_in, true, now).await?;
            Ok(Answer {
                device_token: Some(passed.device_token),
                ..Answer::page(page, Some(session))
            })
        }
    }
}

fn signed_out() -> OAuthError {
    OAuthError::invalid_request(
        "You are no longer signed in. Go back to the application and start again.",
    )
}

/// The consent page's answer: allowed, the consent is remembered and a code issued, in one
/// transaction; denied, `access_denied`.
async fn consent(
    p: Provider<'_>,
    session: &BrowserSession,
    id_hash: &str,
    request: &AuthorizationRequest,
    allow: bool,
    now: UnixTime,
) -> Result<Page, OAuthError> {
    let Some((user, _)) = sessions::signed_in(p, session).await? else {
        return Err(signed_out());
    };
    if !allow {
        return deny(p, id_hash, request, "The user did not consent.").await;
    }
    // The pending request is consumed first (the write that takes the lock): a double
    // submit issues one code.
    let txn = p.db.begin().await?;
    if !store::authorization_requests::take(&txn, id_hash).await? {
        return Err(OAuthError::invalid_request(
            "This request was already answered.",
        ));
    }
    store::consents::add(
        &txn,
        &user.user_id,
        &request.client_id,
        &request.scopes,
        &request.resources,
        now,
    )
    .await?;
    let response = issue(p, &txn, request, &user, session, now).await?;
    txn.commit().await?;
    Ok(Page::Respond(response))
}

/// Consumes the request and answers the client `access_denied`.
async fn deny(
    p: Provider<'_>,
    id_hash: &str,
    request: &AuthorizationRequest,
    description: &'static str,
) -> Result<Page, OAuthError> {
    if !store::authorization_requests::take(p.db, id_hash).await? {
        return Err(OAuthError::invalid_request(
            "This request was already answered.",
        ));
    }
    let error = OAuthError::new(ErrorCode::AccessDenied, description);
    Ok(Page::Respond(authorize::error_response(
        request, &error, p.issuer,
    )))
}

/// Issues the code for `request` to `user`, bound to the session's `sid`.
async fn issue(
    p: Provider<'_>,
    db: &impl sea_orm::ConnectionTrait,
    request: &AuthorizationRequest,
    user: &SignedIn,
    session: &BrowserSession,
    now: UnixTime,
) -> Result<AuthResponse, OAuthError> {
    let sid = sessions::sid(p.secrets, &session.row);
    authorize::issue_code(
        db,
        p.secrets,
        request,
        user,
        Some(&sid),
        p.issuer,
        p.config.lifetimes.authorization_code.as_i64(),
        now,
    )
    .await
}

fn to_json(pending: &Pending) -> Result<String, OAuthError> {
    serde_json::to_string(pending).map_err(|e| OAuthError::server_error(&e))
}
