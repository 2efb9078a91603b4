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

use imgdex::jobs::apply::{self as jobs_apply, Action, ApplyConfig, GroupChoice, KeepPolicy};
use imgdex::jobs::dupes::{DupesBy, DupesConfig, Preset};
use imgdex::jobs::query::QueryBy;
use imgdex::jobs::resident::{Resident, Written};

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

fn parse_k(k: Option<&str>) -> ApiResult<usize> {
    let Some(k) = k else { return Ok(10) };
    match k.parse::<usize>() {
        Ok(k) if (1..=MAX_K).contains(&k) => Ok(k),
        _ => Err(ApiError::bad_request(format!(
            "k must be a whole number between 1 and {MAX_K}, got `{k}`"
        ))),
    }
}

fn parse_query_by(by: Option<&str>) -> ApiResult<QueryBy> {
    Ok(match by.unwrap_or("auto") {
        "auto" => QueryBy::Auto,
        "embedding" => QueryBy::Embedding,
        "hash" => QueryBy::Hash,
        "histogram" => QueryBy::Histogram,
        other => {
            return Err(ApiError::bad_request(format!(
                "by must be auto, embedding, hash or histogram, got `{other}`"
            )))
        }
    })
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
    let k = parse_k(p.k.as_deref())?;
    let by = parse_query_by(p.by.as_deref())?;
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
    let k = parse_k(p.k.as_deref())?;
    let by = parse_query_by(p.by.as_deref())?;
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

pub fn dupes_config(p: &DupesParams) -> ApiResult<DupesConfig> {
    let mut cfg = preset_config(p.preset.as_deref())?;
    let Some(by) = p.by.as_deref() else {
        cfg.validate()
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        return Ok(cfg); // the preset's own
    };
    cfg.by = match by {
        "auto" => DupesBy::Auto,
        "embedding" => DupesBy::Embedding,
        "hash" => DupesBy::Hash,
        "exact" => DupesBy::Exact,
        other => {
            return Err(ApiError::bad_request(format!(
                "by must be auto, embedding, hash or exact, got `{other}`"
            )))
        }
    };
    cfg.validate()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(cfg)
}

fn preset_config(preset: Option<&str>) -> ApiResult<DupesConfig> {
    let p: Preset = preset
        .unwrap_or("default")
        .parse()
        .map_err(|e: imgdex::Error| ApiError::bad_request(e.to_string()))?;
    Ok(DupesConfig::preset(p))
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

fn apply_config(b: &ApplyBody) -> ApiResult<ApplyConfig> {
    let bad = |e: imgdex::Error| ApiError::bad_request(e.to_string());
    let cfg = ApplyConfig {
        action: b.action.parse::<Action>().map_err(bad)?,
        keep: b
            .keep
            .as_deref()
            .unwrap_or("keeper")
            .parse::<KeepPolicy>()
            .map_err(bad)?,
        dry_run: b.dry_run,
        yes: b.yes,
        journal: None,
        reference: Vec::new(),
    };
    cfg.validate().map_err(bad)?;
    Ok(cfg)
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
