//! Which claims each scope releases (OIDC Core 5.4).

use serde_json::{json, Map, Value};

use crate::store::users::User;

/// `claims_supported`.
pub const SUPPORTED: [&str; 23] = [
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "azp",
    "at_hash",
    "sid",
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "profile",
    "picture",
    "website",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
];
/// Further `claims_supported` entries released by the email, phone and address scopes.
pub const SUPPORTED_MORE: [&str; 6] = [
    "updated_at",
    "email",
    "email_verified",
    "phone_number",
    "phone_number_verified",
    "address",
];

fn released_by(scope: &str) -> &'static [&'static str] {
    match scope {
        "profile" => &[
            "name",
            "given_name",
            "family_name",
            "middle_name",
            "nickname",
            "preferred_username",
            "profile",
            "picture",
            "website",
            "gender",
            "birthdate",
            "zoneinfo",
            "locale",
            "updated_at",
        ],
        "email" => &["email", "email_verified"],
        "phone" => &["phone_number", "phone_number_verified"],
        "address" => &["address"],
        _ => &[],
    }
}

/// `sub` plus the user's claims that `scopes` release.
pub fn for_scopes(user: &User, scopes: &[String]) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("sub".into(), json!(user.id));
    for scope in scopes {
        for name in released_by(scope) {
            if *name == "updated_at" {
                out.insert("updated_at".into(), json!(user.updated_at));
            } else if let Some(v) = user.claims.get(*name) {
                out.insert((*name).to_owned(), v.clone());
            }
        }
    }
    out
}
