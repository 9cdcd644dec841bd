//! `/assets/passkeys.js`: the script the sign-in, second-factor and account pages run passkey
//! ceremonies with, built in.
//!
//! `/static/NAME`: the operator's own files for the pages (logo, stylesheet, fonts), from the
//! flat directory `pages.static_dir`. Names are plain file names (no path separators, no
//! leading dot), so nothing outside the directory can be reached; only image, stylesheet and
//! font types are served, each under a sandboxing Content-Security-Policy so that an SVG
//! opened on its own cannot run script in this origin.

use poem::http::{header, StatusCode};
use poem::web::{Data, Path};
use poem::{handler, Response};

use crate::state::AppState;

/// Larger files are not served (a logo or a font, not a download area).
const MAX_BYTES: u64 = 5 * 1024 * 1024;

fn content_type(name: &str) -> Option<&'static str> {
    let (_, extension) = name.rsplit_once('.')?;
    Some(match extension.to_ascii_lowercase().as_str() {
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        _ => return None,
    })
}

fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

fn not_found() -> Response {
    Response::builder()
        .status(StatusCode::NOT_FOUND)
        .content_type("text/plain; charset=utf-8")
        .body("Not found.")
}

#[handler]
pub async fn asset(Path(name): Path<String>, Data(state): Data<&AppState>) -> Response {
    let Some(dir) = state.config.pages.static_dir.clone() else {
        return not_found();
    };
    let Some(content_type) = content_type(&name).filter(|_| plain_name(&name)) else {
        return not_found();
    };
    let path = dir.join(&name);
    let read = tokio::task::spawn_blocking(move || {
        let meta = std::fs::metadata(&path)?;
        if !meta.is_file() || meta.len() > MAX_BYTES {
            return Err(std::io::ErrorKind::NotFound.into());
        }
        std::fs::read(&path)
    })
    .await;
    match read {
        Ok(Ok(bytes)) => Response::builder()
            .content_type(content_type)
            .header(header::CACHE_CONTROL, "public, max-age=3600")
            .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
            .header(
                "Content-Security-Policy",
                "default-src 'none'; style-src 'unsafe-inline'; sandbox",
            )
            .body(bytes),
        _ => not_found(),
    }
}

/// Where a client's logo is served (`logo_uri`, fetched at registration).
pub const CLIENT_LOGO_PATH: &str = "/clients/:client_id/logo";

/// The URL path of a client's logo, versioned by when the client last changed (which is
/// when its logo is fetched again).
pub fn client_logo_path(client_id: &str, updated_at: i64) -> String {
    let id: String = url::form_urlencoded::byte_serialize(client_id.as_bytes()).collect();
    format!("/clients/{id}/logo?v={updated_at}")
}

/// A client's logo: only ever an image whose first bytes say it is PNG, JPEG, GIF or WebP,
/// under the same sandbox as the operator's files.
#[handler]
pub async fn client_logo(Path(client_id): Path<String>, Data(state): Data<&AppState>) -> Response {
    match crate::store::client_logos::get(&state.db, &client_id).await {
        Ok(Some(logo)) => Response::builder()
            .content_type(logo.content_type)
            .header(header::CACHE_CONTROL, "public, max-age=86400")
            .header(header::ETAG, format!("\"{}\"", logo.digest))
            .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
            .header("Content-Security-Policy", "default-src 'none'; sandbox")
            .body(logo.bytes),
        Ok(None) => not_found(),
        Err(e) => {
            tracing::warn!(error = %e, "reading a client logo failed");
            Response::builder()
                .status(StatusCode::SERVICE_UNAVAILABLE)
                .header(header::RETRY_AFTER, "5")
                .content_type("text/plain; charset=utf-8")
                .body("Temporarily unavailable.")
        }
    }
}

/// Where the pages' passkey script is served.
pub const PASSKEY_SCRIPT_PATH: &str = "/assets/passkeys.js";

/// The script that runs passkey ceremonies on the sign-in, second-factor and account pages
/// (allowed by their Content-Security-Policy by this address alone).
const PASSKEY_SCRIPT: &str = include_str!("../../assets/passkeys.js");

#[handler]
pub fn passkey_script() -> Response {
    Response::builder()
        .content_type("text/javascript; charset=utf-8")
        .header(header::CACHE_CONTROL, "public, max-age=300")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .body(PASSKEY_SCRIPT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_of_known_types_are_served() {
        for name in ["logo.svg", "brand.css", "Inter-Regular.woff2", "a_b-c.PNG"] {
            assert!(plain_name(name) && content_type(name).is_some(), "{name}");
        }
        for name in [
            "../secret.css",
            ".env.css",
            "a/b.css",
            "x.js",
            "x.html",
            "noext",
            "",
        ] {
            assert!(
                !(plain_name(name) && content_type(name).is_some()),
                "{name}"
            );
        }
    }
}
