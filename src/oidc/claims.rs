//! Which claims each scope releases (OIDC Core 5.4), and the claims a user record may hold.

use serde_json::{json, Map, Value};

use crate::oauth::scope::{declared_value, released_by, Catalog, ADDRESS, EMAIL, PHONE, PROFILE};
use crate::store::users::User;

/// Claims every ID token may carry.
const ID_TOKEN: [&str; 12] = [
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
    "acr",
    "amr",
];

/// `claims_supported`: the standard claims, then the declared ones.
pub fn supported(catalog: &Catalog) -> Vec<String> {
    ID_TOKEN
        .iter()
        .chain(&PROFILE)
        .chain(&EMAIL)
        .chain(&PHONE)
        .chain(&ADDRESS)
        .map(|c| (*c).to_owned())
        .chain(catalog.declared().iter().map(|c| c.name.clone()))
        .collect()
}

/// The standard claims an account may store (`updated_at` is the record's own).
pub fn storable() -> impl Iterator<Item = &'static str> {
    PROFILE
        .iter()
        .chain(&EMAIL)
        .chain(&PHONE)
        .chain(&ADDRESS)
        .copied()
        .filter(|c| *c != "updated_at")
}

/// `sub` plus the user's claims that `scopes` release at userinfo.
pub fn for_scopes(catalog: &Catalog, user: &User, scopes: &[String]) -> Map<String, Value> {
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
    for claim in catalog.released(scopes).filter(|c| c.userinfo) {
        if let Some(v) = declared_value(&user.claims, claim) {
            out.insert(claim.name.clone(), v.clone());
        }
    }
    out
}
