//! The JSON API handlers: parse and validate parameters, run the resident
//! call on a blocking thread, return its report as JSON (or bytes).

use std::path::PathBuf;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use imgdex::jobs::apply::{
    self as jobs_apply, Action, ApplyConfig, ApplyRequest, GroupChoice, KeepPolicy,
};
use imgdex::jobs::dupes::{DupesConfig, DupesRequest};
use imgdex::jobs::query::{QueryRequest, QuerySettings};
use imgdex::service::{Resident, Written};

use super::error::ApiError;
use super::State as AppState;

type ApiResult<T> = Result<T, ApiError>;

/// Most neighbours one query may ask for.
const MAX_K: usize = 1000;

/// Run `f` on the resident state on a blocking thread.
pub(super) async fn blocking<T: Send + 'static>(
    state: AppState,
    f: impl FnOnce(&Resident) -> imgdex::Result<T> + Send + 'static,
) -> ApiResult<T> {
    Ok(tokio::task::spawn_blocking(move || f(&state)).await??)
}

#[derive(Debug, Deserialize)]
pub struct QueryParams {
    k: Option<String>,
    by: Option<String>,
    path: Option<String>,
}

/// The library's [`QueryRequest`] from the query string (`k`, `by`),
/// checked by the library as the CLI's is (here `k` is capped).
fn query_settings(p: &QueryParams) -> ApiResult<QuerySettings> {
    let bad = |e: imgdex::Error| ApiError::bad_request(e.to_string());
    let req = QueryRequest {
        k: p.k
            .as_deref()
            .map(|k| QueryRequest::parse_k(k, MAX_K))
            .transpose()
            .map_err(bad)?,
        by: p.by.as_deref().map(str::parse).transpose().map_err(bad)?,
        max_k: Some(MAX_K),
    };
    req.settings().map_err(bad)
}

pub async fn info(State(s): State<AppState>) -> ApiResult<Response> {
    let r = blocking(s, |r| r.info()).await?;
    Ok(Json(&*r).into_response())
}

pub async fn query_upload(
    State(s): State<AppState>,
    Query(p): Query<QueryParams>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let body = body.map_err(|e| ApiError(e.status(), e.body_text()))?;
    let QuerySettings { k, by } = query_settings(&p)?;
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "empty body: POST the image file's bytes",
        ));
    }
    let hits = blocking(s, move |r| r.query_bytes(&body, k, by)).await?;
    Ok(Json(hits).into_response())
}

pub async fn query_path(
    State(s): State<AppState>,
    Query(p): Query<QueryParams>,
) -> ApiResult<Response> {
    let QuerySettings { k, by } = query_settings(&p)?;
    let path = p.path.ok_or_else(|| {
        ApiError::bad_request("GET /api/query needs ?path=ABSOLUTE_PATH of an indexed file")
    })?;
    let path = PathBuf::from(path);
    let hits = blocking(s, move |r| r.query_path(&path, k, by)).await?;
    Ok(Json(hits).into_response())
}

#[derive(Debug, Deserialize)]
pub struct DupesParams {
    by: Option<String>,
    preset: Option<String>,
}

/// The library's [`DupesRequest`] from the query (`preset`, `by`), checked
/// by the library as the CLI's is.
pub fn dupes_config(p: &DupesParams) -> ApiResult<DupesConfig> {
    let bad = |e: imgdex::Error| ApiError::bad_request(e.to_string());
    let req = DupesRequest {
        preset: Some(
            p.preset
                .as_deref()
                .unwrap_or("default")
                .parse()
                .map_err(bad)?,
        ),
        by: p.by.as_deref().map(str::parse).transpose().map_err(bad)?,
        ..DupesRequest::default()
    };
    req.config().map_err(bad)
}

pub async fn dupes(State(s): State<AppState>, Query(p): Query<DupesParams>) -> ApiResult<Response> {
    let cfg = dupes_config(&p)?;
    let r = blocking(s, move |r| r.dupes(&cfg)).await?;
    Ok(Json(&*r).into_response())
}

fn parse_id(id: &str) -> ApiResult<u64> {
    id.parse::<u64>()
        .map_err(|_| ApiError::bad_request(format!("`{id}` is not an image id (a whole number)")))
}

pub async fn thumb(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let id = parse_id(&id)?;
    let t = blocking(s, move |r| r.thumb(id)).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "private, max-age=300"),
        ],
        t.as_ref().clone(),
    )
        .into_response())
}

