//! Crash safety: an `index` run killed with SIGKILL at various points
//! leaves a store that reopens, holds only complete records, keeps what
//! earlier runs committed, and a re-run finishes the job.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::util::*;

const TOTAL: usize = 300;

/// `TOTAL` distinct, fairly large PNGs (so that one `--jobs 1` run takes
/// a few seconds), generated on two threads.
fn generate(dir: &Path) {
    let paths: Vec<(usize, PathBuf)> = (0..TOTAL)
        .map(|i| {
            (
                i,
                dir.join(format!("d{:02}", i % 10))
                    .join(format!("img{i:03}.png")),
            )
        })
        .collect();
    std::thread::scope(|s| {
        for chunk in paths.chunks(TOTAL.div_ceil(2)) {
            s.spawn(move || {
                for (i, p) in chunk {
                    write_png(p, &scene(10_000 + *i as u64, 1280, 960));
                }
            });
        }
    });
}

#[test]
fn sigkill_during_index_leaves_a_consistent_store_and_a_rerun_completes() {
    let sb = Sandbox::new();
    let imgs = sb.dir("imgs");
    let t = Instant::now();
    generate(&imgs);
    eprintln!("crash: generated {TOTAL} images in {:?}", t.elapsed());

    let mut previous = 0;
    let mut killed_mid_run = 0;
    // Delays after spawning: during start-up/migration, the walk, and at
    // various points of the pipeline (before and after periodic flushes).
    for delay_ms in [0u64, 60, 150, 300, 500, 750, 1000, 1500, 2500] {
        let mut cmd = command(&sb.db());
        cmd.args(["index", "--json", "--jobs", "1"])
            .args(no_embed_flag())
            .arg(&imgs);
        let mut child = cmd.spawn().expect("spawn imgdex index");
        let (out_h, err_h) = drain(&mut child);
        let deadline = Instant::now() + Duration::from_millis(delay_ms);
        while Instant::now() < deadline {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let was_running = child.try_wait().unwrap().is_none();
        if was_running {
            child.kill().expect("SIGKILL"); // Child::kill sends SIGKILL
            killed_mid_run += 1;
        }
        let status = child.wait().unwrap();
        let (stdout, stderr) = (out_h.join().unwrap(), err_h.join().unwrap());
        if !was_running {
            assert_eq!(
                status.code(),
                Some(0),
                "run finished on its own but failed:\n{stdout}\n{stderr}"
            );
        }

        if !sb.db().join("sled").exists() {
            // Killed before the store was even created: nothing to check.
            continue;
        }
        // The store reopens and every record is whole.
        let info = sb.info();
        assert_eq!(info.corrupt, 0, "after kill at {delay_ms} ms: {info:?}");
        assert_eq!(
            info.features.hash, info.images,
            "after kill at {delay_ms} ms: {info:?}"
        );
        assert_eq!(
            info.features.histogram, info.images,
            "after kill at {delay_ms} ms: {info:?}"
        );
        assert!(info.images <= TOTAL);
        assert!(
            info.images >= previous,
            "after kill at {delay_ms} ms: {} images, but {previous} were committed before",
            info.images
        );
        assert_eq!(info.schema_version, imgdex::migrations::CURRENT_VERSION);
        eprintln!(
            "crash: kill after {delay_ms} ms (running: {was_running}): {} of {TOTAL} images stored",
            info.images
        );
        previous = info.images;
        if previous == TOTAL {
            break;
        }
    }
    assert!(
        killed_mid_run >= 1,
        "no run was interrupted; the test did not test anything"
    );

    // A re-run finishes the job.
    let (out, s) = sb.index_basic([imgs.as_os_str(), "--jobs".as_ref(), "1".as_ref()]);
    out.assert_code(0);
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    assert_eq!(s.indexed + s.unchanged, TOTAL, "{}", out.describe());
    assert_eq!(
        s.unchanged, previous,
        "images committed before the kill are not redone"
    );
    let info = sb.info();
    assert_eq!(info.images, TOTAL);
    assert_eq!(info.corrupt, 0);
    assert_eq!(info.features.hash, TOTAL);

    // No file ended up with two records.
    let (_, s) = sb.index_basic([&imgs]);
    assert_eq!((s.indexed, s.unchanged, s.removed), (0, TOTAL, 0));
    assert!(
        sb.dupes(&["--by", "exact"]).is_empty(),
        "all files are distinct"
    );

    // Now kill runs that *replace* records in place (a histogram layout
    // change re-analyses every image under its existing id): at every
    // point each file has exactly one whole record.
    let mut killed_mid_run = 0;
    for delay_ms in [50u64, 300, 600] {
        let mut cmd = command(&sb.db());
        cmd.args(["index", "--json", "--jobs", "1", "--bins", "16"])
            .args(no_embed_flag())
            .arg(&imgs);
        let mut child = cmd.spawn().expect("spawn imgdex index");
        let (out_h, err_h) = drain(&mut child);
        std::thread::sleep(Duration::from_millis(delay_ms));
        if child.try_wait().unwrap().is_none() {
            child.kill().expect("SIGKILL");
            killed_mid_run += 1;
        }
        child.wait().unwrap();
        let _ = (out_h.join(), err_h.join());
        let info = sb.info();
        eprintln!("crash: replacing, kill after {delay_ms} ms: {info:?}");
        assert_eq!(
            info.images, TOTAL,
            "records lost or duplicated while being replaced"
        );
        assert_eq!(info.corrupt, 0);
        assert_eq!(info.features.hash, TOTAL);
        assert_eq!(info.features.histogram, TOTAL);
    }
    assert!(killed_mid_run >= 1, "no replacing run was interrupted");
    let (out, s) = sb.index_basic([imgs.as_os_str(), "--bins".as_ref(), "16".as_ref()]);
    out.assert_code(0);
    assert_eq!(s.indexed + s.unchanged, TOTAL);
    let info = sb.info();
    assert_eq!((info.images, info.corrupt), (TOTAL, 0));
    assert_eq!(
        info.fingerprints.get("histogram").map(String::as_str),
        Some("rgb-16-l1norm-v2/work256-box2x-bilinear")
    );
    let (_, s) = sb.index_basic([imgs.as_os_str(), "--bins".as_ref(), "16".as_ref()]);
    assert_eq!((s.indexed, s.unchanged), (0, TOTAL));
}
