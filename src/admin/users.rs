//! `/admin/users`

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

use super::auth::AdminAuth;
use super::objects::{
    claims_map, AdminFailure, PasswordSet, SecondFactorView, UserAppList, UserCreate, UserPage,
    UserPatch, UserSessionList, UserView,
};
use super::payload::AdminJson;
use crate::clock::rfc3339;
use crate::http::tags::ApiTags;
use crate::oidc::account;
use crate::oidc::accounts::{self, NewUser};
use crate::oidc::factors;
use crate::state::AppState;
use crate::store::users::UserOrder;
use crate::store::{self, StoreError};

pub struct UsersApi;

#[derive(ApiResponse)]
pub enum Created {
    #[oai(status = 201)]
    Created(Json<UserView>),
}

#[derive(ApiResponse)]
pub enum Found {
    #[oai(status = 200)]
    Ok(Json<UserView>),
}

#[derive(ApiResponse)]
pub enum Listed {
    #[oai(status = 200)]
    Ok(Json<UserPage>),
}

#[derive(ApiResponse)]
pub enum Apps {
    #[oai(status = 200)]
    Ok(Json<UserAppList>),
}

#[derive(ApiResponse)]
pub enum Sessions {
    #[oai(status = 200)]
    Ok(Json<UserSessionList>),
}

#[derive(ApiResponse)]
pub enum Done {
    #[oai(status = 204)]
    Done,
}

fn not_found(e: StoreError) -> AdminFailure {
    match e {
        StoreError::NotFound => AdminFailure::NotFound("user"),
        other => other.into(),
    }
}

fn account_error_of(e: crate::oidc::sign_out::SignOutError) -> AdminFailure {
    account_error(e.into())
}

fn account_error(e: accounts::AccountError) -> AdminFailure {
    match e {
        accounts::AccountError::Store(s) => not_found(s),
        other => other.into(),
    }
}

#[OpenApi(prefix_path = "/admin/users", tag = "ApiTags::AdminUsers")]
impl UsersApi {
    /// Create a user
    ///
    /// The example creates `grace`; tried a second time it answers 409 (the username is
    /// taken).
    ///
    /// **Permissions**: admin.
    #[oai(path = "/", method = "post", operation_id = "admin_create_user")]
    async fn create(
        &self,
        auth: AdminAuth,
        Data(state): Data<&AppState>,
        body: AdminJson<UserCreate>,
    ) -> Result<Created, AdminFailure> {
        let b = body.0;
        let user = accounts::create(
            &state.db,
            &state.passwords,
            &state.claims,
            NewUser {
                username: b.username,
                password: b.password,
                claims: claims_map(b.claims.unwrap_or_default()),
            },
            state.clock.now(),
        )
        .await?;
        tracing::info!(admin = %auth.0.client_id, action = "user.create", user_id = %user.id);
        Ok(Created::Created(Json(user.into())))
    }

