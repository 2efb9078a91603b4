//! What the web UI's review needs from `imgdex serve` besides decisions:
//! each group member's card facts (format, date) and its evidence in
//! words against the keeper; `POST /api/dupes/evidence`, the same evidence
//! against a keeper the user picks; `GET /api/index/progress`; the review
//! scripts; and a preset menu that lists every preset the server accepts.

use serde_json::{json, Value};

use crate::server::Server;
use crate::util::{self, Sandbox};

/// A scene, its half-size copy and its mirror image, indexed without the CNN.
fn fixture(sb: &Sandbox) -> std::path::PathBuf {
    let photos = sb.dir("photos");
    let img = util::scene(77, 192, 144);
    util::write_png(&photos.join("orig.png"), &img);
    util::write_jpeg(&photos.join("half.jpg"), &util::resized(&img, 96, 72), 92);
    util::write_png(
        &photos.join("mirror.png"),
        &image::imageops::flip_horizontal(&img),
    );
    sb.index_basic([&photos]).0.assert_code(0);
    photos
}

fn words(v: &Value, path: &str) -> String {
    let m = v
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["path"] == path)
        .unwrap_or_else(|| panic!("{path} in {v:#}"));
    m["evidence"]["words"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn members_carry_card_facts_and_evidence_against_the_chosen_keeper() {
    let sb = Sandbox::new();
    let photos = fixture(&sb);
    let (orig, half, mirror) = (
        util::disp(&photos.join("orig.png")),
        util::disp(&photos.join("half.jpg")),
        util::disp(&photos.join("mirror.png")),
    );
    let srv = Server::start(&sb.db(), &["--no-embed"]);
    let d = srv.get("/api/dupes?by=hash").json();
    let g = &d["details"][0];
    assert_eq!(g["keeper"], orig, "{d:#}");
    let members = g["members"].as_array().unwrap();
    let h = members.iter().find(|m| m["path"] == half).expect("half");
    assert_eq!(h["format"], "jpeg", "{h:#}");
    let mtime = std::fs::metadata(photos.join("half.jpg")).unwrap();
    let secs = mtime
        .modified()
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(h["modified"], secs, "{h:#}");
    let w = h["evidence"]["words"].as_str().unwrap();
    assert!(
        w.starts_with("same picture") && w.contains("resized smaller"),
        "{w}"
    );
    assert!(w.contains("re-encoded as JPEG"), "{w}");
    let (detail, from) = (&h["evidence"]["detail"], &h["evidence"]["same_from"]);
    assert!(
        detail.as_f64() >= from.as_f64() && from.as_f64() > Some(0.5),
        "{h:#}"
    );
    let keeper = members.iter().find(|m| m["path"] == orig).unwrap();
    assert!(keeper.get("evidence").is_none(), "{keeper:#}");

    // Against another keeper, each member is described relative to it.
    let all = json!([orig, half, mirror]);
    let body = json!({"keeper": half, "members": all});
    let ev = srv.post_json("/api/dupes/evidence", &body).json();
    let w = words(&ev, &orig);
    assert!(
        w.contains("enlarged") && w.contains("re-encoded as PNG"),
        "{w}"
    );
    assert!(ev[1]["evidence"].is_null(), "the keeper has none: {ev:#}");
    let body = json!({"keeper": orig, "members": all});
    let ev = srv.post_json("/api/dupes/evidence", &body).json();
    let w = words(&ev, &mirror);
    assert!(w.contains("mirrored") && !w.contains("resized"), "{w}");
    let m = &ev[2]["evidence"];
    assert!(
        m["mirrored_correlation"].as_f64() > m["correlation"].as_f64(),
        "{m:#}"
    );
    // An unknown path is named; the token is required like every POST.
    let body = json!({"keeper": orig, "members": [util::disp(&photos.join("nope.png"))]});
    assert!(srv
        .post_json("/api/dupes/evidence", &body)
        .error(404)
        .contains("nope.png"));
}

fn text(srv: &Server, path: &str) -> String {
    let r = srv.get(path);
    assert_eq!(r.status, 200, "{path}");
    String::from_utf8_lossy(&r.body).into_owned()
}

#[test]
fn review_assets_progress_and_every_preset_are_served() {
    let sb = Sandbox::new();
    fixture(&sb);
    let srv = Server::start(&sb.db(), &["--no-embed"]);
    let p = srv.get("/api/index/progress").json();
    assert_eq!(p, json!({"running": false, "done": 0, "total": 0}));
    let page = text(&srv, "/");
    for script in ["/app.js", "/dupes.js", "/review.js"] {
        assert!(page.contains(&format!("src=\"{script}\"")), "{script}");
        let js = text(&srv, script);
        assert!(js.contains("\"use strict\""), "{script}: {js:.80}");
    }
    for preset in imgdex::jobs::dupes::Preset::NAMES.split(", ") {
        assert!(
            page.contains(&format!("<option value=\"{preset}\"")),
            "the preset menu lacks {preset}"
        );
        srv.get(&format!("/api/dupes?preset={preset}")).json();
    }
}
