//! Abuse policy: every limit on guessing and on anonymous state, declared once with the
//! setting that bounds it, and the one place that counts against them. Counters live in the
//! database (fixed windows), so a limit holds across instances and restarts. The adapters
//! only ask: which rules apply to this attempt, and may it go ahead.
//!
//! No limit is keyed by something an attacker can name alone and exhaust for someone else:
//! client failures are counted per address (and per client id from one address), and an
//! account's sign-in lockout spares browsers that have signed in to it before (OWASP's
//! device cookies).

use sea_orm::ConnectionTrait;

use crate::clock::UnixTime;
use crate::config::Config;
use crate::crypto::{self, KeyedHasher};
use crate::store::{self, StoreError};

/// The limits, each with what it counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// Failed sign-ins to one account from browsers without its device cookie
    /// (`login.failures_per_account`).
    LoginAccount,
    /// Failed sign-ins to one account from one browser holding its device cookie (the same
    /// bound, counted for that cookie alone).
    LoginDevice,
    /// Failed sign-ins from one client address (`login.failures_per_ip`).
    LoginAddress,
    /// Wrong one-time or recovery codes for one account from browsers that have not passed
    /// its second factor before (the `login.failures_per_account` bound): only someone who
    /// already gave its password reaches them.
    SecondFactor,
    /// Wrong codes for one account from one browser that passed its second factor before
    /// (its device cookie, issued only then): the same bound, counted for that browser
    /// alone, so someone who has the password cannot lock the owner out.
    SecondFactorDevice,
    /// Sign-in pages started by browsers without a signed-in session, per client address
    /// (`login.pending_requests_per_ip`): what one address may make the server store.
    PendingRequests,
    /// Wrong user codes typed in one browser session (`device.guesses_per_session`).
    DeviceCodeSession,
    /// Wrong user codes typed from one client address (`device.guesses_per_ip`).
    DeviceCodeAddress,
    /// Failed client authentications for one client id from one client address
    /// (`client_auth.failures_per_client`).
    ClientAuthClient,
    /// Failed client authentications from one client address (`client_auth.failures_per_ip`).
    ClientAuthAddress,
    /// Password-reset mails to one account asked from browsers that have not signed in to
    /// it before, from any address (`mail.per_account`): what keeps its mailbox from being
    /// flooded.
    MailAccount,
    /// Password-reset mails to one account asked from one client address by browsers that
    /// have not signed in to it before (`mail.per_account_per_ip`): one address cannot spend
    /// the account's count alone.
    MailAccountAddress,
    /// Password-reset mails to one account asked from one browser that signed in to it
    /// before (its device cookie; the `mail.per_account_per_ip` bound): counted for that
    /// browser alone, so strangers who spend the account's count do not keep its owner from
    /// a reset.
    MailDevice,
    /// Verification mails to one account, asked for on its own account page (the
    /// `mail.per_account_per_ip` bound).
    MailVerify,
    /// Mails asked for from one client address (`mail.per_ip`), whether or not any was sent.
    MailAddress,
    /// Apps registered from one client address while registration is open
    /// (`registration.per_ip`).
    Registrations,
    /// New client metadata documents one client address made the server fetch (the same
    /// bound, counted apart, so neither spends the other's).
    Documents,
}

impl Limit {
    fn prefix(self) -> &'static str {
        match self {
            Self::LoginAccount => "login:account",
            Self::LoginDevice => "login:device",
            Self::LoginAddress => "login:ip",
            Self::SecondFactor => "second-factor:account",
            Self::SecondFactorDevice => "second-factor:device",
            Self::PendingRequests => "pending:ip",
            Self::DeviceCodeSession => "device-guess:session",
            Self::DeviceCodeAddress => "device-guess:ip",
            Self::ClientAuthClient => "client-auth:client-ip",
            Self::ClientAuthAddress => "client-auth:ip",
            Self::MailAccount => "mail:account",
            Self::MailAccountAddress => "mail:account-ip",
            Self::MailDevice => "mail:device",
            Self::MailVerify => "mail:verify",
            Self::MailAddress => "mail:ip",
            Self::Registrations => "register:ip",
            Self::Documents => "document:ip",
        }
    }

    /// (most attempts, window in seconds) from the settings.
    fn bound(self, config: &Config) -> (i64, i64) {
        let login = &config.login;
        let device = &config.device;
        let client = &config.client_auth;
        let (max, window) = match self {
            Self::LoginAccount
            | Self::LoginDevice
            | Self::SecondFactor
            | Self::SecondFactorDevice => (login.failures_per_account, login.window),
            Self::LoginAddress => (login.failures_per_ip, login.window),
            Self::PendingRequests => (login.pending_requests_per_ip, login.window),
            Self::DeviceCodeSession => (device.guesses_per_session, device.guess_window),
            Self::DeviceCodeAddress => (device.guesses_per_ip, device.guess_window),
            Self::ClientAuthClient => (client.failures_per_client, client.window),
            Self::ClientAuthAddress => (client.failures_per_ip, client.window),
            Self::MailAccount => (config.mail.per_account, config.mail.window),
            Self::MailAccountAddress | Self::MailDevice | Self::MailVerify => {
                (config.mail.per_account_per_ip, config.mail.window)
            }
            Self::MailAddress => (config.mail.per_ip, config.mail.window),
            Self::Registrations | Self::Documents => {
                (config.registration.per_ip, config.registration.window)
            }
        };
        (i64::from(max), window.as_i64())
    }
}

