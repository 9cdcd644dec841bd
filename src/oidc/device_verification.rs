//! The person's side of the device flow (RFC 8628 3.3): they type the code their device
//! shows, sign in if needed, see what the device asks for, and approve or deny.
//!
//! Every code typed is counted (per browser session and per client address) before it is
//! looked up; past the limit no more are checked. The later steps (sign-in, decision) carry
//! a proof that this browser session verified that very code and was shown it: a code
//! carried without it is counted as a guess and refused, so those steps can neither test
//! codes nor approve a device blindly.

use super::factors::{self, CodeRefusal};
use super::sessions::{self, BrowserSession};
use super::sign_in::{self, Attempt, Refusal, SignIn};
use super::Provider;
use crate::abuse::{self, Verdict};
use crate::clock::UnixTime;
use crate::crypto::{self, KeyedHasher};
use crate::metrics::Metrics;
use crate::oauth::device::{self, Lookup};
use crate::oauth::error::OAuthError;
use crate::oauth::resource;
use crate::oauth::scope;
use crate::store;
use crate::store::clients::Client;
use crate::store::device_codes::DeviceRow;

/// A step of the verification page, as the form sent it.
#[derive(Clone, Copy, Debug)]
pub enum Step<'a> {
    /// The person typed a code.
    Code,
    /// The person signed in with a password, for the code they verified.
    Login(Attempt<'a>),
    /// The person signed in with a passkey alone (the form's answer, if it carried one), from
    /// this address and a browser with this User-Agent.
    Passkey {
        answer: Option<factors::PasskeyAnswer<'a>>,
        ip: &'a str,
        user_agent: Option<&'a str>,
    },
    /// The person gave a second factor (a one-time or recovery code, or a passkey).
    SecondFactor(factors::Typed<'a>),
    /// The person is back from setting up a second factor.
    Continue,
    /// The person approved or denied the code they verified.
    Decide { approve: bool },
}

/// Why a code was not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    /// Too many wrong codes from this browser or address.
    TooMany,
    /// No such code (or one this session did not verify).
    NotValid,
    /// Expired, answered or used.
    Finished,
}

impl Problem {
    /// The words shown to the person.
    pub fn message(self) -> &'static str {
        match self {
            Self::TooMany => "Too many wrong codes. Wait a few minutes, then try again.",
            Self::NotValid => {
                "That code is not valid. Check the code on your device and try again."
            }
            Self::Finished => {
                "That code has expired or was already used. Start again on your device."
            }
        }
    }
}

/// A pending code this session verified, as its pages need it.
pub struct Verified {
    /// The code, as shown to people (`BCDF-GHJK`).
    pub shown: String,
    /// The proof the next form carries.
    pub proof: String,
    pub client: Client,
    /// The scopes the device asks for.
    pub scopes: Vec<String>,
    /// What the resources it asks for (RFC 8707) are called.
    pub resource_names: Vec<String>,
}

/// What the browser is shown next.
pub enum Page {
    /// The code entry form again, with what was typed (if it is worth showing) and why.
    Entry { typed: String, problem: Problem },
    /// The sign-in form for a verified code; after a refused attempt, the username typed
    /// and why.
    Login(Box<Verified>, Option<(String, Refusal)>),
    /// The second factor form for a verified code; after a refused code, why.
    SecondFactor(Box<Verified>, Option<CodeRefusal>),
    /// The app needs a second factor the person has not set up yet.
    Enrol(Box<Verified>),
    /// The approval form for a verified code, for this username.
    Confirm(Box<Verified>, String),
    /// The decision was recorded.
    Answered { approved: bool },
}

/// The answer to one step: the page, and the browser's session after it.
pub struct Answer {
    pub page: Page,
    pub session: BrowserSession,
    /// Whether the session is new (a sign-in): its id must reach the browser.
    pub new_session: bool,
    /// After a sign-in or a second factor: the device token that marks this browser as one
    /// that signed in to the account.
    pub device_token: Option<String>,
}

/// The proof that `session` verified `code` (normalized) and was shown it.
pub fn proof(secrets: &KeyedHasher, session: &BrowserSession, code: &str) -> String {
    crypto::b64url(&secrets.mac(&[b"device-code", session.id.as_bytes(), code.as_bytes()]))
}

fn proof_ok(
    secrets: &KeyedHasher,
    session: &BrowserSession,
    typed: &str,
    presented: Option<&str>,
) -> bool {
    let (Some(code), Some(presented)) = (device::normalize(typed), presented) else {
        return false;
    };
    crypto::constant_time_eq(
        presented.as_bytes(),
        proof(secrets, session, &code).as_bytes(),
    )
}

