//! Nothing lost (issue 28, the store and file side): a recomputation that
//! fails keeps the records it could not redo, a model that cannot work stops
//! `index` before any write, `undo` of a hard link tells the keeper's old
//! inode from the duplicate's own, a killed `undo` loses no record, an edit
//! made while `delete` runs is not deleted, and a damaged store has a way
//! back (`repair`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use imgdex::features::embedding::EmbedConfig;

use crate::util::{self, scene, write_png, Sandbox};

fn images(dir: &Path, names: &[&str], seed: u64) -> Vec<PathBuf> {
    util::scene_pngs(dir, names, seed)
}

/// Two near-duplicate pairs (`boom` ones among them) and three singles.
fn pairs(dir: &Path) {
    images(dir, &["a.png", "boom-b.png", "c.png", "d.png", "e.png"], 70);
    let a = scene(70, 200, 160);
    util::write_jpeg(&dir.join("a-copy.jpg"), &util::resized(&a, 100, 80), 92);
    let b = scene(71, 200, 160);
    util::write_jpeg(
        &dir.join("boom-b-copy.jpg"),
        &util::resized(&b, 100, 80),
        92,
    );
}

fn run(sb: &Sandbox, env: &[(&str, &str)], args: &[&std::ffi::OsStr]) -> util::Out {
    util::imgdex_env(&sb.db(), env, args)
}

#[test]
fn a_failed_recompute_keeps_the_records_it_could_not_redo() {
    let sb = Sandbox::new();
    let dir = sb.dir("imgs");
    pairs(&dir);
    let (out, _) = sb.index_basic([dir.as_os_str(), "--bins".as_ref(), "16".as_ref()]);
    out.assert_code(0);
    let (n, groups) = (sb.info().images, sb.dupes(&["--by", "hash"]));
    assert_eq!((n, groups.len()), (7, 2), "{groups:?}");
    // Every file is recomputed (other bins); the decoder panics on `boom`.
    let fault = [(imgdex::fault::ENV, "decode:boom")];
    let out = run(
        &sb,
        &fault,
        &[
            "index".as_ref(),
            "--json".as_ref(),
            "--no-embed".as_ref(),
            dir.as_os_str(),
        ],
    );
    out.assert_code(1);
    let s: util::IndexSummary = out.parse();
    assert_eq!((s.failed.len(), s.kept_stale), (2, 2), "{}", out.describe());
    assert!(s.failed[0].error.contains("kept"), "{:?}", s.failed);
    let info = sb.info();
    assert_eq!((info.images, info.stale), (n, 2));
    assert_eq!(sb.dupes(&["--by", "hash"]), groups);
    // The next clean run redoes them and clears the marks.
    sb.index_basic([&dir]).0.assert_code(0);
    assert_eq!((sb.info().images, sb.info().stale), (n, 0));
}

#[test]
fn an_inference_panic_keeps_its_batch_mates_records() {
    if util::no_model() {
        return;
    }
    let sb = Sandbox::new();
    let dir = sb.dir("imgs");
    pairs(&dir);
    sb.index_basic([&dir]).0.assert_code(0);
    let groups = sb.dupes(&["--by", "hash"]);
    // Now with embeddings: every record gets one; the `boom` batch panics.
    let fault = [(imgdex::fault::ENV, "inference:boom")];
    let out = run(
        &sb,
        &fault,
        &[
            "index".as_ref(),
            "--json".as_ref(),
            "--ort-sessions".as_ref(),
            "1".as_ref(),
            dir.as_os_str(),
        ],
    );
    out.assert_code(1);
    let s: util::IndexSummary = out.parse();
    assert!(
        s.kept_stale >= 1 && s.kept_stale == s.failed.len(),
        "{}",
        out.describe()
    );
    assert_eq!(sb.info().images, 7, "no record lost with its batch");
    assert_eq!(sb.dupes(&["--by", "hash"]), groups);
}

