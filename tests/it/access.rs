//! Who may talk to `imgdex serve` (issue 28): requests naming another
//! host (DNS rebinding) or coming from another origin are refused on every
//! endpoint that reads or acts on files, requests that act need the
//! per-process token and a non-form content type, a client cannot make up
//! a "duplicate group" of unrelated files or move files into an indexed
//! folder, and serving a file that grew to 500 MB never reads it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;

use serde_json::{json, Value};

use crate::serve::fixture;
use crate::server::Server;
use crate::util::{self, Sandbox};

/// One raw HTTP/1.1 request (so that `Host` and `Origin` are exactly what
/// the test says); the status code and the body.
fn raw(authority: &str, head: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(authority).expect("connect");
    let mut req = format!("{head} HTTP/1.1\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// Every endpoint that reads or acts on files: (request line, body, type).
fn endpoints(id: u64, victim: &str, keeper: &str) -> Vec<(String, Vec<u8>, &'static str)> {
    let delete = json!({"action": "delete", "yes": true,
        "groups": [{"keeper": keeper, "members": [keeper, victim]}]});
    vec![
        ("GET /".into(), vec![], ""),
        ("GET /api/info".into(), vec![], ""),
        (format!("GET /api/image/{id}"), vec![], ""),
        (format!("GET /api/thumb/{id}"), vec![], ""),
        ("GET /api/dupes".into(), vec![], ""),
        ("POST /api/query?by=hash".into(), b"x".to_vec(), "image/png"),
        (
            "POST /api/dupes/apply".into(),
            delete.to_string().into_bytes(),
            "application/json",
        ),
        ("POST /api/index".into(), vec![], "application/json"),
        ("GET /api/decisions".into(), vec![], ""),
        (
            "POST /api/decisions".into(),
            json!({"kind": "clear"}).to_string().into_bytes(),
            "application/json",
        ),
    ]
}

/// The image id of `path`, a member of one of the fixture's groups.
fn image_id(srv: &Server, path: &Path) -> u64 {
    let d = srv.get("/api/dupes?by=hash").json();
    let members = d["details"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["members"].as_array().unwrap().clone());
    members
        .filter(|m| m["path"] == util::disp(path))
        .map(|m| m["id"].as_u64().unwrap())
        .next()
        .expect("an id for the path")
}

#[test]
fn foreign_hosts_origins_and_tokenless_requests_are_refused() {
    if util::no_model() {
        return;
    }
    let sb = Sandbox::new();
    let photos = fixture(&sb);
    let srv = Server::start(&sb.db(), &["--no-embed"]);
    let at = srv.authority().to_string();
    let (victim, keeper) = (
        util::disp(&photos.join("s3.png")),
        util::disp(&photos.join("s2.png")),
    );
    let id = image_id(&srv, &photos.join("s0.png"));
    let token = srv.token.clone();
    for (head, body, ctype) in endpoints(id, &victim, &keeper) {
        let ok = [
            ("Host", at.as_str()),
            ("x-imgdex-token", &token),
            ("Content-Type", ctype),
        ];
        let foreign = [("Host", "attacker.example"), ok[1], ok[2]];
        assert_eq!(
            raw(&at, &head, &foreign, &body).0,
            403,
            "{head} with a foreign Host"
        );
        let rebound = format!("attacker.example:{}", at.rsplit(':').next().unwrap());
        let foreign = [("Host", rebound.as_str()), ok[1], ok[2]];
        assert_eq!(
            raw(&at, &head, &foreign, &body).0,
            403,
            "{head} via DNS rebinding"
        );
        let cross = [ok[0], ok[1], ok[2], ("Origin", "http://attacker.example")];
        assert_eq!(raw(&at, &head, &cross, &body).0, 403, "{head} cross-origin");
        let cross = [ok[0], ok[1], ok[2], ("Sec-Fetch-Site", "cross-site")];
        assert_eq!(raw(&at, &head, &cross, &body).0, 403, "{head} cross-site");
        if head.starts_with("POST") {
            let tokenless = [ok[0], ok[2]];
            assert_eq!(
                raw(&at, &head, &tokenless, &body).0,
                403,
                "{head} without token"
            );
            let wrong = [ok[0], ("x-imgdex-token", "0000"), ok[2]];
            assert_eq!(raw(&at, &head, &wrong, &body).0, 403, "{head} wrong token");
            let form = [ok[0], ok[1], ("Content-Type", "text/plain")];
            assert_eq!(raw(&at, &head, &form, &body).0, 415, "{head} as text/plain");
        } else {
            let (status, text) = raw(&at, &head, &ok[..1], &body);
            assert_eq!(status, 200, "{head} from the server's own origin: {text}");
        }
    }
    assert!(photos.join("s3.png").is_file(), "nothing was deleted");
    // The page carries the token for its own requests.
    let page = String::from_utf8(srv.get("/").body).unwrap();
    assert!(
        page.contains(&format!("content=\"{token}\"")),
        "token in the page"
    );
}

#[test]
fn apply_acts_only_on_current_duplicate_groups() {
    if util::no_model() {
        return;
    }
    let sb = Sandbox::new();
    let photos = fixture(&sb);
    let srv = Server::start(&sb.db(), &["--no-embed"]);
    let (s2, s3) = (
        util::disp(&photos.join("s2.png")),
        util::disp(&photos.join("s3.png")),
    );
    let (s0, small) = (
        util::disp(&photos.join("s0.png")),
        util::disp(&photos.join("s0-small.jpg")),
    );
    // Two unrelated images sent as a group: refused, nothing touched.
    let fake = json!({"action": "delete", "yes": true, "by": "hash",
        "groups": [{"keeper": s2, "members": [s2, s3]}]});
    let msg = srv.post_json("/api/dupes/apply", &fake).error(400);
    assert!(
        msg.contains("not in one current duplicate group") || msg.contains("no current"),
        "{msg}"
    );
    // A keeper outside its group, and a real group stretched by one file.
    let bad_keeper = json!({"action": "trash", "by": "hash",
        "groups": [{"keeper": s2, "members": [s0, small]}]});
    srv.post_json("/api/dupes/apply", &bad_keeper).error(400);
    let stretched = json!({"action": "trash", "by": "hash",
        "groups": [{"keeper": s0, "members": [s0, small, s3]}]});
    srv.post_json("/api/dupes/apply", &stretched).error(400);
    // Moving into an indexed folder (or onto a file) is refused.
    for dest in [photos.join("review"), photos.join("s2.png")] {
        let mv = json!({"action": format!("move:{}", dest.display()), "by": "hash",
            "groups": [{"keeper": s0, "members": [s0, small]}]});
        srv.post_json("/api/dupes/apply", &mv).error(400);
    }
    for f in ["s0.png", "s0-small.jpg", "s2.png", "s3.png"] {
        assert!(photos.join(f).is_file(), "{f} untouched");
    }
    // The real group still works.
    let real = json!({"action": format!("move:{}", sb.root.join("moved").display()), "by": "hash",
        "groups": [{"keeper": s0, "members": [s0, small]}]});
    assert_eq!(srv.post_json("/api/dupes/apply", &real).json()["done"], 1);
}

/// Peak resident memory of process `pid`, in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM");
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

#[test]
fn a_changed_file_is_refused_before_it_is_read_and_its_thumbnail_dropped() {
    if util::no_model() {
        return;
    }
    let sb = Sandbox::new();
    let photos = fixture(&sb);
    let srv = Server::start(&sb.db(), &["--no-embed"]);
    let grown = photos.join("s0.png");
    let id = image_id(&srv, &grown);
    assert_eq!(srv.get(&format!("/api/image/{id}")).status, 200);
    // The file grows to 500 MB (sparse): 8 parallel requests are refused
    // without reading it.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&grown)
        .unwrap()
        .set_len(500 << 20)
        .unwrap();
    let before = peak_rss(srv.pid());
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..8)
            .map(|_| s.spawn(|| srv.get(&format!("/api/image/{id}")).status))
            .collect();
        for h in hs {
            assert_eq!(h.join().unwrap(), 409);
        }
    });
    let after = peak_rss(srv.pid());
    assert!(
        after < before + (100 << 20),
        "peak RSS {before} -> {after} bytes"
    );
    // A thumbnail made before its file was replaced (same size and mtime,
    // other bytes, new inode) is not served again.
    let small = photos.join("s0-small.jpg");
    let tid = image_id(&srv, &small);
    assert_eq!(srv.get(&format!("/api/thumb/{tid}")).status, 200);
    let mut bytes = std::fs::read(&small).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    let mtime = std::fs::metadata(&small).unwrap().modified().unwrap();
    let tmp = photos.join(".replacement");
    std::fs::write(&tmp, &bytes).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&tmp)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    std::fs::rename(&tmp, &small).unwrap();
    assert_eq!(srv.get(&format!("/api/thumb/{tid}")).status, 409);
    let _: Value = srv.get("/api/info").json();
}