/// One limit applied to one subject (an account, an address, a session...).
#[derive(Clone, Debug)]
pub struct Rule {
    pub limit: Limit,
    key: String,
    max: i64,
    window: i64,
}

impl Rule {
    pub fn new(config: &Config, limit: Limit, subject: &str) -> Self {
        let (max, window) = limit.bound(config);
        // Bounded, so a long name cannot make a long key.
        let subject: String = subject.chars().take(128).collect();
        Self {
            key: format!("{}:{subject}", limit.prefix()),
            limit,
            max,
            window,
        }
    }

    /// (key, most attempts, window): what a query that joins the check needs.
    pub fn parts(&self) -> (&str, i64, i64) {
        (&self.key, self.max, self.window)
    }
}

/// Whether an attempt may go ahead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Held back by this limit until its window ends.
    Refused(Limit),
}

/// The rules for a sign-in to `account` (canonical username) from `address`. A browser
/// that proves it signed in to this account before (`trusted`, its device id) is counted on
/// its own, not against the account: naming an account cannot lock its owner out.
pub fn login(config: &Config, account: &str, trusted: Option<&str>, address: &str) -> Vec<Rule> {
    let first = match trusted {
        Some(device) => Rule::new(config, Limit::LoginDevice, device),
        None => Rule::new(config, Limit::LoginAccount, account),
    };
    vec![first, Rule::new(config, Limit::LoginAddress, address)]
}

/// The rules for a second factor (a one-time or recovery code) typed for `user_id` from
/// `address`. Per account (the page is only reached with the account's password, so only
/// someone who has it can spend this count), or, for a browser that passed this account's
/// second factor before (`trusted`, its device id), per browser.
pub fn second_factor(
    config: &Config,
    user_id: &str,
    trusted: Option<&str>,
    address: &str,
) -> Vec<Rule> {
    let first = match trusted {
        Some(device) => Rule::new(config, Limit::SecondFactorDevice, device),
        None => Rule::new(config, Limit::SecondFactor, user_id),
    };
    vec![first, Rule::new(config, Limit::LoginAddress, address)]
}

/// The rules for a typed user code: per browser session and per address.
pub fn device_code(config: &Config, session: &str, address: &str) -> Vec<Rule> {
    vec![
        Rule::new(config, Limit::DeviceCodeSession, session),
        Rule::new(config, Limit::DeviceCodeAddress, address),
    ]
}

/// The rules for a client authentication: per client id from one address, and per address.
/// Never per client id alone, which anyone could exhaust to lock the app out for everyone
/// (a 256-bit secret cannot be guessed anyway).
pub fn client_auth(config: &Config, client_id: &str, address: &str) -> Vec<Rule> {
    vec![
        Rule::new(
            config,
            Limit::ClientAuthClient,
            &format!("{client_id}:{address}"),
        ),
        Rule::new(config, Limit::ClientAuthAddress, address),
    ]
}

/// The rule for asking for mail (a password reset, a verification link) from `address`,
/// counted whether or not a mail goes out.
pub fn mail_requests(config: &Config, address: &str) -> Vec<Rule> {
    vec![Rule::new(config, Limit::MailAddress, address)]
}

/// The rules for mailing account `user_id` a password reset asked from `address`: per
/// browser for one that signed in to it before (`trusted`, its device id), as with
/// sign-ins; otherwise per account and address, then per account (for
/// [`reserve_in_order`], so what the first refuses does not count against the second).
pub fn reset_mail(
    config: &Config,
    user_id: &str,
    trusted: Option<&str>,
    address: &str,
) -> Vec<Rule> {
    match trusted {
        Some(device) => vec![Rule::new(config, Limit::MailDevice, device)],
        None => vec![
            Rule::new(
                config,
                Limit::MailAccountAddress,
                &format!("{user_id}:{address}"),
            ),
            Rule::new(config, Limit::MailAccount, user_id),
        ],
    }
}

/// The rule for mailing account `user_id` a verification link, asked on its account page.
pub fn verify_mail(config: &Config, user_id: &str) -> Vec<Rule> {
    vec![Rule::new(config, Limit::MailVerify, user_id)]
}

