//! Review decisions through `imgdex serve`: `GET`/`POST /api/decisions`
//! change what `/api/dupes` answers at once, and what the CLI answers
//! after the server stops; `serve --reference DIR` keeps every file under
//! DIR out of the apply plan; after an apply the groups are recomputed
//! from the updated store without an `index`.

use serde_json::{json, Value};

use crate::server::Server;
use crate::util::{self, Sandbox};

/// Three groups of two (a PNG scene and a half-size copy) under
/// `<root>/photos/{a,b,c}`, indexed without the CNN.
fn fixture(sb: &Sandbox) -> std::path::PathBuf {
    let photos = sb.dir("photos");
    for (i, sub) in ["a", "b", "c"].iter().enumerate() {
        let d = sb.dir(&format!("photos/{sub}"));
        let img = util::scene(400 + i as u64, 192, 144);
        util::write_png(&d.join("orig.png"), &img);
        util::write_png(&d.join("half.png"), &util::resized(&img, 96, 72));
    }
    sb.index_basic([&photos]).0.assert_code(0);
    photos
}

fn groups(v: &Value) -> Vec<Vec<String>> {
    serde_json::from_value(v["groups"].clone()).unwrap()
}

#[test]
fn decisions_posted_to_the_server_hold_there_and_in_the_cli() {
    let sb = Sandbox::new();
    let photos = fixture(&sb);
    let a_orig = util::disp(&photos.join("a/orig.png"));
    let a_half = util::disp(&photos.join("a/half.png"));
    let b_half = util::disp(&photos.join("b/half.png"));
    {
        let srv = Server::start(&sb.db(), &["--no-embed"]);
        assert_eq!(groups(&srv.get("/api/dupes?by=hash").json()).len(), 3);
        let empty = srv.get("/api/decisions").json();
        assert!(empty["decisions"].as_array().unwrap().is_empty(), "{empty}");
        let body = json!({"kind": "not-duplicate", "paths": [a_orig, a_half]});
        let r = srv.post_json("/api/decisions", &body).json();
        assert_eq!(r["changed"], 1, "{r}");
        let body = json!({"kind": "keeper", "paths": [b_half]});
        srv.post_json("/api/decisions", &body).json();
        // Bad requests name what is wrong.
        let one = json!({"kind": "not-duplicate", "paths": [a_orig]});
        assert!(srv
            .post_json("/api/decisions", &one)
            .error(400)
            .contains("two or more"));
        let gone = util::disp(&photos.join("nope.png"));
        let body = json!({"kind": "keeper", "paths": [gone]});
        assert!(srv
            .post_json("/api/decisions", &body)
            .error(404)
            .contains("nope.png"));
        let body = json!({"kind": "shred", "paths": [a_orig]});
        srv.post_json("/api/decisions", &body).error(400);
        // The cached groups were recomputed.
        let d = srv.get("/api/dupes?by=hash").json();
        assert_eq!(groups(&d).len(), 2, "{d:#}");
        assert!(!d["groups"].to_string().contains(&a_orig), "{d:#}");
        let b = d["details"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["keeper"] == b_half);
        assert_eq!(
            b.expect("b's keeper is the chosen one")["keeper_by"],
            "decision"
        );
        assert_eq!(
            srv.get("/api/decisions").json()["decisions"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }
    // The server stopped (dropped): the CLI sees the same decisions.
    let out = sb.imgdex(["dupes", "--json", "--by", "hash"]);
    out.assert_code(0);
    let d = out.json();
    assert_eq!(groups(&d).len(), 2, "{d:#}");
    assert!(!d["groups"].to_string().contains(&a_orig), "{d:#}");
}

#[test]
fn serve_reference_folders_stay_out_of_plans_and_applied_files_leave_the_groups() {
    let sb = Sandbox::new();
    let photos = fixture(&sb);
    let reference = photos.join("a");
    let srv = Server::start(
        &sb.db(),
        &["--no-embed", "--reference", reference.to_str().unwrap()],
    );
    let d = srv.get("/api/dupes?by=hash").json();
    let a = d["details"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["keeper"].as_str().unwrap().contains("/a/"))
        .expect("a group with a reference keeper")
        .clone();
    assert_eq!(a["keeper_by"], "reference", "{a:#}");
    assert_eq!(a["reclaim_bytes"], 0, "{a:#}");
    assert!(a["members"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["reference"] == true));
    let target = sb.root.join("moved");
    let action = format!("move:{}", target.display());
    // A client naming a reference member with another keeper: it is dropped.
    let a_orig = util::disp(&reference.join("orig.png"));
    let a_half = util::disp(&reference.join("half.png"));
    let body = json!({"action": action, "by": "hash", "dry_run": true,
        "groups": [{"keeper": a_half, "members": [a_orig, a_half]}]});
    let plan = srv.post_json("/api/dupes/apply", &body).json();
    assert!(plan["actions"].as_array().unwrap().is_empty(), "{plan:#}");
    // The whole report: only b and c lose a member.
    let body = json!({"action": action, "by": "hash", "dry_run": true});
    let plan = srv.post_json("/api/dupes/apply", &body).json();
    let acts = plan["actions"].as_array().unwrap();
    assert_eq!(acts.len(), 2, "{plan:#}");
    assert!(
        acts.iter()
            .all(|x| !x["path"].as_str().unwrap().contains("/a/")),
        "{plan:#}"
    );
    assert_eq!(plan["bytes"], d["reclaim_bytes"], "{plan:#} vs {d:#}");
    // Apply for real: the groups are recomputed from the store at once.
    let body = json!({"action": action, "by": "hash"});
    let done = srv.post_json("/api/dupes/apply", &body).json();
    assert_eq!(done["done"], 2, "{done:#}");
    let after = srv.get("/api/dupes?by=hash").json();
    assert_eq!(groups(&after).len(), 1, "{after:#}");
    assert!(reference.join("orig.png").is_file() && reference.join("half.png").is_file());
}
