//! Discovery metadata (OpenID Connect Discovery 1.0 section 3, RFC 8414 section 2), derived
//! from the issuer and the endpoints actually mounted, never written by hand: every
//! `*_supported` list comes from the code that enforces it.

use serde::Serialize;

use crate::oauth::{
    authorize, client_assertion, client_auth, dpop, pkce, redirect::ResponseMode, request_object,
    scope, token,
};
use crate::store::clients::{AuthMethod, SubjectType};

/// The optional features that are on, as discovery advertises them.
#[derive(Clone, Copy, Debug)]
pub struct Features {
    /// Client assertions: `private_key_jwt` and `client_secret_jwt` (`client_auth.jwt`).
    pub jwt_client_auth: bool,
    /// The pushed authorization request endpoint (`authorize.par`).
    pub par: bool,
    /// Every client must push its requests (`authorize.require_par`).
    pub require_par: bool,
    /// Signed request objects (`authorize.request_objects`).
    pub request_objects: bool,
    /// DPoP proofs (`dpop.enabled`).
    pub dpop: bool,
    /// Apps may register themselves (`registration.mode` is not `off`).
    pub registration: bool,
    /// A `client_id` may be the URL of the app's metadata document
    /// (`registration.metadata_documents`).
    pub metadata_documents: bool,
}

impl Features {
    pub fn of(config: &crate::config::Config) -> Self {
        Self {
            jwt_client_auth: config.client_auth.jwt,
            par: config.authorize.par,
            require_par: config.authorize.par && config.authorize.require_par,
            request_objects: config.authorize.request_objects,
            dpop: config.dpop.enabled,
            registration: config.registration.mode != crate::config::RegistrationMode::Off,
            metadata_documents: config.registration.metadata_documents,
        }
    }
}

/// A protocol endpoint that the router mounts and discovery advertises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Jwks,
    Authorization,
    Token,
    Userinfo,
    EndSession,
    DeviceAuthorization,
    Introspection,
    Revocation,
    PushedAuthorization,
    Registration,
}

impl Endpoint {
    /// The path under the issuer.
    pub fn path(self) -> &'static str {
        match self {
            Self::Jwks => "/jwks.json",
            Self::Authorization => "/oauth/authorize",
            Self::Token => "/oauth/token",
            Self::Userinfo => "/oauth/userinfo",
            Self::EndSession => "/oauth/logout",
            Self::DeviceAuthorization => "/oauth/device_authorization",
            Self::Introspection => "/oauth/introspect",
            Self::Revocation => "/oauth/revoke",
            Self::PushedAuthorization => "/oauth/par",
            Self::Registration => "/oauth/register",
        }
    }
}

/// The metadata document. Fields for endpoints that are not mounted are left out.
#[derive(Debug, Serialize)]
pub struct Metadata {
    pub issuer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userinfo_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_session_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_authorization_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub introspection_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pushed_authorization_request_endpoint: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub require_pushed_authorization_requests: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_endpoint: Option<String>,
    /// draft-ietf-oauth-client-id-metadata-document section 5: present (true) when a
    /// `client_id` may be the URL of the app's metadata document.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub client_id_metadata_document_supported: bool,
    pub scopes_supported: Vec<String>,
    pub response_types_supported: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub response_modes_supported: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub grant_types_supported: Vec<&'static str>,
    pub subject_types_supported: Vec<&'static str>,
    pub id_token_signing_alg_values_supported: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub token_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub introspection_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub revocation_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub code_challenge_methods_supported: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub prompt_values_supported: Vec<&'static str>,
    pub claims_supported: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub acr_values_supported: Vec<&'static str>,
    pub claims_parameter_supported: bool,
    pub request_parameter_supported: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub request_object_signing_alg_values_supported: Vec<&'static str>,
    /// Whether `request_uri` may name a request object to fetch (OIDC Core 6.2): never.
    /// The `request_uri`s of pushed requests are another thing (RFC 9126).
    pub request_uri_parameter_supported: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dpop_signing_alg_values_supported: Vec<&'static str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub authorization_response_iss_parameter_supported: bool,
    /// Back-Channel Logout 1.0 section 2.1: clients may register a `backchannel_logout_uri`,
    /// and logout tokens carry `sid`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub backchannel_logout_supported: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub backchannel_logout_session_supported: bool,
    /// Front-Channel Logout 1.0 section 3: the same for `frontchannel_logout_uri`, loaded
    /// with `iss` and `sid`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub frontchannel_logout_supported: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub frontchannel_logout_session_supported: bool,
    /// Discovery 1.0 section 3: the page for developers (the landing page, which says how
    /// redirect URIs match for native apps and which origins browser apps may call from).
    pub service_documentation: String,
}

