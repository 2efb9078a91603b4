//! `imgdex serve` end to end: the real binary on an ephemeral port against
//! a store built from generated images (with CNN embeddings), every
//! endpoint through a blocking HTTP client, the bad requests and
//! path-traversal attempts, the store lock, re-indexing from inside the
//! server, and 200 concurrent queries from 8 client threads.

use std::path::{Path, PathBuf};

use image::DynamicImage;
use serde_json::Value;

use crate::server::{pct, Server};
use crate::util::{self, Sandbox};

/// Six unrelated scenes, a half-size JPEG copy of scene 0 and a brighter
/// copy of scene 1, under `<root>/photos`; indexed with embeddings.
pub fn fixture(sb: &Sandbox) -> PathBuf {
    let photos = sb.dir("photos");
    for seed in 0..6u64 {
        util::write_png(
            &photos.join(format!("s{seed}.png")),
            &util::scene(seed, 320, 240),
        );
    }
    util::write_jpeg(
        &photos.join("s0-small.jpg"),
        &util::resized(&util::scene(0, 320, 240), 160, 120),
        90,
    );
    util::write_png(
        &photos.join("s1-bright.png"),
        &util::brightened(&util::scene(1, 320, 240), 1.15),
    );
    let (out, s) = sb.index([&photos]);
    out.assert_code(0);
    assert_eq!(s.indexed, 8);
    photos
}

fn paths_of(hits: &Value) -> Vec<String> {
    hits.as_array()
        .expect("hit array")
        .iter()
        .map(|h| h["path"].as_str().expect("path").to_string())
        .collect()
}

