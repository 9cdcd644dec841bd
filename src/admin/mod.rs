//! The admin API under `/admin` (clients, users, keys), described by poem-openapi. Logic stays
//! in `store`, `oauth::registration`, `oidc::accounts` and `keys`.

#[derive(Default)]
pub struct AdminApi;

#[poem_openapi::OpenApi]
impl AdminApi {}
