//! A running `imgdex serve` for the end-to-end tests (`serve`, `access`):
//! the real binary on an ephemeral port, its first stdout line parsed for
//! the address and the API token, a blocking HTTP client that sends the
//! token the way the web UI does.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::Child;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::util;

/// A running `imgdex serve`; killed when dropped, whatever the test did.
pub struct Server {
    pub child: Child,
    pub base: String,
    /// The API token the server printed.
    pub token: String,
    pub agent: ureq::Agent,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response: status, content type and body.
pub struct Resp {
    pub status: u16,
    pub content_type: String,
    pub encoding: String,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The `{"error": ...}` message of an error response with `status`.
    pub fn error(&self, status: u16) -> String {
        assert_eq!(
            self.status,
            status,
            "unexpected status; body {}",
            String::from_utf8_lossy(&self.body)
        );
        assert!(
            self.content_type.starts_with("application/json"),
            "{}",
            self.content_type
        );
        self.json()["error"]
            .as_str()
            .expect("error message")
            .to_string()
    }
}

impl Server {
    pub fn start(db: &Path, extra: &[&str]) -> Server {
        let mut child = util::command(db)
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(extra)
            .spawn()
            .expect("spawn imgdex serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next().and_then(|l| l.ok()));
            for _ in lines {}
        });
        let err = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        let first = rx.recv_timeout(util::RUN_TIMEOUT).ok().flatten();
        let Some((addr, token)) = first.as_deref().and_then(parse_listening) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "server did not start: {first:?}\n{}",
                err.join().unwrap_or_default()
            );
        };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        Server {
            base: addr,
            token,
            child,
            agent,
        }
    }

    pub fn finish(&self, r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Resp {
        let mut r = r.expect("HTTP request");
        let header = |r: &ureq::http::Response<ureq::Body>, h: &str| {
            r.headers()
                .get(h)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        Resp {
            status: r.status().as_u16(),
            content_type: header(&r, "content-type"),
            encoding: header(&r, "content-encoding"),
            body: r
                .body_mut()
                .with_config()
                .limit(64 << 20)
                .read_to_vec()
                .expect("read body"),
        }
    }

    pub fn get(&self, path: &str) -> Resp {
        self.finish(self.agent.get(format!("{}{path}", self.base)).call())
    }

    /// POST JSON with the token, as the web UI does.
    pub fn post_json(&self, path: &str, body: &Value) -> Resp {
        let req = self.agent.post(format!("{}{path}", self.base));
        let bytes = serde_json::to_vec(body).expect("json");
        self.finish(
            req.header("content-type", "application/json")
                .header("x-imgdex-token", &self.token)
                .send(&bytes[..]),
        )
    }

    /// POST bytes (an image upload) with the token.
    pub fn post(&self, path: &str, body: &[u8]) -> Resp {
        let req = self.agent.post(format!("{}{path}", self.base));
        self.finish(
            req.header("content-type", "application/octet-stream")
                .header("x-imgdex-token", &self.token)
                .send(body),
        )
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `host:port` the server listens on.
    pub fn authority(&self) -> &str {
        self.base.trim_start_matches("http://")
    }
}

/// Base URL and token from `listening on http://ADDR (... header x-imgdex-token: TOKEN)`.
pub fn parse_listening(line: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix("listening on ")?;
    let url = rest.split_whitespace().next()?.to_string();
    let token = rest
        .split_whitespace()
        .last()?
        .trim_end_matches(')')
        .to_string();
    Some((url, token))
}

/// Percent-encode every byte that is not unreserved.
pub fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
