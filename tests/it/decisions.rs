//! Review decisions (`imgdex decide`) and reference folders (`dupes
//! --reference`), on generated duplicate groups indexed without the CNN:
//! decisions round-trip through `decide list --json`, survive `index`, are
//! dropped when their file is deleted and the folder re-indexed; a
//! not-duplicate set no longer groups, a chosen keeper stays keeper; no
//! plan (dry run or real) ever acts on a file under a reference folder.

use std::path::Path;

use serde_json::Value;

use crate::util::{self, Sandbox};

/// `n` groups of three: a PNG scene, a half-size PNG copy, a JPEG copy.
fn make_groups(dir: &Path, n: u64, seed: u64) {
    for i in 0..n {
        let img = util::scene(i + seed, 192, 144);
        util::write_png(&dir.join(format!("g{i:02}_orig.png")), &img);
        util::write_png(
            &dir.join(format!("g{i:02}_half.png")),
            &util::resized(&img, 96, 72),
        );
        util::write_jpeg(&dir.join(format!("g{i:02}_copy.jpg")), &img, 92);
    }
}

fn dupes(sb: &Sandbox, args: &[&str]) -> Value {
    let mut a = vec!["dupes", "--json"];
    a.extend_from_slice(args);
    let out = sb.imgdex(&a);
    out.assert_code(0);
    out.json()
}

fn decide(sb: &Sandbox, args: &[&str]) -> Value {
    let mut a = vec!["decide"];
    a.extend_from_slice(args);
    a.push("--json");
    let out = sb.imgdex(&a);
    out.assert_code(0);
    out.json()
}

/// Each group's sorted member paths.
fn groups(report: &Value) -> Vec<Vec<String>> {
    serde_json::from_value(report["groups"].clone()).expect("groups")
}

fn s(p: &Path) -> String {
    util::disp(p)
}

