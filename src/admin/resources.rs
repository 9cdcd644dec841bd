//! `/admin/resources`: the APIs access tokens can be issued for (RFC 8707). A resource is
//! named by its identifier, a URI, which goes in the query string (`?identifier=`) rather
//! than in the path.

use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

use super::auth::AdminAuth;
use super::objects::{AdminFailure, ResourceCreate, ResourcePage, ResourcePatch, ResourceView};
use super::payload::AdminJson;
use crate::http::tags::ApiTags;
use crate::oauth::registration::{self, FieldError, ResourceRegistration};
use crate::oauth::scope;
use crate::state::AppState;
use crate::store::{self, StoreError};

pub struct ResourcesApi;

#[derive(ApiResponse)]
pub enum Created {
    /// Registered.
    #[oai(status = 201)]
    Created(Json<ResourceView>),
}

#[derive(ApiResponse)]
pub enum Found {
    #[oai(status = 200)]
    Ok(Json<ResourceView>),
}

#[derive(ApiResponse)]
pub enum Listed {
    #[oai(status = 200)]
    Ok(Json<ResourcePage>),
}

#[derive(ApiResponse)]
pub enum Deleted {
    /// Deleted, and taken off every client's list.
    #[oai(status = 204)]
    Deleted,
}

fn not_found(e: StoreError) -> AdminFailure {
    match e {
        StoreError::NotFound => AdminFailure::NotFound("resource"),
        other => other.into(),
    }
}

fn parse_scope(value: Option<&str>) -> Result<Option<Vec<String>>, AdminFailure> {
    value
        .map(|v| {
            scope::parse(v).map_err(|e| {
                AdminFailure::Invalid(FieldError {
                    field: "scope",
                    message: e.description.into_owned(),
                })
            })
        })
        .transpose()
}

#[OpenApi(prefix_path = "/admin/resources", tag = "ApiTags::AdminResources")]
impl ResourcesApi {
    /// Register a resource
    ///
    /// An API that access tokens can then be issued for: a client allowed it (its
    /// `resources`) sends `resource=<identifier>` at the authorization, device authorization
    /// or token endpoint, and gets an access token whose `aud` is the identifier, carrying
    /// those of its scopes that the resource accepts. Tried a second time the example answers
    /// 409 (the identifier is taken).
    ///
    /// **Permissions**: admin.
    #[oai(path = "/", method = "post", operation_id = "admin_create_resource")]
    async fn create(
        &self,
        auth: AdminAuth,
        Data(state): Data<&AppState>,
        body: AdminJson<ResourceCreate>,
    ) -> Result<Created, AdminFailure> {
        let b = body.0;
        let reg = ResourceRegistration {
            identifier: b.identifier,
            name: b.name,
            scopes: parse_scope(b.scope.as_deref())?.unwrap_or_default(),
        };
        let registered =
            registration::register_resource(&state.db, reg, Some(&state.issuer), state.clock.now())
                .await?;
        tracing::info!(admin = %auth.0.client_id, action = "resource.create", resource = %registered.identifier);
        Ok(Created::Created(Json(ResourceView::new(registered))))
    }

    /// List resources, or get one
    ///
    /// In identifier order; pass the previous page's `next` as `after`. With `identifier`,
    /// the one resource (404 when there is none).
    ///
    /// **Permissions**: admin.
    #[oai(path = "/", method = "get", operation_id = "admin_list_resources")]
    async fn list(
        &self,
        _auth: AdminAuth,
        Data(state): Data<&AppState>,
        /// Only this resource.
        identifier: Query<Option<String>>,
        after: Query<Option<String>>,
        /// 1 to 200, default 50.
        #[oai(example = "crate::admin::objects::example_limit")]
        limit: Query<Option<u64>>,
    ) -> Result<Listed, AdminFailure> {
        if let Some(identifier) = identifier.0 {
            let found = store::resources::get(&state.db, &identifier)
                .await
                .map_err(not_found)?;
            return Ok(Listed::Ok(Json(ResourcePage {
                items: vec![ResourceView::new(found)],
                next: None,
            })));
        }
        let limit = super::limit(limit.0);
        let page = store::resources::list(&state.db, after.0.as_deref(), limit).await?;
        let next = (page.len() as u64 == limit)
            .then(|| page.last().map(|r| r.identifier.clone()))
            .flatten();
        Ok(Listed::Ok(Json(ResourcePage {
            items: page.into_iter().map(ResourceView::new).collect(),
            next,
        })))
    }

    /// Update a resource
    ///
    /// Its name and scopes; members left out stay as they are. Tokens already issued keep
    /// their scopes until they expire; the next ones get the new list.
    ///
    /// **Permissions**: admin.
    #[oai(path = "/", method = "patch", operation_id = "admin_update_resource")]
    async fn update(
        &self,
        auth: AdminAuth,
        Data(state): Data<&AppState>,
        /// The resource's identifier.
        #[oai(example = "crate::admin::objects::example_resource")]
        identifier: Query<Option<String>>,
        body: AdminJson<ResourcePatch>,
    ) -> Result<Found, AdminFailure> {
        let identifier = required(identifier.0)?;
        let found = store::resources::get(&state.db, &identifier)
            .await
            .map_err(not_found)?;
        let b = body.0;
        let scopes = parse_scope(b.scope.as_deref())?;
        let updated = registration::update_resource(found, b.name, scopes, state.clock.now())?;
        store::resources::update(&state.db, &updated)
            .await
            .map_err(not_found)?;
        tracing::info!(admin = %auth.0.client_id, action = "resource.update", resource = %updated.identifier);
        Ok(Found::Ok(Json(ResourceView::new(updated))))
    }

    /// Delete a resource
    ///
    /// Clients lose it from their lists, so registering the identifier again gives nobody
    /// access by surprise. Tokens already issued for it run out within their lifetime;
    /// grants that named it get no more tokens for it.
    ///
    /// **Permissions**: admin.
    #[oai(path = "/", method = "delete", operation_id = "admin_delete_resource")]
    async fn delete(
        &self,
        auth: AdminAuth,
        Data(state): Data<&AppState>,
        /// The resource's identifier.
        #[oai(example = "crate::admin::objects::example_resource")]
        identifier: Query<Option<String>>,
    ) -> Result<Deleted, AdminFailure> {
        let identifier = required(identifier.0)?;
        let txn = state.db.begin().await.map_err(StoreError::from)?;
        store::resources::delete(&txn, &identifier, state.clock.now())
            .await
            .map_err(not_found)?;
        txn.commit().await.map_err(StoreError::from)?;
        tracing::info!(admin = %auth.0.client_id, action = "resource.delete", resource = %identifier);
        Ok(Deleted::Deleted)
    }
}

/// `identifier` names the resource a change is for.
fn required(identifier: Option<String>) -> Result<String, AdminFailure> {
    identifier.ok_or_else(|| {
        AdminFailure::Invalid(FieldError {
            field: "identifier",
            message: "the query parameter `identifier` names the resource to change".into(),
        })
    })
}