/// The rule for storing a sign-in request for a browser nobody signed in to yet.
pub fn pending_requests(config: &Config, address: &str) -> Vec<Rule> {
    vec![Rule::new(config, Limit::PendingRequests, address)]
}

/// The rule for an app registering itself while registration is open: what one address may
/// make the server store.
pub fn registrations(config: &Config, address: &str) -> Vec<Rule> {
    vec![Rule::new(config, Limit::Registrations, address)]
}

/// The rule for the new client metadata documents one address makes the server fetch.
pub fn documents(config: &Config, address: &str) -> Vec<Rule> {
    vec![Rule::new(config, Limit::Documents, address)]
}

/// Whether any rule has reached its limit, without counting.
pub async fn check(
    db: &impl ConnectionTrait,
    rules: &[Rule],
    now: UnixTime,
) -> Result<Verdict, StoreError> {
    for rule in rules {
        if store::throttle::count(db, &rule.key, rule.window, now).await? >= rule.max {
            return Ok(Verdict::Refused(rule.limit));
        }
    }
    Ok(Verdict::Allowed)
}

/// An attempt counted before it is made.
#[derive(Debug)]
pub struct Reservation {
    pub verdict: Verdict,
    /// The highest count among the rules, this attempt included.
    pub highest: i64,
}

/// Counts one attempt against every rule before the work it guards (a password hash, a code
/// lookup) is done, each count in one statement: guesses sent in parallel, to one instance
/// or many, are counted one by one and the ones past a limit are refused. A successful
/// attempt gives its count back with [`release`]; a failed one keeps it.
pub async fn reserve(
    db: &impl ConnectionTrait,
    rules: &[Rule],
    now: UnixTime,
) -> Result<Reservation, StoreError> {
    let mut verdict = Verdict::Allowed;
    let mut highest = 0;
    for rule in rules {
        let count = store::throttle::reserve(db, &rule.key, rule.window, now).await?;
        highest = highest.max(count);
        if count > rule.max && verdict == Verdict::Allowed {
            verdict = Verdict::Refused(rule.limit);
        }
    }
    Ok(Reservation { verdict, highest })
}

/// Counts one attempt against `rules` in order and stops at the first that refuses: a
/// narrow rule (one address's) that refuses spends nothing of a wide one after it (the
/// account's), so one address cannot use up the account's count with requests that were
/// refused anyway.
pub async fn reserve_in_order(
    db: &impl ConnectionTrait,
    rules: &[Rule],
    now: UnixTime,
) -> Result<Verdict, StoreError> {
    for rule in rules {
        if store::throttle::reserve(db, &rule.key, rule.window, now).await? > rule.max {
            return Ok(Verdict::Refused(rule.limit));
        }
    }
    Ok(Verdict::Allowed)
}

/// Gives back the attempt [`reserve`] counted: it succeeded. The account's own failures are
/// forgotten too, so its owner starts afresh.
pub async fn release(
    db: &impl ConnectionTrait,
    rules: &[Rule],
    now: UnixTime,
) -> Result<(), StoreError> {
    for rule in rules {
        if matches!(rule.limit, Limit::LoginAccount | Limit::SecondFactor) {
            store::throttle::clear(db, &rule.key).await?;
        } else {
            store::throttle::release(db, &rule.key, rule.window, now).await?;
        }
    }
    Ok(())
}

/// Counts a failure found after the fact (client authentication, whose check joins the
/// client's own query); returns the highest count.
pub async fn record_failure(
    db: &impl ConnectionTrait,
    rules: &[Rule],
    now: UnixTime,
) -> Result<i64, StoreError> {
    Ok(reserve(db, rules, now).await?.highest)
}

/// How long a browser stays trusted for an account after signing in to it.
pub const DEVICE_TRUST_SECONDS: i64 = 180 * 86_400;

/// A device cookie's value for `account` (canonical username): a random device id and a MAC
/// binding it to the account, so it cannot be forged or moved to another account.
pub fn device_token(secrets: &KeyedHasher, account: &str) -> Result<String, crypto::CryptoError> {
    let device = crypto::b64url(&crypto::random_bytes::<16>()?);
    let mac = crypto::b64url(&secrets.mac(&[b"device", device.as_bytes(), account.as_bytes()]));
    Ok(format!("{device}.{mac}"))
}

/// The device id of `token` when it was issued for `account`.
pub fn trusted_device<'a>(secrets: &KeyedHasher, token: &'a str, account: &str) -> Option<&'a str> {
    let (device, mac) = token.split_once('.')?;
    let expected =
        crypto::b64url(&secrets.mac(&[b"device", device.as_bytes(), account.as_bytes()]));
    crypto::constant_time_eq(mac.as_bytes(), expected.as_bytes()).then_some(device)
}
