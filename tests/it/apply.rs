//! `dupes --apply` and `undo` on generated duplicate groups: every action
//! leaves the keeper untouched, a file changed after indexing is skipped,
//! `hardlink` links only files of the keeper's format,
//! `delete` needs `--yes`, a dry run touches nothing and lists what a real
//! run then does, `undo` finds the journal's store from any folder, the trash follows the freedesktop layout, the store stops
//! showing removed files and shows them as before after `undo` (their
//! signatures too), and a run killed with SIGKILL part way through a
//! long `move` is fully reversed by `undo`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{self, Sandbox};

/// `n` groups: a 192×144 PNG scene, a half-size PNG copy and a JPEG copy.
fn make_groups(sb: &Sandbox, n: u64) -> PathBuf {
    let dir = sb.dir("photos");
    for i in 0..n {
        let img = util::scene(i + 300, 192, 144);
        util::write_png(&dir.join(format!("g{i:02}_orig.png")), &img);
        util::write_png(
            &dir.join(format!("g{i:02}_half.png")),
            &util::resized(&img, 96, 72),
        );
        util::write_jpeg(&dir.join(format!("g{i:02}_copy.jpg")), &img, 92);
    }
    dir
}

/// Bytes and mtime of every file under `dir`, by path.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, i64)> {
    let mut out = BTreeMap::new();
    for e in walk(dir) {
        let m = std::fs::metadata(&e).expect("stat");
        out.insert(e.clone(), (std::fs::read(&e).expect("read"), m.mtime()));
    }
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return files;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            files.extend(walk(&p));
        } else {
            files.push(p);
        }
    }
    files.sort();
    files
}

/// Index without embeddings and return the dupes report's details.
fn index_and_groups(sb: &Sandbox, dir: &Path, groups: usize) -> Vec<Value> {
    let (out, _) = sb.index_basic([dir]);
    out.assert_code(0);
    let details = dupes_details(sb);
    assert_eq!(details.len(), groups, "{details:#?}");
    details
}