#[test]
fn decisions_round_trip_survive_index_and_leave_with_their_files() {
    let sb = Sandbox::new();
    let dir = sb.dir("photos");
    make_groups(&dir, 2, 300);
    sb.index_basic([&dir]).0.assert_code(0);
    let before = dupes(&sb, &[]);
    assert_eq!(groups(&before).len(), 2, "{before:#}");
    assert_eq!(before["decisions"]["stored"], 0);

    let g0 = groups(&before)[0].clone();
    let (half, copy) = (dir.join("g00_half.png"), dir.join("g00_copy.jpg"));
    assert!(g0.contains(&s(&half)), "{g0:?}");
    // Group 0 is not a duplicate set; in group 1 the half-size copy is kept.
    let g0_args: Vec<&str> = g0.iter().map(String::as_str).collect();
    let mut a = vec!["not-duplicate"];
    a.extend(&g0_args);
    let r = decide(&sb, &a);
    assert_eq!(r["changed"], 1);
    let keep = dir.join("g01_half.png");
    decide(&sb, &["keeper", keep.to_str().unwrap()]);

    let listed = decide(&sb, &["list"]);
    let list = listed["decisions"].as_array().unwrap().clone();
    assert_eq!(list.len(), 2, "{listed:#}");
    assert_eq!(list[0]["kind"], "not-duplicate");
    let mut set: Vec<String> = serde_json::from_value(list[0]["paths"].clone()).unwrap();
    set.sort();
    assert_eq!(set, g0);
    assert_eq!(list[1]["kind"], "keeper");
    assert_eq!(list[1]["paths"][0], s(&keep));

    let check = |when: &str| {
        let after = dupes(&sb, &[]);
        let gs = groups(&after);
        assert_eq!(gs.len(), 1, "{when}: {after:#}");
        assert!(gs[0].contains(&s(&keep)), "{when}: {gs:?}");
        assert_eq!(after["details"][0]["keeper"], s(&keep), "{when}");
        assert_eq!(after["details"][0]["keeper_by"], "decision", "{when}");
        assert_eq!(after["decisions"]["keepers_chosen"], 1, "{when}");
        assert!(
            after["decisions"]["pairs_kept_apart"].as_u64().unwrap() >= 1,
            "{when}"
        );
        // The text output and the report say what decisions changed.
        let out = sb.imgdex(["dupes"]);
        out.assert_code(0);
        assert!(
            out.stderr.contains("decisions changed"),
            "{when}: {}",
            out.stderr
        );
    };
    check("after deciding");
    // Re-indexing (a new file, nothing else changed) keeps them.
    util::write_png(&dir.join("other.png"), &util::scene(999, 160, 120));
    sb.index_basic([&dir]).0.assert_code(0);
    check("after index");
    assert_eq!(
        decide(&sb, &["list"])["decisions"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // A deleted file leaves its decisions: the chosen keeper's decision
    // goes, the not-duplicate set keeps its other two images.
    std::fs::remove_file(&keep).unwrap();
    std::fs::remove_file(&copy).unwrap();
    sb.index_basic([&dir]).0.assert_code(0);
    let listed = decide(&sb, &["list"]);
    let list = listed["decisions"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{listed:#}");
    assert_eq!(list[0]["kind"], "not-duplicate");
    assert_eq!(list[0]["paths"].as_array().unwrap().len(), 2, "{listed:#}");
    assert!(
        !list[0]["paths"].to_string().contains("g00_copy"),
        "{listed:#}"
    );
    let after = dupes(&sb, &[]);
    assert_eq!(groups(&after).len(), 1, "{after:#}");
    assert_eq!(after["details"][0]["keeper_by"], "rule");

    // clear PATH forgets it; the group comes back.
    let r = decide(&sb, &["clear", half.to_str().unwrap()]);
    assert_eq!(r["changed"], 1);
    assert!(r["decisions"].as_array().unwrap().is_empty());
    assert_eq!(groups(&dupes(&sb, &[])).len(), 2);
}

#[test]
fn decide_names_the_path_it_cannot_find_and_checks_its_arguments() {
    let sb = Sandbox::new();
    let dir = sb.dir("photos");
    make_groups(&dir, 1, 310);
    sb.index_basic([&dir]).0.assert_code(0);
    let missing = dir.join("nope.png");
    let a = dir.join("g00_orig.png");
    let out = sb.imgdex([
        "decide",
        "not-duplicate",
        a.to_str().unwrap(),
        missing.to_str().unwrap(),
    ]);
    assert_ne!(out.code, Some(0));
    assert!(out.stderr.contains("nope.png"), "{}", out.stderr);
    let out = sb.imgdex([
        "decide",
        "not-duplicate",
        a.to_str().unwrap(),
        a.to_str().unwrap(),
    ]);
    assert_ne!(out.code, Some(0));
    assert!(out.stderr.contains("two or more"), "{}", out.stderr);
    assert!(decide(&sb, &["list"])["decisions"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[test]
fn reference_files_are_kept_and_never_in_a_plan() {
    let sb = Sandbox::new();
    let camera = sb.dir("photos/Camera");
    let other = sb.dir("photos/other");
    // Each group: the full-size original under Camera/ (so the rule would
    // keep it anyway) and one copy; plus groups whose *smaller* member is
    // under Camera/, so only the reference folder makes it the keeper.
    make_groups(&other, 3, 320);
    for i in 0..3 {
        std::fs::rename(
            other.join(format!("g{i:02}_half.png")),
            camera.join(format!("g{i:02}_half.png")),
        )
        .unwrap();
    }
    let root = sb.dir("photos");
    sb.index_basic([&root]).0.assert_code(0);
    let cam = camera.to_str().unwrap();
    let report = dupes(&sb, &["--reference", cam]);
    let details = report["details"].as_array().unwrap();
    assert_eq!(details.len(), 3, "{report:#}");
    for d in details {
        let keeper = d["keeper"].as_str().unwrap();
        assert!(keeper.starts_with(cam), "{d:#}");
        assert_eq!(d["keeper_by"], "reference");
    }
    assert_eq!(report["decisions"]["reference_keepers"], 3);
    // A chosen keeper outside Camera/ wins over the folder, yet the
    // Camera/ file stays out of every plan.
    let chosen = other.join("g00_orig.png");
    decide(&sb, &["keeper", chosen.to_str().unwrap()]);
    let plans = [
        vec!["--apply", "trash", "--dry-run"],
        vec!["--apply", "delete", "--dry-run", "--keep", "largest"],
        vec!["--apply", "delete", "--dry-run", "--keep", "newest"],
    ];
    for args in &plans {
        let mut a = vec!["--reference", cam];
        a.extend(args);
        let r = dupes(&sb, &a);
        let actions = r["actions"].as_array().unwrap();
        assert!(!actions.is_empty(), "{args:?}: {r:#}");
        for act in actions {
            assert!(
                !act["path"].as_str().unwrap().starts_with(cam),
                "{args:?}: {r:#}"
            );
        }
        let total: u64 = actions.iter().map(|a| a["bytes"].as_u64().unwrap()).sum();
        assert_eq!(r["bytes"].as_u64().unwrap(), total);
        assert!(total > 0);
    }
    // A real move, then the store: every Camera/ file is still there.
    let moved = sb.dir("moved");
    let r = dupes(
        &sb,
        &[
            "--reference",
            cam,
            "--apply",
            &format!("move:{}", moved.display()),
        ],
    );
    assert!(r["done"].as_u64().unwrap() > 0, "{r:#}");
    for i in 0..3 {
        assert!(camera.join(format!("g{i:02}_half.png")).exists());
    }
    assert!(chosen.exists(), "the chosen keeper is kept");
    // Without --reference the dry run lists what the text output frees.
    let out = sb.imgdex(["dupes", "--apply", "trash", "--dry-run"]);
    assert!(out.stdout.contains("would free"), "{}", out.stdout);
}

/// The paths a dry run (or real run) of `dupes --apply` acts on.
fn acted(sb: &Sandbox, args: &[&str]) -> Vec<String> {
    let r = dupes(sb, args);
    r["actions"]
        .as_array()
        .unwrap_or_else(|| panic!("{r:#}"))
        .iter()
        .map(|a| a["path"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn kept_files_round_trip_are_never_keepers_and_never_in_a_plan() {
    let sb = Sandbox::new();
    let dir = sb.dir("photos");
    make_groups(&dir, 2, 330);
    sb.index_basic([&dir]).0.assert_code(0);
    let before = dupes(&sb, &[]);
    // The rule's keeper of group 0, and a copy in group 1.
    let orig0 = std::path::PathBuf::from(before["details"][0]["keeper"].as_str().unwrap());
    assert!(s(&orig0).starts_with(&s(&dir.join("g00_"))), "{before:#}");
    let copy1 = ["g01_copy.jpg", "g01_half.png", "g01_orig.png"]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| before["details"][1]["keeper"] != s(p))
        .unwrap();
    let all = acted(&sb, &["--apply", "trash", "--dry-run"]);
    assert!(all.contains(&s(&copy1)), "{all:?}");

    let r = decide(
        &sb,
        &["keep", orig0.to_str().unwrap(), copy1.to_str().unwrap()],
    );
    assert_eq!(r["changed"], 2, "{r:#}");
    let kept = |r: &Value| -> Vec<Vec<String>> {
        r["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["kind"] == "keep")
            .map(|d| serde_json::from_value(d["paths"].clone()).unwrap())
            .collect()
    };
    assert_eq!(
        kept(&decide(&sb, &["list"])),
        vec![vec![s(&orig0)], vec![s(&copy1)]]
    );

    // The kept original is no longer its group's keeper; both are marked.
    let report = dupes(&sb, &[]);
    assert_eq!(report["decisions"]["members_kept"], 2, "{report:#}");
    let g0 = &report["details"][0];
    assert_ne!(g0["keeper"], s(&orig0), "{g0:#}");
    for d in report["details"].as_array().unwrap() {
        for m in d["members"].as_array().unwrap() {
            let is_kept = m["path"] == s(&orig0) || m["path"] == s(&copy1);
            assert_eq!(m["kept"], is_kept, "{m:#}");
        }
    }
    // The kept original ranks ahead of the keeper by the rules: its reason
    // claims no rule by which the keeper wins.
    let original = g0["members"].as_array().unwrap().iter();
    let original = original.clone().find(|m| m["path"] == s(&orig0)).unwrap();
    let reason = original["reason"].as_str().unwrap();
    assert!(!reason.contains("the keeper wins"), "{reason}");
    let out = sb.imgdex(["dupes"]);
    assert!(
        out.stdout.contains(&format!("{} (kept)", s(&copy1))),
        "{}",
        out.stdout
    );

    // No plan acts on a kept file, whatever the keep policy.
    let plans = [
        vec!["--apply", "trash", "--dry-run"],
        vec!["--apply", "delete", "--dry-run", "--keep", "largest"],
        vec!["--apply", "delete", "--dry-run", "--keep", "oldest"],
    ];
    for args in &plans {
        let acts = acted(&sb, args);
        assert!(!acts.is_empty(), "{args:?}");
        assert!(
            !acts.contains(&s(&orig0)) && !acts.contains(&s(&copy1)),
            "{args:?}: {acts:?}"
        );
    }

    // Unkeep makes a file plannable again; a keeper decision replaces a keep.
    decide(&sb, &["unkeep", copy1.to_str().unwrap()]);
    assert!(acted(&sb, &["--apply", "trash", "--dry-run"]).contains(&s(&copy1)));
    let r = decide(&sb, &["keeper", orig0.to_str().unwrap()]);
    assert!(kept(&r).is_empty(), "{r:#}");
    decide(&sb, &["keep", copy1.to_str().unwrap()]);

    // A real move leaves the kept file in place.
    let moved = sb.dir("moved");
    let r = dupes(&sb, &["--apply", &format!("move:{}", moved.display())]);
    assert!(r["done"].as_u64().unwrap() > 0, "{r:#}");
    assert!(orig0.exists() && copy1.exists());
}
