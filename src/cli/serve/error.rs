//! Errors as HTTP responses: every error, whether from the library, a
//! rejected parameter or a middleware (body limit, timeout, unknown route),
//! reaches the client as `{"error": "..."}` with a 4xx/5xx status.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use imgdex::Error;

/// An API error: status and message.
#[derive(Debug)]
pub struct ApiError(pub StatusCode, pub String);

impl ApiError {
    pub fn bad_request(msg: impl Into<String>) -> Self {
        ApiError(StatusCode::BAD_REQUEST, msg.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let status = match &e {
            Error::InvalidArgument(_) | Error::InvalidSetting { .. } | Error::Dimension { .. } => {
                StatusCode::BAD_REQUEST
            }
            Error::NotInStore { .. }
            | Error::NoResult { .. }
            | Error::NotIndexed { .. }
            | Error::NoStore { .. } => StatusCode::NOT_FOUND,
            Error::OutsideRoots { .. } => StatusCode::FORBIDDEN,
            Error::FileChanged { .. } | Error::Busy { .. } => StatusCode::CONFLICT,
            Error::FileTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::Decode { .. } | Error::Unsupported { .. } | Error::TooManyPixels { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Error::NotAFile { .. } => StatusCode::GONE,
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                StatusCode::GONE
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, e.to_string())
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("request failed: {e}"),
        )
    }
}

/// Rewrite any error response that is not JSON yet (axum rejections,
/// tower-http's 413 and 408, 405) into the `{"error"}` shape.
pub async fn json_errors(resp: Response) -> Response {
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let msg = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_string()
    } else {
        text
    };
    let body = serde_json::json!({ "error": msg }).to_string();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}
