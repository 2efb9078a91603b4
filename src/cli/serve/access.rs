//! Who may talk to `imgdex serve`. The server reads and changes the user's
//! files, so like Jupyter, code-server or Syncthing's GUI it must not be
//! reachable from other web sites: every request's `Host` must name this
//! server (its bound address, `localhost`, or a name allowed at start),
//! which defeats DNS rebinding; an `Origin` or `Sec-Fetch-Site` that says
//! the request comes from another site is refused; and every request that
//! acts (every POST) must carry the per-process token, which a page can
//! only read when it is served from this origin, in a body of a content type
//! that a cross-site HTML form cannot send.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// The header a client sends the token in.
pub const TOKEN_HEADER: &str = "x-imgdex-token";

/// The access rules of one server process.
#[derive(Debug, Clone)]
pub struct Access {
    /// Host names (lower case, no port) the server answers to.
    hosts: Vec<String>,
    /// Bound to every interface: any IP literal is a valid `Host` as well.
    any_ip: bool,
    token: String,
}

impl Access {
    /// Rules for a server bound to `addr`, answering also to `extra` names.
    pub fn new(addr: SocketAddr, extra: &[String], token: String) -> Access {
        let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "::1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        if !addr.ip().is_unspecified() {
            hosts.push(addr.ip().to_string());
        }
        hosts.extend(extra.iter().map(|h| h.trim().to_ascii_lowercase()));
        Access {
            hosts,
            any_ip: addr.ip().is_unspecified(),
            token,
        }
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    /// Why a request with these headers is refused, if it is.
    fn refusal(&self, method: &Method, h: &HeaderMap) -> Option<(StatusCode, String)> {
        let forbidden = |m: String| Some((StatusCode::FORBIDDEN, m));
        let host = header_str(h, header::HOST.as_str()).unwrap_or("");
        if !self.host_allowed(host) {
            return forbidden(format!(
                "host `{host}` is not allowed: this server answers only to its own address \
                 and localhost (start it with --allow-host NAME to add a name)"
            ));
        }
        if let Some(origin) = header_str(h, header::ORIGIN.as_str()) {
            if origin != format!("http://{host}") {
                return forbidden(format!("cross-origin request from `{origin}` refused"));
            }
        }
        // A link followed from another site may open a page (the other
        // site cannot read it); it may not fetch or post to the API.
        let navigation = header_str(h, "sec-fetch-mode") == Some("navigate")
            && (method == Method::GET || method == Method::HEAD);
        if let (Some(site), false) = (header_str(h, "sec-fetch-site"), navigation) {
            if !matches!(site, "same-origin" | "none") {
                return forbidden(format!("request from another site ({site}) refused"));
            }
        }
        if method == Method::GET || method == Method::HEAD {
            return None;
        }
        let token = header_str(h, TOKEN_HEADER).unwrap_or("");
        if !constant_time_eq(token.as_bytes(), self.token.as_bytes()) {
            return forbidden(format!(
                "missing or wrong {TOKEN_HEADER} header: requests that act need the token \
                 printed when the server started"
            ));
        }
        form_content_type(h).map(|ct| {
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("content type `{ct}` is not accepted: send JSON, or the image's own type"),
            )
        })
    }

    fn host_allowed(&self, host: &str) -> bool {
        let name = host_name(host).to_ascii_lowercase();
        if name.is_empty() {
            return false;
        }
        self.hosts.contains(&name) || (self.any_ip && name.parse::<IpAddr>().is_ok())
    }
}

/// The host part of a `Host` header value (`[::1]:80` → `::1`).
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// A content type a cross-site HTML form (or `fetch` without a preflight)
/// can send; `None` when the request has another type, or none and no body.
fn form_content_type(h: &HeaderMap) -> Option<String> {
    let ct = header_str(h, header::CONTENT_TYPE.as_str())?;
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let form = matches!(
        essence.as_str(),
        "application/x-www-form-urlencoded" | "multipart/form-data" | "text/plain" | ""
    );
    form.then(|| ct.to_string())
}

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The middleware: refuse, or pass the request on.
pub async fn guard(State(access): State<Arc<Access>>, req: Request, next: Next) -> Response {
    match access.refusal(req.method(), req.headers()) {
        Some((status, msg)) => ApiError(status, msg).into_response(),
        None => next.run(req).await,
    }
}

/// A fresh random token: 128 bits from the kernel, as hex.
pub fn new_token() -> std::io::Result<String> {
    use std::io::Read;
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn hosts_origins_and_tokens() {
        let a = Access::new("127.0.0.1:7878".parse().unwrap(), &[], "t0k".into());
        let get = |p: &[(&'static str, &str)]| a.refusal(&Method::GET, &headers(p));
        let post = |p: &[(&'static str, &str)]| a.refusal(&Method::POST, &headers(p));
        assert!(get(&[("host", "127.0.0.1:7878")]).is_none());
        assert!(get(&[("host", "localhost:7878")]).is_none());
        assert!(get(&[("host", "[::1]:7878")]).is_none());
        assert!(get(&[("host", "attacker.example:7878")]).is_some());
        assert!(get(&[("host", "127.0.0.1.attacker.example")]).is_some());
        assert!(get(&[]).is_some(), "no Host");
        let h = ("host", "127.0.0.1:7878");
        assert!(get(&[h, ("origin", "http://127.0.0.1:7878")]).is_none());
        assert!(get(&[h, ("origin", "http://evil.example")]).is_some());
        assert!(get(&[h, ("origin", "null")]).is_some());
        assert!(get(&[h, ("sec-fetch-site", "cross-site")]).is_some());
        let json = ("content-type", "application/json");
        assert!(post(&[h, json]).is_some(), "no token");
        assert!(post(&[h, json, ("x-imgdex-token", "t0K")]).is_some());
        assert!(post(&[h, json, ("x-imgdex-token", "t0k")]).is_none());
        let tok = ("x-imgdex-token", "t0k");
        let refused = post(&[h, tok, ("content-type", "text/plain;charset=UTF-8")]);
        assert_eq!(
            refused.map(|r| r.0),
            Some(StatusCode::UNSUPPORTED_MEDIA_TYPE)
        );
        assert!(post(&[h, tok, ("content-type", "image/png")]).is_none());
        assert!(post(&[h, tok]).is_none(), "no body, no type (re-index)");
    }

    #[test]
    fn unspecified_address_takes_ip_literals_and_allowed_names() {
        let a = Access::new(
            "0.0.0.0:80".parse().unwrap(),
            &["nas.lan".into()],
            "t".into(),
        );
        let ok = |host: &str| {
            a.refusal(&Method::GET, &headers(&[("host", host)]))
                .is_none()
        };
        assert!(ok("192.168.1.20:80"));
        assert!(ok("NAS.lan"));
        assert!(!ok("evil.example"));
    }

    #[test]
    fn tokens_are_random_hex() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
