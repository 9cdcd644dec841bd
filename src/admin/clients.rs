//! `/admin/clients`

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

use super::auth::AdminAuth;
use super::objects::{AdminFailure, ClientCreate, ClientPage, ClientPatch, ClientView};
use super::payload::AdminJson;
use crate::http::tags::ApiTags;
use crate::oauth::registration::{
    self, ClientPages, ClientRegistration, ClientUpdate, SecretChoice,
};
use crate::oauth::scope;
use crate::state::AppState;
use crate::store::clients::LogoutChannels;
use crate::store::{self, StoreError};

pub struct ClientsApi;

#[derive(ApiResponse)]
pub enum Created {
    /// Registered. The secret is in this answer and never shown again.
    #[oai(status = 201)]
    Created(Json<ClientView>),
}

#[derive(ApiResponse)]
pub enum Found {
    #[oai(status = 200)]
    Ok(Json<ClientView>),
}

#[derive(ApiResponse)]
pub enum Listed {
    #[oai(status = 200)]
    Ok(Json<ClientPage>),
}

#[derive(ApiResponse)]
pub enum Deleted {
    /// Deleted, with everything issued to it.
    #[oai(status = 204)]
    Deleted,
}

fn not_found(e: StoreError) -> AdminFailure {
    match e {
        StoreError::NotFound => AdminFailure::NotFound("client"),
        other => other.into(),
    }
}

fn parse_scope(value: &str) -> Result<Vec<String>, AdminFailure> {
    scope::parse(value).map_err(|e| {
        AdminFailure::Invalid(registration::FieldError {
            field: "scope",
            message: e.description.into_owned(),
        })
    })
}

#[OpenApi(prefix_path = "/admin/clients", tag = "ApiTags::AdminClients")]
impl ClientsApi {
    /// Register a client
    ///
    /// The example registers `photos`, a confidential web app whose secret is generated and
    /// shown in the answer only. Tried a second time it answers 409 (the id is taken): change
    /// `client_id`, or leave it out for a random one.
    ///
    /// **Permissions**: admin.
    #[oai(path = "/", method = "post", operation_id = "admin_create_client")]
    async fn create(
        &self,
        auth: AdminAuth,
        Data(state): Data<&AppState>,
        body: AdminJson<ClientCreate>,
    ) -> Result<Created, AdminFailure> {
        let b = body.0;
        let secret = match (b.client_secret, b.public) {
            (Some(_), true) => {
                return Err(AdminFailure::Invalid(registration::FieldError {
                    field: "client_secret",
                    message: "a public client has no secret".into(),
                }))
            }
            (Some(s), false) => SecretChoice::Given(s),
            (None, true) => SecretChoice::Public,
            (None, false) => SecretChoice::Generate,
        };
        let reg = ClientRegistration {
            name: b.client_name,
            client_id: b.client_id,
            secret,
            redirect_uris: b.redirect_uris,
            post_logout_redirect_uris: b.post_logout_redirect_uris,
            grant_types: b.grant_types,
            scopes: match b.scope {
                Some(s) => parse_scope(&s)?,
                None => Vec::new(),
            },
            token_endpoint_auth_method: b.token_endpoint_auth_method,
            admin: b.admin,
            allowed_origins: b.allowed_origins,
            jwks: b.jwks.map(|j| j.to_string()),
            jwks_uri: b.jwks_uri,
            require_pushed_authorization_requests: b.require_pushed_authorization_requests,
            require_signed_request_object: b.require_signed_request_object,
            dpop_bound_access_tokens: b.dpop_bound_access_tokens,
            require_mfa: b.require_mfa,
            resources: b.resources,
            subject_type: b.subject_type,
            sector_identifier_uri: b.sector_identifier_uri,
            pages: ClientPages {
                client_uri: b.client_uri,
                logo_uri: b.logo_uri,
                policy_uri: b.policy_uri,
                tos_uri: b.tos_uri,
            },
            contacts: b.contacts,
            logout: LogoutChannels {
                backchannel_logout_uri: b.backchannel_logout_uri,
                backchannel_logout_session_required: b.backchannel_logout_session_required,
                frontchannel_logout_uri: b.frontchannel_logout_uri,
                frontchannel_logout_session_required: b.frontchannel_logout_session_required,
            },
        };
        let registered =
            registration::register(&state.db, reg, state.keeper(), state.clock.now()).await?;
        tracing::info!(admin = %auth.0.client_id, action = "client.create", client_id = %registered.client.client_id);
        Ok(Created::Created(Json(ClientView::new(
            registered.client,
            registered.secret,
        ))))
    }

