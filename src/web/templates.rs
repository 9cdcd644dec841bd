//! The minijinja environment, built once at start-up from templates embedded in the binary.
//! Names end in `.html`, so auto-escaping is on for every page.

use minijinja::Environment;
use serde::Serialize;

const TEMPLATES: [(&str, &str); 9] = [
    ("base.html", include_str!("../../templates/base.html")),
    ("login.html", include_str!("../../templates/login.html")),
    ("consent.html", include_str!("../../templates/consent.html")),
    ("error.html", include_str!("../../templates/error.html")),
    (
        "logout_confirm.html",
        include_str!("../../templates/logout_confirm.html"),
    ),
    (
        "form_post.html",
        include_str!("../../templates/form_post.html"),
    ),
    (
        "device_entry.html",
        include_str!("../../templates/device_entry.html"),
    ),
    (
        "device_confirm.html",
        include_str!("../../templates/device_confirm.html"),
    ),
    ("message.html", include_str!("../../templates/message.html")),
];

pub struct Templates {
    env: Environment<'static>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Templates")
    }
}

impl Templates {
    pub fn new() -> Result<Self, minijinja::Error> {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)?;
        }
        Ok(Self { env })
    }

    pub fn render(&self, name: &str, context: impl Serialize) -> Result<String, minijinja::Error> {
        self.env.get_template(name)?.render(context)
    }
}
