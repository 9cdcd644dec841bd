//! The groups the OpenAPI document sorts its operations into, one per API.

use poem_openapi::Tags;

#[derive(Tags)]
pub enum ApiTags {
    /// Discovery and keys: how relying parties configure themselves.
    Discovery,
    /// The OAuth 2.0 and OpenID Connect endpoints applications call.
    Protocol,
    /// Clients: the applications registered with this provider.
    AdminClients,
    /// Resources: the APIs access tokens can be issued for (RFC 8707).
    AdminResources,
    /// Users: accounts, their claims and passwords.
    AdminUsers,
    /// Signing keys and their rotation.
    AdminKeys,
}