/// One step of the page for the code `typed`, from `session` (whose form token the page has
/// checked); `presented` is the proof the form carried.
pub async fn step(
    p: Provider<'_>,
    session: BrowserSession,
    typed: &str,
    presented: Option<&str>,
    step: Step<'_>,
    ip: &str,
    now: UnixTime,
) -> Result<Answer, OAuthError> {
    let page = |page| Answer {
        page,
        session: session.clone(),
        new_session: false,
        device_token: None,
    };
    if !matches!(step, Step::Code) && !proof_ok(p.secrets, &session, typed, presented) {
        let problem = unverified(p, &session, ip, now).await?;
        return Ok(page(Page::Entry {
            typed: String::new(),
            problem,
        }));
    }
    match step {
        Step::Code => Ok(page(enter_code(p, &session, typed, ip, now).await?)),
        Step::Login(attempt) => login(p, session, typed, How::Password(attempt), now).await,
        Step::Passkey {
            answer,
            ip,
            user_agent,
        } => {
            let how = How::Passkey {
                answer,
                ip,
                user_agent,
            };
            login(p, session, typed, how, now).await
        }
        Step::SecondFactor(typed_factor) => {
            second_factor(p, session, typed, typed_factor, now).await
        }
        Step::Continue => Ok(page(match pending(p, typed, now).await? {
            Some((code, row, client)) => next_page(p, &session, &code, &row, client, None).await?,
            None => finished(),
        })),
        Step::Decide { approve } => Ok(page(decide(p, &session, typed, approve, now).await?)),
    }
}

/// A later step carrying a code this session did not verify: counted as a wrong code, and
/// refused without looking the code up.
async fn unverified(
    p: Provider<'_>,
    session: &BrowserSession,
    ip: &str,
    now: UnixTime,
) -> Result<Problem, OAuthError> {
    let rules = abuse::device_code(p.config, &session.row.id_hash, ip);
    let problem = match abuse::reserve(p.db, &rules, now).await?.verdict {
        Verdict::Refused(_) => Problem::TooMany,
        Verdict::Allowed => Problem::NotValid,
    };
    tracing::info!(ip, "device form with a code this session did not verify");
    Ok(problem)
}

async fn enter_code(
    p: Provider<'_>,
    session: &BrowserSession,
    typed: &str,
    ip: &str,
    now: UnixTime,
) -> Result<Page, OAuthError> {
    let entry = |problem| Page::Entry {
        typed: typed.to_owned(),
        problem,
    };
    let rules = abuse::device_code(p.config, &session.row.id_hash, ip);
    if let Verdict::Refused(_) = abuse::reserve(p.db, &rules, now).await?.verdict {
        Metrics::incr(&p.metrics.device_code_throttled);
        tracing::warn!(ip, "device code guessing throttled");
        return Ok(entry(Problem::TooMany));
    }
    let code = device::normalize(typed);
    let found = match &code {
        Some(code) => device::lookup(p.db, p.secrets, code, now).await?,
        None => Lookup::Unknown,
    };
    match (found, code) {
        // The counted attempt stays: it was a wrong code.
        (Lookup::Unknown, _) | (_, None) => Ok(entry(Problem::NotValid)),
        (Lookup::Finished, _) => {
            abuse::release(p.db, &rules, now).await?;
            Ok(entry(Problem::Finished))
        }
        (Lookup::Pending { row, client }, Some(code)) => {
            abuse::release(p.db, &rules, now).await?;
            next_page(p, session, &code, &row, *client, None).await
        }
    }
}

/// The sign-in form when nobody is signed in (or an attempt was refused), the approval form
/// otherwise.
async fn next_page(
    p: Provider<'_>,
    session: &BrowserSession,
    code: &str,
    row: &DeviceRow,
    client: Client,
    failure: Option<(String, Refusal)>,
) -> Result<Page, OAuthError> {
    let user = match failure {
        None => sessions::identified(p, session).await?,
        Some(_) => None,
    };
    let stage = match &user {
        Some((signed_in, _)) => {
            let need = factors::needed_for_client(p, &client, &signed_in.user_id).await?;
            (signed_in.amr.level() < need.level).then_some(need.has_factor)
        }
        None => None,
    };
    let resources = resource::from_stored(&row.resources)?;
    let resource_names = store::resources::find_many(p.db, &resources)
        .await?
        .into_iter()
        .map(|r| r.name)
        .collect();
    let verified = Box::new(Verified {
        shown: device::display(code),
        proof: proof(p.secrets, session, code),
        client,
        scopes: scope::split(&row.scope),
        resource_names,
    });
    Ok(match (user, stage) {
        (Some(_), Some(true)) => Page::SecondFactor(verified, None),
        (Some(_), Some(false)) => Page::Enrol(verified),
        (Some((_, user)), None) => Page::Confirm(verified, user.username),
        (None, _) => Page::Login(verified, failure),
    })
}

/// Re-reads the code carried by a later form: it must still be pending.
async fn pending(
    p: Provider<'_>,
    typed: &str,
    now: UnixTime,
) -> Result<Option<(String, DeviceRow, Client)>, OAuthError> {
    let Some(code) = device::normalize(typed) else {
        return Ok(None);
    };
    match device::lookup(p.db, p.secrets, &code, now).await? {
        Lookup::Pending { row, client } => Ok(Some((code, *row, *client))),
        Lookup::Unknown | Lookup::Finished => Ok(None),
    }
}