#[test]
fn serve_answers_like_the_cli() {
    if util::no_model() {
        return;
    }
    let sb = Sandbox::new();
    let photos = fixture(&sb);
    let query = sb.root.join("q.jpg");
    util::write_jpeg(
        &query,
        &util::resized(&util::scene(2, 320, 240), 200, 150),
        85,
    );
    let cli_out = sb.imgdex([
        std::ffi::OsString::from("query"),
        "--json".into(),
        "-k".into(),
        "5".into(),
        query.clone().into_os_string(),
    ]);
    cli_out.assert_code(0);
    let cli: Value = cli_out.json();
    let cli_dupes = sb.imgdex(["dupes", "--json"]);
    cli_dupes.assert_code(0);
    let cli_dupes = cli_dupes.json();
    sb.imgdex(["cluster", "--k", "2", "--json"]).assert_code(0);

    let srv = Server::start(&sb.db(), &[]);
    let info = srv.get("/api/info");
    assert_eq!(info.status, 200);
    let info = info.json();
    assert_eq!(info["images"], 8);
    assert_eq!(info["features"]["embedding"], 8);

    // Uploaded bytes: the same ranking as the CLI's query of the same file.
    let r = srv.post("/api/query?k=5", &std::fs::read(&query).unwrap());
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let hits = r.json();
    assert_eq!(paths_of(&hits), paths_of(&cli));
    assert_eq!(paths_of(&hits)[0], util::disp(&photos.join("s2.png")));
    for (a, b) in hits.as_array().unwrap().iter().zip(cli.as_array().unwrap()) {
        let (a, b) = (
            a["distance"].as_f64().unwrap(),
            b["distance"].as_f64().unwrap(),
        );
        assert!((a - b).abs() < 1e-5, "server {a} vs cli {b}");
    }
    // By hash, too.
    let r = srv.post("/api/query?k=3&by=hash", &std::fs::read(&query).unwrap());
    assert_eq!(paths_of(&r.json())[0], util::disp(&photos.join("s2.png")));

    // An indexed file by path: its copy first, itself left out.
    let s0 = util::disp(&photos.join("s0.png"));
    for by in ["auto", "embedding", "hash", "histogram"] {
        let r = srv.get(&format!("/api/query?k=3&by={by}&path={}", pct(&s0)));
        assert_eq!(
            r.status,
            200,
            "by {by}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let p = paths_of(&r.json());
        assert_eq!(p[0], util::disp(&photos.join("s0-small.jpg")), "by {by}");
        assert!(!p.contains(&s0), "by {by}: the query itself is excluded");
    }

    // dupes: the CLI's groups, with ids for thumbnails.
    let r = srv.get("/api/dupes");
    assert_eq!(r.status, 200);
    let d = r.json();
    assert_eq!(d["groups"], cli_dupes["groups"]);
    assert_eq!(d["groups"].as_array().unwrap().len(), 2);
    let member = &d["details"][0]["members"][0];
    let id = member["id"].as_u64().expect("member id");
    let path = member["path"].as_str().unwrap().to_string();

    // Thumbnails: small JPEGs, the same bytes again from the cache.
    let t = srv.get(&format!("/api/thumb/{id}"));
    assert_eq!((t.status, t.content_type.as_str()), (200, "image/jpeg"));
    let img = image::load_from_memory(&t.body).expect("thumbnail decodes");
    assert!(img.width().max(img.height()) <= 256 && img.width() > 0);
    assert_eq!(srv.get(&format!("/api/thumb/{id}")).body, t.body);
    // Originals: the file's bytes.
    let o = srv.get(&format!("/api/image/{id}"));
    assert_eq!(o.status, 200);
    assert_eq!(o.body, std::fs::read(&path).unwrap());

    // Clusters saved by `imgdex cluster`.
    let c = srv.get("/api/clusters").json();
    assert_eq!(c["k"], 2);
    let sizes: u64 = c["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["size"].as_u64().unwrap())
        .sum();
    assert_eq!(sizes, 8);
    let m = srv.get("/api/clusters/0?limit=3").json();
    assert!(m["members"].as_array().unwrap().len() <= 3);
    srv.get("/api/clusters/9").error(404);

    // The UI and compressed JSON.
    let ui = srv.get("/");
    assert_eq!(ui.status, 200);
    assert!(String::from_utf8_lossy(&ui.body).contains("<title>imgdex</title>"));
    assert_eq!(srv.get("/app.js").status, 200);
    let gz = srv.finish(
        srv.agent
            .get(format!("{}/api/dupes", srv.base))
            .header("accept-encoding", "gzip")
            .call(),
    );
    assert_eq!(gz.encoding, "gzip");
}

#[test]
fn serve_refuses_bad_requests_and_foreign_files() {
    let sb = Sandbox::new();
    let outside = sb.dir("outside");
    let secret = outside.join("secret.png");
    util::write_png(&secret, &util::scene(40, 64, 64));
    let photos = sb.dir("photos");
    util::write_png(&photos.join("a.png"), &util::scene(41, 128, 96));
    util::write_png(&photos.join("b.png"), &util::scene(42, 128, 96));
    util::write_png(&photos.join("c.png"), &util::scene(43, 128, 96));
    // An indexed symlink whose target lies outside the roots.
    std::os::unix::fs::symlink(&secret, photos.join("link.png")).unwrap();
    sb.index_basic([&photos]).0.assert_code(0);

    let srv = Server::start(&sb.db(), &["--no-embed", "--max-upload-mb", "1"]);
    let d = srv.get("/api/dupes").json();
    assert_eq!(d["groups"].as_array().unwrap().len(), 0);
    let from = |name: &str| {
        let p = pct(&util::disp(&photos.join(name)));
        srv.get(&format!("/api/query?by=hash&k=10&path={p}")).json()
    };
    let (from_a, from_b) = (from("a.png"), from("b.png"));
    let a = find_id(&from_b, &photos.join("a.png"));
    let b = find_id(&from_a, &photos.join("b.png"));
    let c = find_id(&from_a, &photos.join("c.png"));
    let link = find_id(&from_a, &photos.join("link.png"));
    // Bodies that are not a usable image.
    assert!(srv.post("/api/query", b"").error(400).contains("empty"));
    assert!(srv
        .post("/api/query", b"hello, not an image")
        .error(422)
        .contains("not a recognised image"));
    assert!(srv
        .post("/api/query", &util::bomb_png(50_000, 50_000))
        .error(422)
        .contains("decompression bomb"));
    // Over the upload limit: a 413 JSON error, or (when the server answers
    // before the client has finished sending) a closed connection; either
    // way the server stays up.
    let big = srv
        .agent
        .post(format!("{}/api/query", srv.base))
        .header("x-imgdex-token", &srv.token)
        .header("content-type", "application/octet-stream")
        .send(&vec![0u8; 2 << 20][..]);
    if let Ok(r) = big {
        assert_eq!(r.status().as_u16(), 413);
    }
    assert_eq!(
        srv.get("/api/info").status,
        200,
        "server survived the upload"
    );
    let png = util::png_bytes(&DynamicImage::ImageRgb8(util::scene(41, 128, 96)));
    srv.post("/api/query?k=0", &png).error(400);
    srv.post("/api/query?k=x", &png).error(400);
    srv.post("/api/query?by=colour", &png).error(400);
    assert!(srv
        .post("/api/query?by=embedding", &png)
        .error(400)
        .contains("embed"));
    assert_eq!(
        paths_of(&srv.post("/api/query?by=hash", &png).json())[0],
        util::disp(&photos.join("a.png"))
    );
    srv.get("/api/dupes?by=nope").error(400);
    srv.get("/api/nope").error(404);
    srv.get("/api/query").error(400);

    // Paths: only stored paths, matched exactly; the file is never read.
    for p in [
        "/etc/passwd".to_string(),
        util::disp(&secret),
        format!("{}/../photos/a.png", util::disp(&photos)),
        format!("{}/./a.png", util::disp(&photos)),
        "a.png".to_string(),
    ] {
        let e = srv
            .get(&format!("/api/query?by=hash&path={}", pct(&p)))
            .error(404);
        assert!(e.contains("not in the store"), "{p}: {e}");
    }
    // Ids: numbers of stored images only.
    for bad in [
        "abc",
        "..",
        "..%2F..%2Fetc%2Fpasswd",
        "%2Fetc%2Fpasswd",
        "-1",
        "1.5",
    ] {
        srv.get(&format!("/api/thumb/{bad}")).error(400);
        srv.get(&format!("/api/image/{bad}")).error(400);
    }
    for bad in [
        "/api/image/../../etc/passwd",
        "/api/image/1/../../../etc/passwd",
        "/api/thumb/",
    ] {
        let r = srv.get(bad);
        assert!((400..500).contains(&r.status), "{bad}: {}", r.status);
        assert!(!String::from_utf8_lossy(&r.body).contains("root:"), "{bad}");
    }
    srv.get("/api/image/999999").error(404);
    // The indexed symlink pointing out of the roots is not served.
    assert!(srv
        .get(&format!("/api/image/{link}"))
        .error(403)
        .contains("outside"));
    srv.get(&format!("/api/thumb/{link}")).error(403);
    // A file replaced by a symlink out of the roots after indexing.
    std::fs::remove_file(photos.join("b.png")).unwrap();
    std::os::unix::fs::symlink(&secret, photos.join("b.png")).unwrap();
    srv.get(&format!("/api/image/{b}")).error(403);
    // A file whose content changed after indexing (same size).
    let mut bytes = std::fs::read(photos.join("c.png")).unwrap();
    let n = bytes.len();
    bytes[n - 20] ^= 0xff;
    std::fs::write(photos.join("c.png"), &bytes).unwrap();
    assert!(srv
        .get(&format!("/api/image/{c}"))
        .error(409)
        .contains("changed"));
    // A file that is gone.
    std::fs::remove_file(photos.join("a.png")).unwrap();
    srv.get(&format!("/api/image/{a}")).error(410);
    // The server survived all of it.
    assert_eq!(srv.get("/api/info").status, 200);
}

fn find_id(hits: &Value, path: &Path) -> u64 {
    let want = util::disp(path);
    hits.as_array()
        .unwrap()
        .iter()
        .find(|h| h["path"] == want.as_str())
        .unwrap_or_else(|| panic!("{want} not among {hits}"))["id"]
        .as_u64()
        .unwrap()
}

#[test]
fn serve_holds_the_store_lock_and_reindexes_its_roots() {
    let sb = Sandbox::new();
    let photos = sb.dir("photos");
    for seed in 50..53u64 {
        util::write_png(
            &photos.join(format!("{seed}.png")),
            &util::scene(seed, 96, 96),
        );
    }
    sb.index_basic([&photos]).0.assert_code(0);
    let srv = Server::start(&sb.db(), &["--no-embed"]);
    // A second process cannot open the store the server holds.
    let out = sb.imgdex([
        std::ffi::OsString::from("index"),
        "--no-embed".into(),
        photos.clone().into_os_string(),
    ]);
    out.assert_code(2);
    assert!(out.stderr.contains("locked"), "{}", out.stderr);
    assert_eq!(sb.imgdex(["info"]).code, Some(2));
    // Re-index from inside the server: a new file and a removed one.
    util::write_png(&photos.join("new.png"), &util::scene(54, 96, 96));
    std::fs::remove_file(photos.join("50.png")).unwrap();
    let r = srv.post("/api/index", b"");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let s = r.json();
    assert_eq!(
        (s["indexed"].as_u64(), s["removed"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(srv.get("/api/info").json()["images"], 3);
    let png = util::png_bytes(&DynamicImage::ImageRgb8(util::scene(54, 96, 96)));
    let hits = srv.post("/api/query?by=hash&k=1", &png).json();
    assert_eq!(paths_of(&hits), vec![util::disp(&photos.join("new.png"))]);
    drop(srv);
    // Once the server is gone the store is free again.
    sb.imgdex(["info"]).assert_code(0);
}

#[test]
fn serve_takes_200_concurrent_queries() {
    if util::no_model() {
        return;
    }
    let sb = Sandbox::new();
    let photos = fixture(&sb);
    let upload = util::jpeg_bytes(&util::resized(&util::scene(3, 320, 240), 160, 120), 85);
    let s3 = util::disp(&photos.join("s3.png"));
    // Under load the server must answer as the CLI does for the same image.
    let probe = sb.root.join("probe.jpg");
    util::write(&probe, &upload);
    let want_emb = sb.query(&probe, &["-k", "3"])[0].path.clone();
    let want_hash = sb.query(&probe, &["-k", "3", "--by", "hash"])[0]
        .path
        .clone();
    // The CLI runs first: the server holds the store lock.
    let srv = std::sync::Arc::new(Server::start(&sb.db(), &["--sessions", "2"]));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (srv, upload, s3) = (srv.clone(), upload.clone(), s3.clone());
            let (want_emb, want_hash) = (want_emb.clone(), want_hash.clone());
            std::thread::spawn(move || {
                let mut ok = 0;
                for i in 0..25 {
                    let r = match (t + i) % 3 {
                        0 => srv.post("/api/query?k=3", &upload),
                        1 => srv.get(&format!("/api/query?k=3&path={}", pct(&s3))),
                        _ => srv.post("/api/query?k=3&by=hash", &upload),
                    };
                    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
                    let p = paths_of(&r.json());
                    assert!(!p.is_empty());
                    match (t + i) % 3 {
                        0 => assert_eq!(p[0], want_emb),
                        1 => assert_ne!(p[0], s3, "the query file itself is excluded"),
                        _ => assert_eq!(p[0], want_hash),
                    }
                    ok += 1;
                }
                ok
            })
        })
        .collect();
    let total: usize = threads
        .into_iter()
        .map(|t| t.join().expect("client thread"))
        .sum();
    assert_eq!(total, 200);
}

#[test]
fn serve_refuses_a_missing_store() {
    let sb = Sandbox::new();
    let out = sb.imgdex(["serve", "--addr", "127.0.0.1:0"]);
    out.assert_code(2);
    assert!(out.stderr.contains("no imgdex store"), "{}", out.stderr);
}

#[test]
fn serve_applies_dupes_decisions_like_the_cli() {
    if util::no_model() {
        return;
    }
    let sb = Sandbox::new();
    let photos = fixture(&sb);
    let srv = Server::start(&sb.db(), &["--no-embed"]);
    let groups = srv.get("/api/dupes?by=hash").json()["details"].clone();
    assert_eq!(groups.as_array().unwrap().len(), 2, "{groups}");
    let target = sb.root.join("moved");
    let action = format!("move:{}", target.display());
    // Delete without yes is refused; a bad action is a 400.
    let body = serde_json::json!({"action": "delete", "by": "hash"});
    srv.post_json("/api/dupes/apply", &body).error(400);
    let body = serde_json::json!({"action": "shred", "by": "hash"});
    srv.post_json("/api/dupes/apply", &body).error(400);
    // Dry run: the plan, nothing touched.
    let body = serde_json::json!({"action": action, "by": "hash", "dry_run": true});
    let plan = srv.post_json("/api/dupes/apply", &body).json();
    let planned = plan["actions"].as_array().unwrap().clone();
    assert_eq!(planned.len(), 2, "{plan}");
    assert!(planned.iter().all(|a| a["status"] == "planned"), "{plan}");
    assert_eq!(std::fs::read_dir(&photos).unwrap().count(), 8);
    // The UI's own choice of keeper: keep the small copy of s0 instead.
    let small = util::disp(&photos.join("s0-small.jpg"));
    let s0 = util::disp(&photos.join("s0.png"));
    let body = serde_json::json!({
        "action": action,
        "by": "hash",
        "groups": [{"keeper": small, "members": [s0.clone(), small.clone()]}],
    });
    let done = srv.post_json("/api/dupes/apply", &body).json();
    assert_eq!(done["done"], 1, "{done}");
    assert!(
        photos.join("s0-small.jpg").is_file(),
        "the chosen keeper stays"
    );
    assert!(!photos.join("s0.png").exists(), "the other member moved");
    let after = srv.get("/api/dupes?by=hash").json()["details"].clone();
    assert_eq!(
        after.as_array().unwrap().len(),
        1,
        "the store forgot the moved file"
    );
}

/// A store built with the float model, served without `--model` (the
/// default is the int8 model): uploads are embedded with the store's own
/// model, as `query --model` of the float file ranks them.
#[test]
fn a_store_from_another_model_is_served_with_it() {
    if util::no_model() || util::no_int8_model() {
        return;
    }
    let sb = Sandbox::new();
    let photos = sb.dir("photos");
    for seed in 0..4u64 {
        util::write_png(
            &photos.join(format!("s{seed}.png")),
            &util::scene(seed, 320, 240),
        );
    }
    let float = util::models_dir().join(util::FLOAT_MODEL);
    let (out, _) = sb.index([photos.as_os_str(), "--model".as_ref(), float.as_os_str()]);
    out.assert_code(0);
    let query = sb.root.join("query.jpg");
    util::write_jpeg(
        &query,
        &util::resized(&util::scene(2, 320, 240), 200, 150),
        85,
    );
    let cli = sb.query(&query, &["-k", "3", "--model", float.to_str().unwrap()]);

    let srv = Server::start(&sb.db(), &[]);
    let r = srv.post(
        "/api/query?k=3&by=embedding",
        &std::fs::read(&query).unwrap(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let hits = r.json();
    let cli_paths: Vec<String> = cli.iter().map(|h| h.path.clone()).collect();
    assert_eq!(paths_of(&hits), cli_paths);
    for (a, b) in hits.as_array().unwrap().iter().zip(&cli) {
        let a = a["distance"].as_f64().unwrap();
        assert!(
            (a - b.distance).abs() < 1e-5,
            "server {a} vs cli {}",
            b.distance
        );
    }
}