fn dupes_details(sb: &Sandbox) -> Vec<Value> {
    let out = sb.imgdex(["dupes", "--json"]);
    out.assert_code(0);
    out.json()["details"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The whole `dupes --json --pairs` report (groups, keepers, reasons and
/// each pair's verification).
fn pairs_report(sb: &Sandbox) -> Value {
    let out = sb.imgdex(["dupes", "--json", "--pairs"]);
    out.assert_code(0);
    out.json()
}

fn keepers(details: &[Value]) -> Vec<PathBuf> {
    details
        .iter()
        .map(|g| PathBuf::from(g["keeper"].as_str().expect("keeper")))
        .collect()
}

fn apply(sb: &Sandbox, args: &[&str], env: &[(&str, &Path)]) -> util::Out {
    let mut a: Vec<OsString> = vec!["dupes".into(), "--json".into()];
    a.extend(args.iter().map(OsString::from));
    let mut cmd = util::command(&sb.db());
    cmd.args(&a);
    for (k, v) in env {
        cmd.env(k, v);
    }
    util::run_with_timeout(cmd, a, util::RUN_TIMEOUT)
}

fn actions(out: &util::Out) -> Vec<(String, String)> {
    out.json()["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| {
            (
                a["op"].as_str().unwrap_or("").to_string(),
                a["path"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn assert_untouched(before: &BTreeMap<PathBuf, (Vec<u8>, i64)>, paths: &[PathBuf]) {
    for p in paths {
        let (bytes, mtime) = &before[p];
        assert_eq!(
            &std::fs::read(p).expect("keeper still there"),
            bytes,
            "{p:?}"
        );
        assert_eq!(std::fs::metadata(p).unwrap().mtime(), *mtime, "{p:?}");
    }
}

#[test]
fn move_keeps_the_keeper_and_undo_puts_everything_back() {
    let sb = Sandbox::new();
    let dir = make_groups(&sb, 3);
    let details = index_and_groups(&sb, &dir, 3);
    let verdicts = pairs_report(&sb);
    let before = snapshot(&dir);
    let target = sb.root.join("moved");
    let out = apply(
        &sb,
        &["--apply", &format!("move:{}", target.display())],
        &[],
    );
    out.assert_code(0);
    let report = out.json();
    assert_eq!(report["done"], 6, "{}", out.describe());
    assert_untouched(&before, &keepers(&details));
    assert_eq!(walk(&dir).len(), 3, "only the keepers stay");
    assert_eq!(walk(&target).len(), 6, "the copies are under the target");
    assert!(dupes_details(&sb).is_empty(), "moved files left the store");
    let journal = report["journal"]
        .as_str()
        .expect("journal path")
        .to_string();
    let undo = sb.imgdex(["undo", "--json", &journal]);
    undo.assert_code(0);
    assert_eq!(undo.json()["restored"], 6, "{}", undo.describe());
    assert_eq!(
        snapshot(&dir),
        before,
        "every file back with its bytes and mtime"
    );
    // Records, embeddings and copy signatures are all back: every pair
    // is verified and every keeper chosen as before.
    assert_eq!(pairs_report(&sb), verdicts, "records restored");
    let again = sb.imgdex(["undo", "--json", &journal]);
    assert_eq!(again.json()["restored"], 0, "a second undo does nothing");
    assert_eq!(snapshot(&dir), before);
}

/// A journal written before intents saved the copy signature (the field
/// stripped here): `undo` still restores every file and record, and
/// `dupes` then counts the restored images as unverified and says so.
#[test]
fn undo_of_a_journal_without_signatures_leaves_them_to_index_and_says_so() {
    let sb = Sandbox::new();
    let dir = make_groups(&sb, 2);
    index_and_groups(&sb, &dir, 2);
    assert_eq!(pairs_report(&sb)["unverified_images"], 0);
    let xdg = sb.dir("xdg");
    let real = apply(
        &sb,
        &["--apply", "trash"],
        &[("XDG_DATA_HOME", xdg.as_path())],
    );
    real.assert_code(0);
    let journal = PathBuf::from(real.json()["journal"].as_str().unwrap());
    let lines: Vec<String> = std::fs::read_to_string(&journal)
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("signature");
            v.to_string()
        })
        .collect();
    std::fs::write(&journal, lines.join("\n") + "\n").unwrap();
    let undo = sb.imgdex(["undo", "--json", journal.to_str().unwrap()]);
    undo.assert_code(0);
    assert_eq!(undo.json()["restored"], 4, "{}", undo.describe());
    let out = sb.imgdex(["dupes", "--json"]);
    out.assert_code(0);
    assert_eq!(out.json()["unverified_images"], 4, "{}", out.describe());
    assert!(
        out.stderr.contains("no copy signature"),
        "{}",
        out.describe()
    );
    // The next index adds them: every pair verified again.
    sb.index_basic([&dir]).0.assert_code(0);
    assert_eq!(pairs_report(&sb)["unverified_images"], 0);
}

#[test]
fn dry_run_touches_nothing_and_lists_what_trash_then_does() {
    let sb = Sandbox::new();
    let dir = make_groups(&sb, 2);
    let details = index_and_groups(&sb, &dir, 2);
    let before = snapshot(&dir);
    let xdg = sb.dir("xdg");
    let env = [("XDG_DATA_HOME", xdg.as_path())];
    let dry = apply(&sb, &["--apply", "trash", "--dry-run"], &env);
    dry.assert_code(0);
    assert!(
        dry.json()["journal"].is_null(),
        "a dry run writes no journal"
    );
    assert_eq!(snapshot(&dir), before, "a dry run touches nothing");
    assert!(walk(&xdg).is_empty());
    let planned = actions(&dry);
    assert_eq!(planned.len(), 4);
    let real = apply(&sb, &["--apply", "trash"], &env);
    real.assert_code(0);
    assert_eq!(actions(&real), planned, "the real run does what was listed");
    assert_untouched(&before, &keepers(&details));
    let trash = xdg.join("Trash");
    for (_, path) in &planned {
        let name = Path::new(path)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        assert!(
            trash.join("files").join(&name).is_file(),
            "{name} in Trash/files"
        );
        let info = std::fs::read_to_string(trash.join("info").join(format!("{name}.trashinfo")))
            .expect("trashinfo");
        assert!(info.starts_with("[Trash Info]"), "{info}");
        assert!(info.contains(&format!("Path={path}")), "{info}");
        assert!(info.contains("DeletionDate="), "{info}");
        assert!(!Path::new(path).exists());
    }
    let journal = real.json()["journal"].as_str().unwrap().to_string();
    // The printed `imgdex undo JOURNAL`, run from another folder with no
    // store named: the journal's own store is used.
    let mut cmd = std::process::Command::new(util::BIN);
    cmd.env_remove("IMGDEX_DB")
        .current_dir(sb.dir("elsewhere"))
        .args(["undo", &journal])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let undo = util::run_with_timeout(cmd, vec!["undo".into(), journal.into()], util::RUN_TIMEOUT);
    undo.assert_code(0);
    assert_eq!(snapshot(&dir), before, "trash undone");
    assert_eq!(
        dupes_details(&sb),
        details,
        "records back in the journal's store"
    );
}

#[test]
fn a_file_changed_after_indexing_is_skipped() {
    let sb = Sandbox::new();
    let dir = make_groups(&sb, 1);
    let details = index_and_groups(&sb, &dir, 1);
    let keeper = keepers(&details).remove(0);
    let changed = walk(&dir).into_iter().find(|p| *p != keeper).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let mut bytes = std::fs::read(&changed).unwrap();
    bytes.extend_from_slice(b"edited after indexing");
    std::fs::write(&changed, &bytes).unwrap();
    let target = sb.root.join("moved");
    let out = apply(
        &sb,
        &["--apply", &format!("move:{}", target.display())],
        &[],
    );
    out.assert_code(1);
    let skipped = out.json()["skipped"].as_array().cloned().unwrap();
    assert_eq!(skipped.len(), 1, "{}", out.describe());
    assert_eq!(skipped[0]["path"], util::disp(&changed));
    assert!(!skipped[0]["error"].as_str().unwrap().is_empty());
    assert_eq!(
        std::fs::read(&changed).unwrap(),
        bytes,
        "changed file left alone"
    );
    assert_eq!(walk(&target).len(), 1, "the other copy was moved");
}

#[test]
fn delete_needs_yes_and_hardlink_shares_the_keeper() {
    let sb = Sandbox::new();
    let dir = make_groups(&sb, 2);
    // A second JPEG copy in each group: whichever format the keeper has,
    // some member shares it.
    for i in 0..2u64 {
        let img = util::scene(i + 300, 192, 144);
        util::write_jpeg(&dir.join(format!("g{i:02}_copy2.jpg")), &img, 80);
    }
    let details = index_and_groups(&sb, &dir, 2);
    let before = snapshot(&dir);
    let refused = apply(&sb, &["--apply", "delete"], &[]);
    refused.assert_code(2);
    assert_eq!(snapshot(&dir), before, "refused delete touched nothing");
    // hardlink: each copy of the keeper's format becomes the keeper's
    // inode; a copy of another format (PNG against JPEG) is skipped, so
    // its name never holds the other format's data. Undo separates the
    // linked ones.
    let linked = apply(&sb, &["--apply", "hardlink"], &[]);
    let skipped: Vec<String> = linked.json()["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert!(s["error"].as_str().unwrap().contains(" data"), "{s}");
            s["path"].as_str().unwrap().to_string()
        })
        .collect();
    let mut other_format = 0;
    for g in &details {
        let members = g["members"].as_array().unwrap();
        let keeper = members.iter().find(|m| m["path"] == g["keeper"]).unwrap();
        let k = std::fs::metadata(keeper["path"].as_str().unwrap()).unwrap();
        for m in members {
            let path = m["path"].as_str().unwrap();
            let p = std::fs::metadata(path).unwrap();
            let same_format = m["format"] == keeper["format"];
            assert_eq!((p.dev(), p.ino()) == (k.dev(), k.ino()), same_format, "{m}");
            assert_eq!(skipped.iter().any(|s| s == path), !same_format, "{m}");
            other_format += usize::from(!same_format);
        }
    }
    assert!(other_format > 0, "each group mixes PNG and JPEG");
    assert!(other_format < 6, "some member has the keeper's format");
    linked.assert_code(1);
    let left: usize = dupes_details(&sb)
        .iter()
        .map(|g| g["members"].as_array().unwrap().len() - 1)
        .sum();
    assert_eq!(left, other_format, "hard links are not listed again");
    let journal = linked.json()["journal"].as_str().unwrap().to_string();
    sb.imgdex(["undo", &journal]).assert_code(0);
    assert_eq!(snapshot(&dir), before, "original bytes back");
    let deleted = apply(&sb, &["--apply", "delete", "--yes"], &[]);
    deleted.assert_code(0);
    assert_untouched(&before, &keepers(&details));
    assert_eq!(walk(&dir).len(), 2, "only the keepers are left");
}

#[test]
fn undo_after_kill_9_part_way_through_a_move_restores_every_file() {
    let sb = Sandbox::new();
    let dir = make_groups(&sb, 20);
    index_and_groups(&sb, &dir, 20);
    let before = snapshot(&dir);
    let target = sb.root.join("moved");
    let journal = sb.root.join("move.jsonl");
    let mut cmd = util::command(&sb.db());
    cmd.args(["dupes", "--apply"])
        .arg(format!("move:{}", target.display()))
        .arg("--journal")
        .arg(&journal)
        .env("IMGDEX_TEST_APPLY_DELAY_MS", "100");
    let mut child = cmd.spawn().expect("spawn");
    let start = Instant::now();
    while intents(&journal) < 5 {
        assert!(start.elapsed() < util::RUN_TIMEOUT, "journal never grew");
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before the kill"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    let moved = walk(&target).len();
    assert!((4..40).contains(&moved), "killed part way: {moved} moved");
    let undo = sb.imgdex([OsString::from("undo"), "--json".into(), journal.into()]);
    undo.assert_code(0);
    assert_eq!(snapshot(&dir), before, "every file back with its bytes");
    assert!(walk(&target).is_empty(), "nothing left in the target");
    assert_eq!(dupes_details(&sb).len(), 20);
}

fn intents(journal: &Path) -> usize {
    std::fs::read_to_string(journal)
        .map(|s| s.lines().filter(|l| l.contains("\"intent\"")).count())
        .unwrap_or(0)
}