/// The real model with a sidecar that promises a wider output than it has.
fn broken_model(sb: &Sandbox) -> PathBuf {
    let real = EmbedConfig::default_dir();
    let dir = sb.dir("broken-model");
    for f in [
        "efficientnet-lite0.onnx",
        "libonnxruntime.so",
        "imagenet_classes.txt",
    ] {
        std::os::unix::fs::symlink(real.join(f), dir.join(f)).unwrap();
    }
    let sidecar = std::fs::read_to_string(real.join("efficientnet-lite0.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&sidecar).unwrap();
    v["embedding_dim"] = 64.into();
    std::fs::write(dir.join("efficientnet-lite0.json"), v.to_string()).unwrap();
    dir.join("efficientnet-lite0.onnx")
}

#[test]
fn a_model_that_cannot_work_stops_index_before_any_write() {
    if util::no_model() {
        return;
    }
    let sb = Sandbox::new();
    let dir = sb.dir("imgs");
    pairs(&dir);
    // Hashes only first, so the next run has to embed every file.
    sb.index_basic([&dir]).0.assert_code(0);
    let (info, groups) = (sb.info(), sb.dupes(&[]));
    let model = broken_model(&sb);
    let out = sb.imgdex([
        OsString::from("index"),
        "--model".into(),
        model.into(),
        dir.clone().into(),
    ]);
    out.assert_code(2);
    assert!(
        out.stderr.contains("test run on a blank image"),
        "{}",
        out.stderr
    );
    assert_eq!(sb.info().images, info.images);
    assert_eq!(sb.info().features.embedding, info.features.embedding);
    assert_eq!(sb.dupes(&[]), groups);
}

/// Run `undo J` with the apply test delay, kill it right after its first
/// `undone` line is durable, and return.
fn kill_undo_after_first_line(sb: &Sandbox, journal: &Path) {
    let mut cmd = util::command(&sb.db());
    cmd.args([OsString::from("undo"), journal.into()]);
    cmd.env(imgdex::jobs::apply::TEST_DELAY_ENV, "3000");
    let mut child = cmd.spawn().unwrap();
    let _drain = util::drain(&mut child);
    let deadline = Instant::now() + util::RUN_TIMEOUT;
    loop {
        let text = std::fs::read_to_string(journal).unwrap_or_default();
        if text.contains("\"undone\"") {
            break;
        }
        assert!(Instant::now() < deadline, "undo wrote no undone line");
        assert!(
            child.try_wait().unwrap().is_none(),
            "undo ended before its first line"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

fn journal_of(out: &util::Out) -> PathBuf {
    PathBuf::from(out.json()["journal"].as_str().expect("journal"))
}

#[test]
fn a_killed_undo_then_undo_restores_every_record() {
    let sb = Sandbox::new();
    let dir = sb.dir("imgs");
    pairs(&dir);
    sb.index_basic([&dir]).0.assert_code(0);
    let n = sb.info().images;
    let target = sb.root.join("moved");
    let out = sb.imgdex([
        "dupes",
        "--by",
        "hash",
        "--json",
        "--apply",
        &format!("move:{}", target.display()),
    ]);
    out.assert_code(0);
    assert_eq!(sb.info().images, n - 2);
    let journal = journal_of(&out);
    kill_undo_after_first_line(&sb, &journal);
    let again = sb.imgdex([OsString::from("undo"), journal.into(), "--json".into()]);
    again.assert_code(0);
    assert_eq!(sb.info().images, n, "{}", again.describe());
    assert_eq!(sb.dupes(&["--by", "hash"]).len(), 2);
}

#[test]
fn undo_of_a_hardlink_keeps_the_duplicates_bytes_when_the_keeper_was_replaced() {
    let sb = Sandbox::new();
    let dir = sb.dir("imgs");
    // Uncompressed images of one size: keeper and duplicate have equal
    // sizes; the duplicate gets the keeper's mtime (as `cp -p` would).
    let img = scene(90, 160, 120);
    image::DynamicImage::ImageRgb8(img.clone())
        .save(dir.join("k.bmp"))
        .unwrap();
    let dup = util::brightened(&img, 1.04);
    image::DynamicImage::ImageRgb8(dup)
        .save(dir.join("d.bmp"))
        .unwrap();
    let mtime = std::fs::metadata(dir.join("k.bmp"))
        .unwrap()
        .modified()
        .unwrap();
    std::fs::File::options()
        .write(true)
        .open(dir.join("d.bmp"))
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    sb.index_basic([&dir]).0.assert_code(0);
    let out = sb.imgdex(["dupes", "--by", "hash", "--json", "--apply", "hardlink"]);
    out.assert_code(0);
    let act = &out.json()["actions"][0];
    let (dup_path, keeper) = (
        PathBuf::from(act["path"].as_str().unwrap()),
        PathBuf::from(act["keeper"].as_str().unwrap()),
    );
    let original = if dup_path.ends_with("d.bmp") {
        "d"
    } else {
        "k"
    };
    let want = {
        let src = if original == "d" {
            util::brightened(&img, 1.04)
        } else {
            img.clone()
        };
        let p = sb.root.join("want.bmp");
        image::DynamicImage::ImageRgb8(src).save(&p).unwrap();
        std::fs::read(p).unwrap()
    };
    // The keeper is saved atomically with new content after the apply.
    let tmp = dir.join(".new");
    write_png(&tmp, &scene(91, 160, 120));
    std::fs::rename(&tmp, &keeper).unwrap();
    let undo = sb.imgdex([
        OsString::from("undo"),
        journal_of(&out).into(),
        "--json".into(),
    ]);
    assert_eq!(
        std::fs::read(&dup_path).unwrap(),
        want,
        "{}",
        undo.describe()
    );
}

#[test]
fn an_edit_during_delete_is_not_deleted() {
    let sb = Sandbox::new();
    let dir = sb.dir("imgs");
    pairs(&dir);
    sb.index_basic([&dir]).0.assert_code(0);
    let journal = sb.root.join("j.jsonl");
    let mut cmd = util::command(&sb.db());
    cmd.args([
        "dupes",
        "--by",
        "hash",
        "--json",
        "--apply",
        "delete",
        "--yes",
        "--journal",
    ])
    .arg(&journal);
    cmd.env(imgdex::jobs::apply::TEST_DELAY_ENV, "1500");
    let mut child = cmd.spawn().unwrap();
    let (out, _err) = util::drain(&mut child);
    let deadline = Instant::now() + util::RUN_TIMEOUT;
    let victim = loop {
        let text = std::fs::read_to_string(&journal).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("\"intent\"")) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            break PathBuf::from(v["path"].as_str().unwrap());
        }
        assert!(Instant::now() < deadline, "no intent journalled");
        std::thread::sleep(Duration::from_millis(2));
    };
    // The user saves an edit while the run waits between intent and unlink.
    let edited = util::jpeg_bytes(&scene(99, 100, 80), 80);
    std::fs::write(&victim, &edited).unwrap();
    assert!(child.wait().unwrap().code().is_some());
    let report: serde_json::Value = serde_json::from_str(&out.join().unwrap()).unwrap();
    assert_eq!(std::fs::read(&victim).ok(), Some(edited), "{report}");
    let skipped = report["skipped"].to_string();
    assert!(skipped.contains(&util::disp(&victim)), "{report}");
}

#[test]
fn a_damaged_store_says_so_and_repair_brings_it_back() {
    let sb = Sandbox::new();
    let dir = sb.dir("imgs");
    pairs(&dir);
    sb.index_basic([&dir]).0.assert_code(0);
    let n = sb.info().images;
    let journal = sb.db().join("journal").join("kept.jsonl");
    std::fs::create_dir_all(journal.parent().unwrap()).unwrap();
    std::fs::write(&journal, "{}\n").unwrap();
    // Damage live data in sled's file (after a reopen, which writes sled's
    // snapshot: pages are then read from their file offsets, and a damaged
    // one is an error; a log replayed without a snapshot is cut at the
    // damage instead, and `index` re-adds what was cut).
    // 16 bytes in every KiB, so that live data is hit whatever the layout.
    let log = sb.db().join("sled").join("db");
    let mut bytes = std::fs::read(&log).unwrap();
    for start in (64..bytes.len()).step_by(1024) {
        let end = (start + 16).min(bytes.len());
        bytes[start..end].iter_mut().for_each(|b| *b ^= 0xff);
    }
    std::fs::write(&log, &bytes).unwrap();
    for cmd in [&["info"][..], &["dupes"], &["index", "--no-embed", "."]] {
        let out = sb.imgdex(cmd);
        out.assert_code(2);
        assert!(
            out.stderr.contains("is damaged") && out.stderr.contains("imgdex repair"),
            "{}",
            out.stderr
        );
    }
    let out = sb.imgdex(["repair", "--no-embed", "--json"]);
    out.assert_code(0);
    let report = out.json();
    assert!(
        report["moved_aside"].as_str().unwrap().contains("damaged-"),
        "{report}"
    );
    assert_eq!(sb.info().images, n, "{}", out.describe());
    assert_eq!(sb.dupes(&["--by", "hash"]).len(), 2);
    assert!(journal.is_file(), "the journals stay where they were");
}