/// The original file, verified, then streamed (never held whole).
pub async fn image(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    use tokio::io::AsyncReadExt;
    let id = parse_id(&id)?;
    let o = blocking(s, move |r| r.image(id)).await?;
    let file = tokio::fs::File::from_std(o.file).take(o.len);
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(file));
    Ok((
        [
            (header::CONTENT_TYPE, o.content_type.to_string()),
            (header::CONTENT_LENGTH, o.len.to_string()),
            (header::CACHE_CONTROL, "private, max-age=60".to_string()),
        ],
        body,
    )
        .into_response())
}

pub async fn index(State(s): State<AppState>) -> ApiResult<Response> {
    written(blocking(s, |r| r.index()).await?)
}

/// A write job's report as JSON, with `reload_error` added when the server
/// could not reload the store after it (the job itself succeeded).
fn written<T: Serialize>(w: Written<T>) -> ApiResult<Response> {
    let mut body = serde_json::to_value(&w.report)
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    if let (Some(e), Some(obj)) = (w.reload_error, body.as_object_mut()) {
        obj.insert("reload_error".into(), e.to_string().into());
    }
    Ok(Json(body).into_response())
}

#[derive(Debug, Deserialize)]
pub struct ClusterParams {
    sample: Option<usize>,
    offset: Option<usize>,
    limit: Option<usize>,
}

pub async fn clusters(
    State(s): State<AppState>,
    Query(p): Query<ClusterParams>,
) -> ApiResult<Response> {
    let sample = p.sample.unwrap_or(8).min(100);
    let v = blocking(s, move |r| r.clusters(sample)).await?;
    Ok(Json(v).into_response())
}

pub async fn cluster_members(
    State(s): State<AppState>,
    Path(c): Path<String>,
    Query(p): Query<ClusterParams>,
) -> ApiResult<Response> {
    let c = c
        .parse::<u32>()
        .map_err(|_| ApiError::bad_request(format!("`{c}` is not a cluster number")))?;
    let (offset, limit) = (p.offset.unwrap_or(0), p.limit.unwrap_or(60).min(1000));
    let v = blocking(s, move |r| r.cluster_members(c, offset, limit)).await?;
    Ok(Json(v).into_response())
}

/// One group as the UI decided it: the keeper it chose and the members.
#[derive(Debug, Deserialize)]
pub struct GroupBody {
    keeper: String,
    members: Vec<String>,
}

/// `POST /api/dupes/apply`: the same operation as `dupes --apply`.
#[derive(Debug, Deserialize)]
pub struct ApplyBody {
    /// `move:DIR`, `trash`, `hardlink` or `delete`.
    action: String,
    keep: Option<String>,
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    yes: bool,
    /// The groups to act on; default: the current dupes result of `preset`/`by`.
    groups: Option<Vec<GroupBody>>,
    preset: Option<String>,
    by: Option<String>,
}

/// The library's [`ApplyRequest`] from the body, checked by the library as
/// the CLI's is.
fn apply_config(b: &ApplyBody) -> ApiResult<ApplyConfig> {
    let bad = |e: imgdex::Error| ApiError::bad_request(e.to_string());
    let action = b.action.parse::<Action>().map_err(bad)?;
    let req = ApplyRequest {
        keep: Some(
            b.keep
                .as_deref()
                .unwrap_or("keeper")
                .parse::<KeepPolicy>()
                .map_err(bad)?,
        ),
        dry_run: b.dry_run,
        yes: b.yes,
        ..ApplyRequest::new(action)
    };
    req.config().map_err(bad)
}

pub async fn apply(
    State(s): State<AppState>,
    body: Result<Json<ApplyBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Response> {
    let Json(b) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let mut cfg = apply_config(&b)?;
    let dupes_cfg = dupes_config(&DupesParams {
        by: b.by.clone(),
        preset: b.preset.clone(),
    })?;
    let chosen: Option<Vec<GroupChoice>> = b.groups.map(|gs| {
        gs.into_iter()
            .map(|g| GroupChoice {
                keeper: g.keeper,
                members: g.members,
            })
            .collect()
    });
    let report = blocking(s, move |r| {
        let current = r.dupes(&dupes_cfg)?;
        cfg.reference = r.reference().to_vec();
        let groups = match chosen {
            Some(g) => {
                jobs_apply::check_choices(&g, &current)?;
                jobs_apply::without_reference(g, &current)
            }
            None => GroupChoice::from_report(&current),
        };
        if cfg.dry_run {
            let report = jobs_apply::apply(r.store(), &groups, &cfg)?;
            return Ok(Written {
                report,
                reload_error: None,
            });
        }
        r.write("apply", |store| jobs_apply::apply(store, &groups, &cfg))
    })
    .await?;
    written(report)
}

pub async fn not_found() -> ApiError {
    ApiError(StatusCode::NOT_FOUND, "no such endpoint".into())
}
