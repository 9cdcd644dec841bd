//! `/admin/logout-deliveries`: the outbox of back-channel logout tokens, so an operator can
//! see what reached the apps, what is still being tried, and what was given up.

use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

use super::auth::AdminAuth;
use super::objects::{AdminFailure, LogoutDeliveryPage, LogoutDeliveryView};
use crate::http::tags::ApiTags;
use crate::state::AppState;
use crate::store::logout_deliveries::{self, DELIVERED, FAILED, PENDING};

pub struct LogoutDeliveriesApi;

#[derive(ApiResponse)]
pub enum Listed {
    #[oai(status = 200)]
    Ok(Json<LogoutDeliveryPage>),
}

/// A page's cursor: the creation time and id of its last item.
fn cursor(d: &logout_deliveries::Delivery) -> String {
    format!("{}.{}", d.created_at, d.id)
}

fn bad(message: &str) -> AdminFailure {
    AdminFailure::Invalid(crate::oauth::registration::FieldError {
        field: "query",
        message: message.to_owned(),
    })
}

#[OpenApi(prefix_path = "/admin/logout-deliveries", tag = "ApiTags::AdminUsers")]
impl LogoutDeliveriesApi {
    /// List back-channel logout deliveries
    ///
    /// Newest first; pass the previous page's `next` as `before`. `state` is `pending`,
    /// `delivered` or `failed`.
    ///
    /// **Permissions**: admin.
    #[oai(
        path = "/",
        method = "get",
        operation_id = "admin_list_logout_deliveries"
    )]
    async fn list(
        &self,
        _auth: AdminAuth,
        Data(state): Data<&AppState>,
        #[oai(name = "state")] wanted: Query<Option<String>>,
        client_id: Query<Option<String>>,
        before: Query<Option<String>>,
        /// 1 to 200, default 50.
        #[oai(example = "crate::admin::objects::example_limit")]
        limit: Query<Option<u64>>,
    ) -> Result<Listed, AdminFailure> {
        let limit = super::limit(limit.0);
        if let Some(s) = wanted.0.as_deref() {
            if ![PENDING, DELIVERED, FAILED].contains(&s) {
                return Err(bad("state must be pending, delivered or failed"));
            }
        }
        let before = match before.0.as_deref() {
            None => None,
            Some(text) => {
                let (at, id) = text
                    .split_once('.')
                    .and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id)))
                    .ok_or_else(|| bad("before must be the `next` of a page"))?;
                Some((at, id))
            }
        };
        let page = logout_deliveries::list(
            &state.db,
            wanted.0.as_deref(),
            client_id.0.as_deref(),
            before,
            limit,
        )
        .await?;
        let next = (page.len() as u64 == limit)
            .then(|| page.last().map(cursor))
            .flatten();
        Ok(Listed::Ok(Json(LogoutDeliveryPage {
            items: page.into_iter().map(LogoutDeliveryView::from).collect(),
            next,
        })))
    }
}
