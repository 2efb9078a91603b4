//! `GET /api/decisions` and `POST /api/decisions`: the review decisions
//! `dupes` honours, read and changed through the resident state. A POST
//! body `{"kind": "not-duplicate" | "keeper" | "reviewed" | "keep" |
//! "unkeep" | "clear", "paths": [...]}` becomes the library's
//! `DecideRequest`, as `imgdex decide` does; like every POST it needs the API token (see `access`).
//! Also what the review page asks while deciding: `POST
//! /api/dupes/evidence` (members against the keeper the user picked) and
//! `GET /api/index/progress`.

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

/// Most members one evidence request may name.
const MAX_MEMBERS: usize = 10_000;

#[derive(Debug, Deserialize)]
pub struct EvidenceBody {
    keeper: String,
    members: Vec<String>,
}

/// `POST /api/dupes/evidence`: `{"keeper": PATH, "members": [PATH, ...]}`
/// → `[{"path", "evidence"}]`, each member against that keeper.
pub async fn evidence(
    State(s): State<AppState>,
    body: Result<Json<EvidenceBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(b) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if b.members.len() > MAX_MEMBERS {
        return Err(ApiError::bad_request(format!(
            "at most {MAX_MEMBERS} members per request, got {}",
            b.members.len()
        )));
    }
    let keeper = PathBuf::from(b.keeper);
    let members: Vec<PathBuf> = b.members.into_iter().map(PathBuf::from).collect();
    let r = blocking(s, move |r| r.evidence(&keeper, &members)).await?;
    Ok(Json(r).into_response())
}

/// `GET /api/index/progress`: `{"running", "done", "total"}`.
pub async fn index_progress(State(s): State<AppState>) -> Response {
    Json(s.index_progress()).into_response()
}
