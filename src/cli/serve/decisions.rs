//! `GET /api/decisions` and `POST /api/decisions`: the review decisions
//! `dupes` honours, read and changed through the resident state. A POST
//! body `{"kind": "not-duplicate" | "keeper" | "reviewed" | "clear",
//! "paths": [...]}` becomes the library's `DecideRequest`, as `imgdex
//! decide` does; like every POST it needs the API token (see `access`).

use std::path::PathBuf;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use imgdex::jobs::decide::DecideRequest;

use super::api::blocking;
use super::error::ApiError;
use super::State as AppState;

pub async fn list(State(s): State<AppState>) -> Result<Response, ApiError> {
    let r = blocking(s, |r| r.decisions()).await?;
    Ok(Json(r).into_response())
}

#[derive(Debug, Deserialize)]
pub struct DecideBody {
    kind: String,
    #[serde(default)]
    paths: Vec<String>,
}

pub async fn decide(
    State(s): State<AppState>,
    body: Result<Json<DecideBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(b) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let paths = b.paths.into_iter().map(PathBuf::from).collect();
    let req =
        DecideRequest::new(&b.kind, paths).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let r = blocking(s, move |r| r.decide(&req)).await?;
    Ok(Json(r).into_response())
}
