//! `/admin/initial-access-tokens`: what lets apps register themselves while
//! `registration.mode` is `initial_access_token` (RFC 7591 section 3).

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

use super::auth::AdminAuth;
use super::objects::{
    AdminFailure, InitialAccessTokenCreate, InitialAccessTokenPage, InitialAccessTokenView,
};
use super::payload::AdminJson;
use crate::http::tags::ApiTags;
use crate::oauth::dynamic;
use crate::state::AppState;
use crate::store::{self, StoreError};

/// What an initial access token allows when the operator does not say.
pub const DEFAULT_USES: i64 = 1;
pub const DEFAULT_LIFETIME: i64 = 86_400;

pub struct InitialAccessTokensApi;

#[derive(ApiResponse)]
pub enum Created {
    /// Minted. The token is in this answer and never shown again.
    #[oai(status = 201)]
    Created(Json<InitialAccessTokenView>),
}

#[derive(ApiResponse)]
pub enum Listed {
    #[oai(status = 200)]
    Ok(Json<InitialAccessTokenPage>),
}

#[derive(ApiResponse)]
pub enum Deleted {
    /// Revoked: it registers nothing more (apps it registered stay).
    #[oai(status = 204)]
    Deleted,
}

#[OpenApi(
    prefix_path = "/admin/initial-access-tokens",
    tag = "ApiTags::AdminInitialAccessTokens"
)]
impl InitialAccessTokensApi {
    /// Mint an initial access token
    ///
    /// A bearer token an app presents to `/oauth/register` to register itself, good for
    /// `uses` registrations until it expires. Only its hash is kept: the token is in this
    /// answer only.
    ///
    /// **Permissions**: admin.
    #[oai(
        path = "/",
        method = "post",
        operation_id = "admin_create_initial_access_token"
    )]
    async fn create(
        &self,
        auth: AdminAuth,
        Data(state): Data<&AppState>,
        body: AdminJson<InitialAccessTokenCreate>,
    ) -> Result<Created, AdminFailure> {
        let b = body.0;
        let (row, token) = dynamic::mint(
            &state.secrets,
            b.note.unwrap_or_default(),
            b.uses.unwrap_or(DEFAULT_USES),
            b.expires_in.unwrap_or(DEFAULT_LIFETIME),
            state.clock.now(),
        )?;
        store::initial_access_tokens::insert(&state.db, &row).await?;
        tracing::info!(admin = %auth.0.client_id, action = "initial_access_token.create", id = %row.id);
        Ok(Created::Created(Json(InitialAccessTokenView::new(
            row,
            Some(token),
        ))))
    }

    /// List initial access tokens
    ///
    /// In id order, expired ones left out once swept; pass the previous page's `next` as
    /// `after`.
    ///
    /// **Permissions**: admin.
    #[oai(
        path = "/",
        method = "get",
        operation_id = "admin_list_initial_access_tokens"
    )]
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
        let page = store::initial_access_tokens::list(&state.db, after.0.as_deref(), limit).await?;
        let next = (page.len() as u64 == limit)
            .then(|| page.last().map(|t| t.id.clone()))
            .flatten();
        Ok(Listed::Ok(Json(InitialAccessTokenPage {
            items: page
                .into_iter()
                .map(|t| InitialAccessTokenView::new(t, None))
                .collect(),
            next,
        })))
    }

    /// Revoke an initial access token
    ///
    /// **Permissions**: admin.
    #[oai(
        path = "/:id",
        method = "delete",
        operation_id = "admin_delete_initial_access_token"
    )]
    async fn delete(
        &self,
        auth: AdminAuth,
        Data(state): Data<&AppState>,
        /// The token's `id` (from the create or list answer).
        #[oai(example = "crate::admin::objects::example_initial_access_token_id")]
        id: Path<String>,
    ) -> Result<Deleted, AdminFailure> {
        store::initial_access_tokens::delete(&state.db, &id.0)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => AdminFailure::NotFound("initial access token"),
                other => other.into(),
            })?;
        tracing::info!(admin = %auth.0.client_id, action = "initial_access_token.delete", id = %id.0);
        Ok(Deleted::Deleted)
    }
}
