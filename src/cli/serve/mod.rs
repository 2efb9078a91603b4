//! `imgdex serve`: the HTTP shell over [`imgdex::service`]. It opens
//! the store (holding its lock), loads the resident state, binds the
//! address, prints `listening on http://ADDR` as its first line of stdout,
//! and serves the JSON API and the embedded web UI until interrupted.
//! Handlers only parse parameters, run the library call on a blocking
//! thread and turn its result or error into a response.

mod access;
mod api;
mod decisions;
mod error;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::extract::DefaultBodyLimit;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse};
use axum::routing::{get, post};
use axum::Router;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use super::args::ServeArgs;
use super::{open, stored_feature_config};
use imgdex::service::{Resident, ResidentConfig};
use imgdex::store::Store;

/// `imgdex serve`: the resident config from the arguments, then [`run`].
pub(super) fn command(
    db: &std::path::Path,
    a: ServeArgs,
    quiet: bool,
) -> Result<std::process::ExitCode> {
    anyhow::ensure!(
        (1..=4096).contains(&a.max_upload_mb),
        "--max-upload-mb must be between 1 and 4096, got {}",
        a.max_upload_mb
    );
    check_addr(a.addr, a.allow_remote)?;
    let store = open(db, false)?;
    let resident = ResidentConfig {
        decode: (&a.decode).into(),
        features: stored_feature_config(&store)?,
        embed: a.model.embed_config(),
        sessions: a.sessions,
        thumb_cache_bytes: a.thumb_cache_mb << 20,
        thumb_side: 256,
        reference: imgdex::jobs::dupes::canonical_folders(&a.reference)?,
    };
    resident.validate()?;
    let opts = ServeOptions {
        addr: a.addr,
        open_browser: a.open,
        resident,
        max_upload: a.max_upload_mb << 20,
        allow_hosts: a.allow_host,
        token_file: a.token_file,
    };
    run(store, opts, quiet)?;
    Ok(std::process::ExitCode::SUCCESS)
}

/// What the serve command needs besides the store.
pub struct ServeOptions {
    pub addr: SocketAddr,
    pub open_browser: bool,
    pub resident: ResidentConfig,
    /// Largest accepted request body (uploaded query image), in bytes.
    pub max_upload: usize,
    /// Host names answered besides the bound address and localhost.
    pub allow_hosts: Vec<String>,
    /// Where to write the API token (mode 0600) for scripts.
    pub token_file: Option<std::path::PathBuf>,
}

/// Only loopback, unless the user explicitly opens the server to the network.
fn check_addr(addr: SocketAddr, allow_remote: bool) -> Result<()> {
    if addr.ip().is_loopback() {
        return Ok(());
    }
    anyhow::ensure!(
        allow_remote,
        "--addr {addr} is reachable from other machines; the server reads and changes your \
         files, so pass --allow-remote as well if that is what you want"
    );
    eprintln!(
        "warning: serving on {addr}, reachable from other machines: anyone who can reach it \
         can view your indexed images (acting on files needs the token)"
    );
    Ok(())
}

/// Write the token to `path`, readable by the owner only.
fn write_token_file(path: &std::path::Path, token: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write the token file {}", path.display()))?;
    writeln!(f, "{token}").with_context(|| format!("cannot write {}", path.display()))
}

pub type State = Arc<Resident>;

pub fn run(store: Store, opts: ServeOptions, quiet: bool) -> Result<()> {
    let resident = Resident::new(store, opts.resident.clone())?;
    if let (Some(note), false) = (resident.embed_note(), quiet) {
        let note = super::wording::cli_note(note);
        eprintln!("note: uploaded images are not embedded: {note}");
    }
    let state: State = Arc::new(resident);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(16)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(serve(state, opts))
}

async fn serve(state: State, opts: ServeOptions) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(opts.addr)
        .await
        .with_context(|| format!("cannot listen on {}", opts.addr))?;
    let local = listener.local_addr()?;
    let url = format!("http://{local}");
    let token = access::new_token().context("cannot read /dev/urandom for the API token")?;
    if let Some(path) = &opts.token_file {
        write_token_file(path, &token)?;
    }
    let access = Arc::new(access::Access::new(local, &opts.allow_hosts, token));
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "listening on {url} (API token for requests that act: header {}: {})",
            access::TOKEN_HEADER,
            access.token()
        )?;
        out.flush()?;
    }
    if opts.open_browser {
        let _ = std::process::Command::new("xdg-open")
            .arg(&url)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }
    let app = router(state, opts.max_upload, access);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await
        .context("server error")?;
    Ok(())
}

async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let term = async move {
        match term.as_mut() {
            Some(t) => {
                t.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

pub fn router(state: State, max_upload: usize, access: Arc<access::Access>) -> Router {
    let page = include_str!("assets/index.html").replace("__IMGDEX_TOKEN__", access.token());
    let fast = Router::new()
        .route("/api/info", get(api::info))
        .route("/api/query", get(api::query_path).post(api::query_upload))
        .route("/api/thumb/{id}", get(api::thumb))
        .route("/api/image/{id}", get(api::image))
        .route("/api/clusters", get(api::clusters))
        .route("/api/clusters/{cluster}", get(api::cluster_members))
        .route(
            "/api/decisions",
            get(decisions::list).post(decisions::decide),
        )
        .route("/api/dupes/evidence", post(decisions::evidence))
        .route("/api/index/progress", get(decisions::index_progress))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(60),
        ));
    let slow = Router::new()
        .route("/api/dupes", get(api::dupes))
        .route("/api/dupes/apply", post(api::apply))
        .route("/api/index", post(api::index))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(3600),
        ));
    Router::new()
        .route("/", get(move || std::future::ready(Html(page.clone()))))
        .route("/app.js", get(|| script(include_str!("assets/app.js"))))
        .route("/dupes.js", get(|| script(include_str!("assets/dupes.js"))))
        .route(
            "/review.js",
            get(|| script(include_str!("assets/review.js"))),
        )
        .route("/style.css", get(style_css))
        .merge(fast)
        .merge(slow)
        .fallback(api::not_found)
        .with_state(state)
        .layer(DefaultBodyLimit::max(max_upload))
        .layer(RequestBodyLimitLayer::new(max_upload))
        .layer(axum::middleware::from_fn_with_state(access, access::guard))
        .layer(axum::middleware::map_response(error::json_errors))
        .layer(CompressionLayer::new())
}

async fn script(js: &'static str) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        js,
    )
}

async fn style_css() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("assets/style.css"),
    )
}
