//! Discovery metadata (OpenID Connect Discovery 1.0 section 3, RFC 8414 section 2), derived
//! from the issuer and the endpoints actually mounted, never written by hand.

use serde::Serialize;

/// A protocol endpoint that the router mounts and discovery advertises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Jwks,
}

impl Endpoint {
    /// The path under the issuer.
    pub fn path(self) -> &'static str {
        match self {
            Self::Jwks => "/jwks.json",
        }
    }
}

/// The metadata document. Fields for endpoints that are not mounted are left out.
#[derive(Debug, Serialize)]
pub struct Metadata {
    pub issuer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// Required by RFC 8414; empty while no authorization endpoint is mounted.
    pub response_types_supported: Vec<&'static str>,
}

impl Metadata {
    pub fn build(issuer: &str, mounted: &[Endpoint]) -> Self {
        let url = |e: Endpoint| {
            mounted
                .contains(&e)
                .then(|| format!("{issuer}{}", e.path()))
        };
        Self {
            issuer: issuer.to_owned(),
            jwks_uri: url(Endpoint::Jwks),
            response_types_supported: Vec::new(),
        }
    }

    /// The document as served: JSON bytes, built once at start-up.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising plain strings and vectors cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}