fn finished() -> Page {
    Page::Entry {
        typed: String::new(),
        problem: Problem::Finished,
    }
}

/// How the person signs in on the device page.
enum How<'a> {
    Password(Attempt<'a>),
    Passkey {
        answer: Option<factors::PasskeyAnswer<'a>>,
        ip: &'a str,
        user_agent: Option<&'a str>,
    },
}

async fn login(
    p: Provider<'_>,
    old: BrowserSession,
    typed: &str,
    how: How<'_>,
    now: UnixTime,
) -> Result<Answer, OAuthError> {
    let Some((code, row, client)) = pending(p, typed, now).await? else {
        return Ok(Answer {
            page: finished(),
            session: old,
            new_session: false,
            device_token: None,
        });
    };
    let signed = match how {
        How::Password(attempt) => match sign_in::sign_in(p, &old, attempt, now).await? {
            SignIn::Signed(signed) => Ok(*signed),
            SignIn::Refused(refusal) => Err((attempt.username.to_owned(), refusal)),
        },
        How::Passkey {
            answer: Some(answer),
            ip,
            user_agent,
        } => sign_in::sign_in_with_passkey(p, &old, answer, ip, user_agent, now)
            .await?
            .map_err(|refusal| (String::new(), Refusal::Passkey(refusal))),
        How::Passkey { answer: None, .. } => Err((
            String::new(),
            Refusal::Passkey(super::passkeys::Refusal::Failed),
        )),
    };
    match signed {
        Err(failure) => {
            let page = next_page(p, &old, &code, &row, client, Some(failure)).await?;
            Ok(Answer {
                page,
                session: old,
                new_session: false,
                device_token: None,
            })
        }
        Ok(signed) => {
            let page = next_page(p, &signed.session, &code, &row, client, None).await?;
            Ok(Answer {
                page,
                session: signed.session,
                new_session: true,
                device_token: signed.device_token,
            })
        }
    }
}

/// A second factor typed for the code this session verified.
async fn second_factor(
    p: Provider<'_>,
    session: BrowserSession,
    typed: &str,
    factor: factors::Typed<'_>,
    now: UnixTime,
) -> Result<Answer, OAuthError> {
    let answer = |page, session, device_token| Answer {
        page,
        session,
        new_session: false,
        device_token,
    };
    let Some((user_code, row, client)) = pending(p, typed, now).await? else {
        return Ok(answer(finished(), session, None));
    };
    let Some((_, user)) = sessions::identified(p, &session).await? else {
        let page = next_page(p, &session, &user_code, &row, client, None).await?;
        return Ok(answer(page, session, None));
    };
    match factors::verify(p, &session, &user, factor, now).await? {
        Ok(passed) => {
            // The session row changed: read it again.
            let session = sessions::find(p, session.id.clone(), now)
                .await?
                .ok_or_else(signed_out)?;
            let page = next_page(p, &session, &user_code, &row, client, None).await?;
            Ok(answer(page, session, Some(passed.device_token)))
        }
        Err(refusal) => {
            let mut page = next_page(p, &session, &user_code, &row, client, None).await?;
            if let Page::SecondFactor(_, why) = &mut page {
                *why = Some(refusal);
            }
            Ok(answer(page, session, None))
        }
    }
}

fn signed_out() -> OAuthError {
    OAuthError::invalid_request("You are no longer signed in. Start again.")
}

/// Records the signed-in person's answer for the code; an approval remembers the consent.
async fn decide(
    p: Provider<'_>,
    session: &BrowserSession,
    typed: &str,
    approve: bool,
    now: UnixTime,
) -> Result<Page, OAuthError> {
    let Some((signed_in, _)) = sessions::identified(p, session).await? else {
        return Err(signed_out());
    };
    let Some((code, row, client)) = pending(p, typed, now).await? else {
        return Ok(finished());
    };
    // Only a session at the level the app needs may answer for it.
    let need = factors::needed_for_client(p, &client, &signed_in.user_id).await?;
    if signed_in.amr.level() < need.level {
        return next_page(p, session, &code, &row, client, None).await;
    }
    let user_id = &signed_in.user_id;
    let sid = sessions::sid(p.secrets, &session.row);
    let amr = signed_in.amr.to_stored();
    let approval = approve.then_some(store::device_codes::Approval {
        user_id,
        auth_time: signed_in.auth_time,
        amr: &amr,
        sid: &sid,
    });
    if !device::answer(p.db, p.secrets, &code, approval, now).await? {
        return Ok(finished());
    }
    if approve {
        let scopes = scope::split(&row.scope);
        let resources = resource::from_stored(&row.resources)?;
        store::consents::add(p.db, user_id, &row.client_id, &scopes, &resources, now).await?;
    }
    tracing::info!(client_id = %row.client_id, approve, "device authorization answered");
    Ok(Page::Answered { approved: approve })
}
