//! `GET /`: a small landing page naming the provider, its discovery URL and its API docs,
//! so a first visit to the issuer URL leads somewhere.

use poem::http::StatusCode;
use poem::{Request, Response};

use super::pages;
use crate::state::AppState;

pub const PATH: &str = "/";

/// The page, for a `GET /` (the router sends it here ahead of the JSON API nested at `/`).
pub fn page(req: &Request) -> Response {
    let Some(state) = req.data::<AppState>() else {
        return Response::builder()
            .status(StatusCode::INTERNAL_SERVER_ERROR)
            .finish();
    };
    let discovery = format!("{}/.well-known/openid-configuration", state.issuer);
    pages::render(
        state,
        StatusCode::OK,
        "home.html",
        minijinja::context! {
            name => "oidcd",
            issuer => state.issuer.as_ref(),
            discovery,
        },
        None,
    )
}
