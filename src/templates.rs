//! The minijinja environment, built once at start-up from templates embedded in the binary.
//! Pages end in `.html`, so auto-escaping is on for every page; mails are plain text
//! (`*_mail.txt`), with a `subject` and a `body` block.

use minijinja::Environment;
use serde::Serialize;

const TEMPLATES: [(&str, &str); 18] = [
    ("base.html", include_str!("../templates/base.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("consent.html", include_str!("../templates/consent.html")),
    ("error.html", include_str!("../templates/error.html")),
    (
        "logout_confirm.html",
        include_str!("../templates/logout_confirm.html"),
    ),
    (
        "form_post.html",
        include_str!("../templates/form_post.html"),
    ),
    (
        "device_entry.html",
        include_str!("../templates/device_entry.html"),
    ),
    (
        "device_confirm.html",
        include_str!("../templates/device_confirm.html"),
    ),
    ("message.html", include_str!("../templates/message.html")),
    ("account.html", include_str!("../templates/account.html")),
    ("home.html", include_str!("../templates/home.html")),
    (
        "second_factor.html",
        include_str!("../templates/second_factor.html"),
    ),
    (
        "enrol_factor.html",
        include_str!("../templates/enrol_factor.html"),
    ),
    (
        "forgot_password.html",
        include_str!("../templates/forgot_password.html"),
    ),
    (
        "reset_password.html",
        include_str!("../templates/reset_password.html"),
    ),
    (
        "verify_email.html",
        include_str!("../templates/verify_email.html"),
    ),
    (
        "password_reset_mail.txt",
        include_str!("../templates/password_reset_mail.txt"),
    ),
    (
        "verify_email_mail.txt",
        include_str!("../templates/verify_email_mail.txt"),
    ),
];

pub struct Templates {
    env: Environment<'static>,
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read the template directory {path}: {source}")]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("the page template {name} does not compile: {source}")]
    Compile {
        name: String,
        source: minijinja::Error,
    },
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Templates")
    }
}

impl Templates {
    /// The built-in templates, then every `*.html` and `*_mail.txt` file of `dir` (when given),
    /// which replaces the built-in one of the same name or adds a new one (`head.html` and
    /// `brand.html` are included by the built-in layout when present). Only those names are
    /// read, so auto-escaping applies to every page, and mails stay plain text.
    pub fn new(dir: Option<&std::path::Path>) -> Result<Self, TemplateError> {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .map_err(|source| TemplateError::Compile {
                    name: name.to_owned(),
                    source,
                })?;
        }
        if let Some(dir) = dir {
            let read = |source| TemplateError::Read {
                path: dir.to_owned(),
                source,
            };
            let mut files: Vec<_> = std::fs::read_dir(dir)
                .map_err(read)?
                .collect::<Result<_, _>>()
                .map_err(read)?;
            files.sort_by_key(std::fs::DirEntry::file_name);
            for file in files {
                let Ok(name) = file.file_name().into_string() else {
                    continue;
                };
                if !(name.ends_with(".html") || name.ends_with("_mail.txt"))
                    || name.starts_with('.')
                {
                    continue;
                }
                let source = std::fs::read_to_string(file.path()).map_err(read)?;
                env.add_template_owned(name.clone(), source)
                    .map_err(|source| TemplateError::Compile { name, source })?;
            }
        }
        Ok(Self { env })
    }

    pub fn render(&self, name: &str, context: impl Serialize) -> Result<String, minijinja::Error> {
        self.env.get_template(name)?.render(context)
    }

    /// A mail: its subject (one line, trimmed) and its body.
    pub fn render_mail(
        &self,
        name: &str,
        context: impl Serialize,
    ) -> Result<(String, String), minijinja::Error> {
        let mut captured = self.env.get_template(name)?.render_captured(context)?;
        let (subject, body) = captured.with_state_mut(|state| {
            Ok::<_, minijinja::Error>((state.render_block("subject")?, state.render_block("body")?))
        })?;
        let subject = subject
            .split(['\r', '\n'])
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        Ok((subject, body.trim().to_owned() + "\n"))
    }

    /// Makes `value` known to every template as `name` (what the server offers, such as a
    /// password reset).
    pub fn add_global(&mut self, name: &'static str, value: impl Serialize) {
        self.env
            .add_global(name, minijinja::Value::from_serialize(value));
    }
}
