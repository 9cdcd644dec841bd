//! The public JWK set served at `/jwks.json`.

use serde_json::{Map, Value};

/// Members of an RSA public JWK that may be published. Anything else in a stored JWK (a
/// private member above all) is dropped.
const PUBLIC_MEMBERS: [&str; 6] = ["kty", "use", "alg", "kid", "n", "e"];

/// Parses a stored public JWK and keeps only its public members.
pub fn public_members(stored: &str) -> Result<Map<String, Value>, serde_json::Error> {
    let map: Map<String, Value> = serde_json::from_str(stored)?;
    Ok(map
        .into_iter()
        .filter(|(k, _)| PUBLIC_MEMBERS.contains(&k.as_str()))
        .collect())
}

/// `{"keys":[...]}` as bytes, built once per key change.
pub fn document(keys: Vec<Map<String, Value>>) -> Vec<u8> {
    let keys: Vec<Value> = keys.into_iter().map(Value::Object).collect();
    serde_json::json!({ "keys": keys }).to_string().into_bytes()
}