    /// List users
    ///
    /// In id order; pass the previous page's `next` as `after`.
    ///
    /// **Permissions**: admin.
    #[oai(path = "/", method = "get", operation_id = "admin_list_users")]
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
        let page = store::users::list(&state.db, UserOrder::Id, after.0.as_deref(), limit).await?;
        let next = (page.len() as u64 == limit)
            .then(|| page.last().map(|u| u.id.clone()))
            .flatten();
        Ok(Listed::Ok(Json(UserPage {
            items: page.into_iter().map(UserView::from).collect(),
            next,
        })))
    }

    /// Get a user
    ///
    /// With their second factors (the authenticator apps they set up, never a secret) and how
    /// many recovery codes they have left, which lists leave out.
    ///
    /// **Permissions**: admin.
    #[oai(path = "/:id", method = "get", operation_id = "admin_get_user")]
    async fn get(
        &self,
        _auth: AdminAuth,
        Data(state): Data<&AppState>,
        /// The user's `id` (the `id` member of the create or list answer).
        #[oai(example = "crate::admin::objects::example_user_id")]
        id: Path<String>,
    ) -> Result<Found, AdminFailure> {
        let user = store::users::get(&state.db, &id.0)
            .await
            .map_err(not_found)?;
        let factors = store::factors::list(&state.db, &user.id)
            .await?
            .into_iter()
            .filter(|f| f.confirmed_at.is_some())
            .map(|f| SecondFactorView {
                id: f.id,
                kind: f.kind,
                name: f.name,
                created_at: rfc3339(f.created_at),
                last_used_at: f.last_used_at.map(rfc3339),
            })
            .collect();
        let recovery_codes_left = store::factors::recovery_codes_left(&state.db, &user.id).await?;
        let mut view = UserView::from(user);
        view.second_factors = Some(factors);
        view.recovery_codes_left = Some(recovery_codes_left);
        Ok(Found::Ok(Json(view)))
    }

    /// Update a user's claims
    ///
    /// Replaces the claims: OIDC standard claims and declared ones, of their declared types.
    ///
    /// **Permissions**: admin.
    #[oai(path = "/:id", method = "patch", operation_id = "admin_update_user")]
    async fn update(
        &self,
        auth: AdminAuth,
        Data(state): Data<&AppState>,
        /// The user's `id` (the `id` member of the create or list answer).
        #[oai(example = "crate::admin::objects::example_user_id")]
        id: Path<String>,
        body: AdminJson<UserPatch>,
    ) -> Result<Found, AdminFailure> {
        let claims = claims_map(body.0.claims);
        accounts::validate_claims(&state.claims, &claims)?;
        // In one transaction: the claims, and the mailed links that die with the address.
        let txn = state.db.begin().await.map_err(StoreError::from)?;
        store::users::set_claims(&txn, &id.0, &claims, state.clock.now())
            .await
            .map_err(not_found)?;
        txn.commit().await.map_err(StoreError::from)?;
        tracing::info!(admin = %auth.0.client_id, action = "user.update", user_id = %id.0);
        let user = store::users::get(&state.db, &id.0)
            .await
            .map_err(not_found)?;
        Ok(Found::Ok(Json(user.into())))
    }

    /// Set a user's password
    ///
    /// **Permissions**: admin.
    #[oai(
        path = "/:id/password",
        method = "put",
        operation_id = "admin_set_user_password"
    )]
    async fn set_password(
        &self,
        auth: AdminAuth,
        Data(state): Data<&AppState>,
        /// The user's `id` (the `id` member of the create or list answer).
        #[oai(example = "crate::admin::objects::example_user_id")]
        id: Path<String>,
        body: AdminJson<PasswordSet>,
    ) -> Result<Done, AdminFailure> {
        let user = store::users::get(&state.db, &id.0)
            .await
            .map_err(not_found)?;
        accounts::set_password(
            state.provider(),
            &user.username,
            body.0.password,
            state.config.login.password_change_revokes_grants,
            None,
            state.clock.now(),
        )
        .await
        .map_err(account_error)?;
        tracing::info!(admin = %auth.0.client_id, action = "user.set_password", user_id = %id.0);
        Ok(Done::Done)
    }

    /// Disable a user
    ///
    /// The user can no longer sign in; every grant is revoked and every session ended.
    ///
    /// **Permissions**: admin.
    #[oai(
        path = "/:id/disable",
        method = "post",
        operation_id = "admin_disable_user"
    )]
    async fn disable(
        &self,
        auth: AdminAuth,
        Data(state): Data<&AppState>,
        /// The user's `id` (the `id` member of the create or list answer).
        #[oai(example = "crate::admin::objects::example_user_id")]
        id: Path<String>,
    ) -> Result<Found, AdminFailure> {
        set_disabled(state, &auth, &id.0, true).await
    }

    /// Enable a user
    ///
    /// **Permissions**: admin.
    #[oai(
        path = "/:id/enable",
        method = "post",
        operation_id = "admin_enable_user"
    )]
    async fn enable(
        &self,
        auth: AdminAuth,
        Data(state): Data<&AppState>,
        /// The user's `id` (the `id` member of the create or list answer).
        #[oai(example = "crate::admin::objects::example_user_id")]
        id: Path<String>,
    ) -> Result<Found, AdminFailure> {
        set_disabled(state, &auth, &id.0, false).await
    }

    /// List a user's apps
    ///
    /// The apps with access to the user's account: from the consents the user gave and the
    /// live grants, with the scopes, since when, and whether they keep access while the user
    /// is away (`offline_access`).
    ///
    /// **Permissions**: admin.
    #[oai(
        path = "/:id/apps",
        method = "get",
        operation_id = "admin_list_user_apps"
    )]
    async fn apps(
        &self,
        _auth: AdminAuth,
        Data(state): Data<&AppState>,
        /// The user's `id` (the `id` member of the create or list answer).
        #[oai(example = "crate::admin::objects::example_user_id")]
        id: Path<String>,
    ) -> Result<Apps, AdminFailure> {
        store::users::get(&state.db, &id.0)
            .await
            .map_err(not_found)?;
        let apps = account::apps(&state.db, &id.0, state.clock.now()).await?;
        Ok(Apps::Ok(Json(UserAppList {
            items: apps.into_iter().map(Into::into).collect(),
        })))
    }

    /// Revoke an app's access
    ///
    /// Forgets the user's consent to the app (it asks again) and revokes its grants: its
    /// refresh tokens and the access tokens issued from them stop working at once, and the
    /// app is sent a back-channel logout token naming the user, if it takes them.
    ///
    /// **Permissions**: admin.
    #[oai(
        path = "/:id/apps/:client_id",
        method = "delete",
        operation_id = "admin_revoke_user_app"
    )]
    async fn revoke_app(
        &self,
        auth: AdminAuth,
        Data(state): Data<&AppState>,
        /// The user's `id` (the `id` member of the create or list answer).
        #[oai(example = "crate::admin::objects::example_user_id")]
        id: Path<String>,
        /// The app's `client_id`.
        #[oai(example = "crate::admin::objects::example_client_id")]
        client_id: Path<String>,
    ) -> Result<Done, AdminFailure> {
        let revoked = account::revoke_app(state.provider(), &id.0, &client_id.0, state.clock.now())
            .await
            .map_err(account_error_of)?;
        if !revoked {
            return Err(AdminFailure::NotFound("app with access for this user"));
        }
        tracing::info!(admin = %auth.0.client_id, action = "user.revoke_app", user_id = %id.0, client_id = %client_id.0);
        Ok(Done::Done)
    }

    /// List a user's sessions
    ///
    /// The user's live browser sessions, most recently used first.
    ///
    /// **Permissions**: admin.
    #[oai(
        path = "/:id/sessions",
        method = "get",
        operation_id = "admin_list_user_sessions"
    )]
    async fn sessions(
        &self,
        _auth: AdminAuth,
        Data(state): Data<&AppState>,
        /// The user's `id` (the `id` member of the create or list answer).
        #[oai(example = "crate::admin::objects::example_user_id")]
        id: Path<String>,
    ) -> Result<Sessions, AdminFailure> {
        store::users::get(&state.db, &id.0)
            .await
            .map_err(not_found)?;
        let sessions = account::sessions(state.provider(), &id.0, state.clock.now()).await?;
        Ok(Sessions::Ok(Json(UserSessionList {
            items: sessions.into_iter().map(Into::into).collect(),
        })))
    }

    /// End a user's session
    ///
    /// Signs the user out of that browser. What `logout.revoke` says of the tokens issued in
    /// the session dies with it, and every app that took part is sent a back-channel logout
    /// token.
    ///
    /// **Permissions**: admin.
    #[oai(
        path = "/:id/sessions/:sid",
        method = "delete",
        operation_id = "admin_end_user_session"
    )]
    async fn end_session(
        &self,
        auth: AdminAuth,
        Data(state): Data<&AppState>,
        /// The user's `id` (the `id` member of the create or list answer).
        #[oai(example = "crate::admin::objects::example_user_id")]
        id: Path<String>,
        /// The session's `sid` (from the list of sessions).
        #[oai(example = "crate::admin::objects::example_sid")]
        sid: Path<String>,
    ) -> Result<Done, AdminFailure> {
        let ended = account::end_session(state.provider(), &id.0, &sid.0, state.clock.now())
            .await
            .map_err(account_error_of)?;
        if ended.is_none() {
            return Err(AdminFailure::NotFound("session"));
        }
        tracing::info!(admin = %auth.0.client_id, action = "user.end_session", user_id = %id.0);
        Ok(Done::Done)
    }

    /// Reset a user's second factors
    ///
    /// Removes every authenticator app and recovery code of the user, for someone who lost
    /// them: they sign in with their password alone again (unless `login.second_factor` is
    /// `required`, which then has them set up a new one). Every session of the user ends
    /// (whoever holds the lost device may hold one). Logged with the admin client that did
    /// it.
    ///
    /// **Permissions**: admin.
    #[oai(
        path = "/:id/factors",
        method = "delete",
        operation_id = "admin_reset_user_factors"
    )]
    async fn reset_factors(
        &self,
        auth: AdminAuth,
        Data(state): Data<&AppState>,
        /// The user's `id` (the `id` member of the create or list answer).
        #[oai(example = "crate::admin::objects::example_user_id")]
        id: Path<String>,
    ) -> Result<Done, AdminFailure> {
        store::users::get(&state.db, &id.0)
            .await
            .map_err(not_found)?;
        let by = format!("admin client {}", auth.0.client_id);
        factors::reset(state.provider(), &id.0, &by, state.clock.now()).await?;
        Ok(Done::Done)
    }

    /// Delete a user
    ///
    /// Their sessions, consents, grants and tokens go with them.
    ///
    /// **Permissions**: admin.
    #[oai(path = "/:id", method = "delete", operation_id = "admin_delete_user")]
    async fn delete(
        &self,
        auth: AdminAuth,
        Data(state): Data<&AppState>,
        /// The user's `id` (the `id` member of the create or list answer).
        #[oai(example = "crate::admin::objects::example_user_id")]
        id: Path<String>,
    ) -> Result<Done, AdminFailure> {
        store::users::delete(&state.db, &id.0)
            .await
            .map_err(not_found)?;
        tracing::info!(admin = %auth.0.client_id, action = "user.delete", user_id = %id.0);
        Ok(Done::Done)
    }
}

async fn set_disabled(
    state: &AppState,
    auth: &AdminAuth,
    id: &str,
    disabled: bool,
) -> Result<Found, AdminFailure> {
    accounts::set_disabled(state.provider(), id, disabled, state.clock.now())
        .await
        .map_err(account_error)?;
    tracing::info!(admin = %auth.0.client_id, action = if disabled { "user.disable" } else { "user.enable" }, user_id = %id);
    let user = store::users::get(&state.db, id).await.map_err(not_found)?;
    Ok(Found::Ok(Json(user.into())))
}
