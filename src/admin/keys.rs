//! `/admin/keys`

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

use super::auth::AdminAuth;
use super::objects::{AdminFailure, KeyView, RotationView};
use crate::http::tags::ApiTags;
use crate::keys::{rotation, KeyError};
use crate::state::AppState;
use crate::store::{self, StoreError};

pub struct KeysApi;

#[derive(ApiResponse)]
pub enum Listed {
    #[oai(status = 200)]
    Ok(Json<Vec<KeyView>>),
}

#[derive(ApiResponse)]
pub enum Rotated {
    #[oai(status = 200)]
    Ok(Json<RotationView>),
}

#[derive(ApiResponse)]
pub enum Retired {
    /// The key is no longer published; tokens it signed no longer verify.
    #[oai(status = 204)]
    Done,
}

/// This instance sees its own change at once; the others within `keys.cache_ttl`.
async fn refresh(state: &AppState) {
    if let Err(e) = state.keys.refresh(&state.db, state.clock.now()).await {
        tracing::warn!(error = %e, "cannot refresh the key cache after a key change");
    }
}

#[OpenApi(prefix_path = "/admin/keys", tag = "ApiTags::AdminKeys")]
impl KeysApi {
    /// List signing keys
    ///
    /// Every key with its state (next, active, retired) and dates.
    ///
    /// **Permissions**: admin.
    #[oai(path = "/", method = "get", operation_id = "admin_list_keys")]
    async fn list(
        &self,
        _auth: AdminAuth,
        Data(state): Data<&AppState>,
    ) -> Result<Listed, AdminFailure> {
        let keys = store::keys::list(&state.db).await?;
        Ok(Listed::Ok(Json(
            keys.into_iter().map(KeyView::from).collect(),
        )))
    }

    /// Rotate now
    ///
    /// next -> active, active -> retired (published until its tokens expire), a new next.
    /// Refused (409) while the next key is younger than the JWKS cache lifetime, unless
    /// `force=true`.
    ///
    /// **Permissions**: admin.
    #[oai(path = "/rotate", method = "post", operation_id = "admin_rotate_keys")]
    async fn rotate(
        &self,
        auth: AdminAuth,
        Data(state): Data<&AppState>,
        /// Rotate even if relying parties may not have fetched the next key yet.
        #[oai(example = "crate::admin::objects::example_force")]
        force: Query<Option<bool>>,
    ) -> Result<Rotated, AdminFailure> {
        let r = rotation::rotate(
            &state.db,
            state.keys.kek(),
            &state.config.keys,
            &state.config.lifetimes,
            state.clock.now(),
            force.0.unwrap_or(false),
        )
        .await?;
        crate::metrics::Metrics::incr(&state.metrics.key_rotations);
        tracing::info!(admin = %auth.0.client_id, action = "keys.rotate", activated = %r.activated, retired = %r.retired);
        refresh(state).await;
        Ok(Rotated::Ok(Json(r.into())))
    }

    /// Withdraw a retired key early
    ///
    /// Stops publishing a retired key now, for example when it is suspected compromised.
    /// Tokens it signed stop verifying. The active and next keys cannot be withdrawn (409):
    /// rotate first.
    ///
    /// **Permissions**: admin.
    #[oai(
        path = "/:kid/retire",
        method = "post",
        operation_id = "admin_retire_key"
    )]
    async fn retire(
        &self,
        auth: AdminAuth,
        Data(state): Data<&AppState>,
        /// The key's `kid` (from the list answer).
        #[oai(example = "crate::admin::objects::example_kid")]
        kid: Path<String>,
    ) -> Result<Retired, AdminFailure> {
        rotation::retire_early(&state.db, &kid.0, state.clock.now())
            .await
            .map_err(|e| match e {
                KeyError::Store(StoreError::NotFound) => AdminFailure::NotFound("key"),
                other => other.into(),
            })?;
        tracing::warn!(admin = %auth.0.client_id, action = "keys.retire", kid = %kid.0);
        refresh(state).await;
        Ok(Retired::Done)
    }
}