impl Metadata {
    pub fn build(
        issuer: &str,
        mounted: &[Endpoint],
        features: Features,
        claims: &scope::Catalog,
    ) -> Self {
        let has = |e: Endpoint| mounted.contains(&e);
        let methods = client_auth::methods(features.jwt_client_auth);
        let names = |with_none: bool| -> Vec<&'static str> {
            methods
                .iter()
                .filter(|m| with_none || **m != AuthMethod::None)
                .map(|m| m.as_str())
                .collect()
        };
        let assertion_algs: Vec<&'static str> = if features.jwt_client_auth {
            client_assertion::KEY_ALGS
                .iter()
                .chain(&client_assertion::SECRET_ALGS)
                .copied()
                .collect()
        } else {
            Vec::new()
        };
        let url = |e: Endpoint| has(e).then(|| format!("{issuer}{}", e.path()));
        let when =
            |e: Endpoint, values: Vec<&'static str>| if has(e) { values } else { Vec::new() };
        let authorize = has(Endpoint::Authorization);
        Self {
            issuer: issuer.to_owned(),
            authorization_endpoint: url(Endpoint::Authorization),
            token_endpoint: url(Endpoint::Token),
            userinfo_endpoint: url(Endpoint::Userinfo),
            jwks_uri: url(Endpoint::Jwks),
            end_session_endpoint: url(Endpoint::EndSession),
            device_authorization_endpoint: url(Endpoint::DeviceAuthorization),
            introspection_endpoint: url(Endpoint::Introspection),
            revocation_endpoint: url(Endpoint::Revocation),
            pushed_authorization_request_endpoint: url(Endpoint::PushedAuthorization)
                .filter(|_| features.par && authorize),
            require_pushed_authorization_requests: features.require_par
                && authorize
                && has(Endpoint::PushedAuthorization),
            registration_endpoint: url(Endpoint::Registration).filter(|_| features.registration),
            client_id_metadata_document_supported: features.metadata_documents && authorize,
            scopes_supported: if authorize {
                claims.user_scopes().to_vec()
            } else {
                Vec::new()
            },
            response_types_supported: when(
                Endpoint::Authorization,
                authorize::RESPONSE_TYPES.to_vec(),
            ),
            response_modes_supported: when(
                Endpoint::Authorization,
                ResponseMode::SUPPORTED.to_vec(),
            ),
            grant_types_supported: when(
                Endpoint::Token,
                token::GRANT_TYPES.iter().map(|g| g.as_str()).collect(),
            ),
            subject_types_supported: if authorize {
                SubjectType::ALL.iter().map(|t| t.as_str()).collect()
            } else {
                Vec::new()
            },
            id_token_signing_alg_values_supported: if authorize {
                vec!["RS256"]
            } else {
                Vec::new()
            },
            token_endpoint_auth_methods_supported: when(Endpoint::Token, names(true)),
            token_endpoint_auth_signing_alg_values_supported: when(
                Endpoint::Token,
                assertion_algs.clone(),
            ),
            // Introspection needs a confidential client: public clients cannot use it.
            introspection_endpoint_auth_methods_supported: when(
                Endpoint::Introspection,
                names(false),
            ),
            introspection_endpoint_auth_signing_alg_values_supported: when(
                Endpoint::Introspection,
                assertion_algs.clone(),
            ),
            revocation_endpoint_auth_methods_supported: when(Endpoint::Revocation, names(true)),
            revocation_endpoint_auth_signing_alg_values_supported: when(
                Endpoint::Revocation,
                assertion_algs,
            ),
            code_challenge_methods_supported: when(Endpoint::Authorization, pkce::METHODS.to_vec()),
            prompt_values_supported: when(
                Endpoint::Authorization,
                authorize::PROMPT_VALUES.to_vec(),
            ),
            claims_supported: if authorize {
                crate::oidc::claims::supported(claims)
            } else {
                Vec::new()
            },
            acr_values_supported: when(
                Endpoint::Authorization,
                crate::oauth::auth_context::ACR_VALUES.to_vec(),
            ),
            claims_parameter_supported: authorize,
            request_parameter_supported: authorize && features.request_objects,
            request_object_signing_alg_values_supported: if authorize && features.request_objects {
                request_object::ALGS.to_vec()
            } else {
                Vec::new()
            },
            request_uri_parameter_supported: false,
            dpop_signing_alg_values_supported: if features.dpop && has(Endpoint::Token) {
                dpop::ALGS.to_vec()
            } else {
                Vec::new()
            },
            authorization_response_iss_parameter_supported: authorize,
            backchannel_logout_supported: authorize,
            backchannel_logout_session_supported: authorize,
            frontchannel_logout_supported: has(Endpoint::EndSession),
            frontchannel_logout_session_supported: has(Endpoint::EndSession),
            service_documentation: format!("{issuer}/"),
        }
    }

    /// The document as served: JSON bytes, built once at start-up.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising plain strings and vectors cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}
