//! Mail to people, over SMTP (`mail.*`): the password-reset and address-verification links.
//! Each mail is a template pair of blocks, `subject` and `body`, in a `*.txt` template that
//! `pages.templates_dir` can replace like the pages. Sending happens off the request, so a
//! slow or absent SMTP server never shows in the time a page takes (nor tells whether an
//! address is known).

use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};
use serde::Serialize;

use crate::config::{ConfigError, MailConfig, SmtpTls};
use crate::templates::Templates;

/// A mail the provider sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    PasswordReset,
    VerifyEmail,
}

impl Kind {
    /// Its template.
    fn template(self) -> &'static str {
        match self {
            Self::PasswordReset => "password_reset_mail.txt",
            Self::VerifyEmail => "verify_email_mail.txt",
        }
    }
}

/// The SMTP transport and the sender.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    templates: Arc<Templates>,
    /// Bounds the mails being made or sent at once; past it, a mail is dropped (and logged)
    /// rather than queued without end behind a slow SMTP server.
    in_flight: Arc<tokio::sync::Semaphore>,
}

/// How many mails may be on their way at once.
const IN_FLIGHT: usize = 256;

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// The mailer `config` asks for, `None` when no SMTP server is set.
    pub fn new(
        config: &MailConfig,
        templates: Arc<Templates>,
    ) -> Result<Option<Self>, ConfigError> {
        let Some(host) = config.smtp_host.as_deref() else {
            return Ok(None);
        };
        let invalid = |e: lettre::transport::smtp::Error| {
            ConfigError::invalid(crate::config::named("mail.smtp_host"), e.to_string())
        };
        let builder = match config.smtp_tls {
            SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host),
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host),
            SmtpTls::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
                host,
            )),
        }
        .map_err(invalid)?;
        let mut builder = builder
            .port(config.smtp_port)
            .timeout(Some(Duration::from_secs(30)));
        if let Some(user) = &config.smtp_username {
            let password = config
                .smtp_password
                .as_ref()
                .map(|p| p.expose().clone())
                .unwrap_or_default();
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        let from = config
            .from
            .as_deref()
            .unwrap_or_default()
            .parse::<Mailbox>()
            .map_err(|e| {
                ConfigError::invalid(
                    crate::config::named("mail.from"),
                    format!("not a mailbox (`Name <address>` or an address): {e}"),
                )
            })?;
        Ok(Some(Self {
            transport: builder.build(),
            from,
            templates,
            in_flight: Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT)),
        }))
    }

    /// Runs `work` (what makes and sends a mail) off the request, unless too many mails are
    /// on their way already: then it is dropped, and logged.
    pub fn spawn(self: Arc<Self>, work: impl std::future::Future<Output = ()> + Send + 'static) {
        let Ok(permit) = Arc::clone(&self.in_flight).try_acquire_owned() else {
            tracing::warn!("a mail was dropped: too many are on their way to the SMTP server");
            return;
        };
        tokio::spawn(async move {
            work.await;
            drop(permit);
        });
    }

    /// Renders `kind` for `context` and sends it to `to`. Errors are logged, never shown:
    /// the page that asked said the same whatever happens here.
    pub async fn send(&self, kind: Kind, to: &str, context: impl Serialize) {
        let to_box = match to.parse::<Mailbox>() {
            Ok(mailbox) => mailbox,
            Err(e) => {
                tracing::warn!(error = %e, mail = ?kind, "the account's address is not one mail can go to");
                return;
            }
        };
        let (subject, body) = match self.templates.render_mail(kind.template(), context) {
            Ok(parts) => parts,
            Err(e) => {
                tracing::error!(error = %e, mail = ?kind, "cannot render a mail");
                return;
            }
        };
        let message = Message::builder()
            .from(self.from.clone())
            .to(to_box)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body);
        let message = match message {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(error = %e, mail = ?kind, "cannot build a mail");
                return;
            }
        };
        match self.transport.send(message).await {
            Ok(_) => tracing::info!(mail = ?kind, "mail sent"),
            Err(e) => {
                tracing::warn!(error = %e, mail = ?kind, "the SMTP server did not take a mail")
            }
        }
    }
}