    /// List clients
    ///
    /// In client id order; pass the previous page's `next` as `after`.
    ///
    /// **Permissions**: admin.
    #[oai(path = "/", method = "get", operation_id = "admin_list_clients")]
    async fn list(
        &self,
        _auth: AdminAuth,
        Data(state): Data<&AppState>,
        after: Query<Option<String>>,
        /// 1 to 200, default 50.
        #[oai(example = "crate::admin::objects::example_limit")]
        limit: Query<Option<u64>>,
    ) -> Result<Listed, AdminFailure> {
        let limit = super::limit(limit.0);
        let page = store::clients::list(&state.db, after.0.as_deref(), limit).await?;
        let next = (page.len() as u64 == limit)
            .then(|| page.last().map(|c| c.client_id.clone()))
            .flatten();
        Ok(Listed::Ok(Json(ClientPage {
            items: page.into_iter().map(|c| ClientView::new(c, None)).collect(),
            next,
        })))
    }

    /// Get a client
    ///
    /// **Permissions**: admin.
    #[oai(
        path = "/:client_id",
        method = "get",
        operation_id = "admin_get_client"
    )]
    async fn get(
        &self,
        _auth: AdminAuth,
        Data(state): Data<&AppState>,
        /// The client's `client_id` (the example is the client the create example registers).
        #[oai(example = "crate::admin::objects::example_client_id")]
        client_id: Path<String>,
    ) -> Result<Found, AdminFailure> {
        let client = store::clients::get(&state.db, &client_id.0)
            .await
            .map_err(not_found)?;
        Ok(Found::Ok(Json(ClientView::new(client, None))))
    }

    /// Update a client
    ///
    /// Name, redirect URIs, post-logout redirect URIs, allowed scopes, resources and the
    /// request rules; members left out stay as they are.
    ///
    /// **Permissions**: admin.
    #[oai(
        path = "/:client_id",
        method = "patch",
        operation_id = "admin_update_client"
    )]
    async fn update(
        &self,
        auth: AdminAuth,
        Data(state): Data<&AppState>,
        /// The client's `client_id` (the example is the client the create example registers).
        #[oai(example = "crate::admin::objects::example_client_id")]
        client_id: Path<String>,
        body: AdminJson<ClientPatch>,
    ) -> Result<Found, AdminFailure> {
        let client = store::clients::get(&state.db, &client_id.0)
            .await
            .map_err(not_found)?;
        if client.document.is_some() {
            return Err(AdminFailure::Conflict(
                "This client is described by its metadata document (its client_id is the \
                 document's URL) and changes only when the document does. Delete it to drop \
                 the copy kept here; registration.document_hosts decides whose documents are \
                 read."
                    .into(),
            ));
        }
        let b = body.0;
        let update = ClientUpdate {
            name: b.client_name,
            redirect_uris: b.redirect_uris,
            post_logout_redirect_uris: b.post_logout_redirect_uris,
            scopes: b.scope.as_deref().map(parse_scope).transpose()?,
            allowed_origins: b.allowed_origins,
            admin: b.admin,
            jwks: b.jwks.map(|j| j.to_string()),
            jwks_uri: b.jwks_uri,
            require_pushed_authorization_requests: b.require_pushed_authorization_requests,
            require_signed_request_object: b.require_signed_request_object,
            dpop_bound_access_tokens: b.dpop_bound_access_tokens,
            require_mfa: b.require_mfa,
            resources: b.resources,
            pages: ClientPages {
                client_uri: b.client_uri,
                logo_uri: b.logo_uri,
                policy_uri: b.policy_uri,
                tos_uri: b.tos_uri,
            },
            contacts: b.contacts,
            backchannel_logout_uri: b.backchannel_logout_uri,
            backchannel_logout_session_required: b.backchannel_logout_session_required,
            frontchannel_logout_uri: b.frontchannel_logout_uri,
            frontchannel_logout_session_required: b.frontchannel_logout_session_required,
        };
        let resources_changed = update.resources.is_some();
        let redirects_changed = update.redirect_uris.is_some();
        let logo_changed = update.pages.logo_uri.is_some();
        let client = registration::apply_update(
            client,
            update,
            state.config.fetch.allow_loopback,
            state.clock.now(),
        )?;
        if resources_changed {
            registration::check_resources(&state.db, &client).await?;
        }
        if redirects_changed {
            registration::check_sector(state.client_jwks.fetcher(), &client).await?;
        }
        let logo = if logo_changed {
            Some(registration::fetch_logo(state.client_jwks.fetcher(), &client).await?)
        } else {
            None
        };
        let txn = state.db.begin().await.map_err(StoreError::from)?;
        store::clients::update(&txn, &client)
            .await
            .map_err(not_found)?;
        if let Some(logo) = logo {
            registration::keep_logo(&txn, &client.client_id, logo.as_ref(), client.updated_at)
                .await?;
        }
        txn.commit().await.map_err(StoreError::from)?;
        tracing::info!(admin = %auth.0.client_id, action = "client.update", client_id = %client.client_id);
        Ok(Found::Ok(Json(ClientView::new(client, None))))
    }

    /// Delete a client
    ///
    /// Its codes, grants and tokens go with it.
    ///
    /// **Permissions**: admin.
    #[oai(
        path = "/:client_id",
        method = "delete",
        operation_id = "admin_delete_client"
    )]
    async fn delete(
        &self,
        auth: AdminAuth,
        Data(state): Data<&AppState>,
        /// The client's `client_id` (the example is the client the create example registers).
        #[oai(example = "crate::admin::objects::example_client_id")]
        client_id: Path<String>,
    ) -> Result<Deleted, AdminFailure> {
        store::clients::delete(&state.db, &client_id.0)
            .await
            .map_err(not_found)?;
        tracing::info!(admin = %auth.0.client_id, action = "client.delete", client_id = %client_id.0);
        Ok(Deleted::Deleted)
    }

    /// Rotate a client's secret
    ///
    /// A new 256-bit secret, shown in this answer only. The old one stops working at once,
    /// or after `old_secret_valid_for` seconds, so an app can switch to the new one without
    /// downtime. With `revoke_tokens=true`, everything issued to the client on a user's behalf
    /// (grants, their refresh and access tokens) is revoked too; its client credentials tokens
    /// run out within their lifetime.
    ///
    /// **Permissions**: admin.
    #[oai(
        path = "/:client_id/secret",
        method = "post",
        operation_id = "admin_rotate_client_secret"
    )]
    async fn rotate_secret(
        &self,
        auth: AdminAuth,
        Data(state): Data<&AppState>,
        /// The client's `client_id` (the example is the client the create example registers).
        #[oai(example = "crate::admin::objects::example_client_id")]
        client_id: Path<String>,
        /// Seconds the replaced secret keeps working (0 to 2592000, 30 days); 0 when left out.
        #[oai(default, validator(maximum(value = "2592000")))]
        old_secret_valid_for: Query<u32>,
        /// Also revoke the client's grants and the tokens issued from them.
        #[oai(default)]
        revoke_tokens: Query<bool>,
    ) -> Result<Found, AdminFailure> {
        let now = state.clock.now();
        let client = store::clients::get(&state.db, &client_id.0)
            .await
            .map_err(not_found)?;
        let overlap = i64::from(old_secret_valid_for.0);
        let (client, secret) = registration::new_secret(client, state.keeper(), overlap, now)?;
        let txn = state.db.begin().await.map_err(StoreError::from)?;
        store::clients::update(&txn, &client)
            .await
            .map_err(not_found)?;
        if revoke_tokens.0 {
            store::grants::revoke_for_client(&txn, &client.client_id, now).await?;
        }
        txn.commit().await.map_err(StoreError::from)?;
        tracing::info!(admin = %auth.0.client_id, action = "client.rotate_secret", client_id = %client.client_id);
        Ok(Found::Ok(Json(ClientView::new(client, Some(secret)))))
    }
}
