//! The groups the OpenAPI document sorts its operations into, one per API.

use poem_openapi::Tags;

#[derive(Tags)]
pub enum ApiTags {
    /// Discovery and keys: how relying parties configure themselves.
    Discovery,
    /// The OAuth 2.0 and OpenID Connect endpoints applications call.
    Protocol,
    /// Apps registering themselves (RFC 7591) and managing their registration (RFC 7592).
    Registration,
    /// Clients: the applications registered with this provider.
    AdminClients,
    /// Resources: the APIs access tokens can be issued for (RFC 8707).
    AdminResources,
    /// Initial access tokens: what lets apps register themselves (RFC 7591).
    AdminInitialAccessTokens,
    /// Users: accounts, their claims and passwords.
    AdminUsers,
    /// Signing keys and their rotation.
    AdminKeys,
}
