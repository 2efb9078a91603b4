//! Regression tests for the defects of issue 14, each of which failed on the
//! code before its fix: panics that escaped a run (a decoder during
//! `classify predict`, an inference thread during `index`, a damaged stored
//! classifier), the ONNX Runtime loader caching its first library path, a
//! memory map leaked per graph reload, lossy paths used as identity, and
//! `inspect` reading its file twice. Panics are injected with
//! `IMGDEX_TEST_PANIC` (see `imgdex::fault`).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use imgdex::features::embedding::{EmbedConfig, Embedder};
use imgdex::learn::classifier::{LogisticModel, Model};
use imgdex::learn::labels::{self, LabelSource};
use imgdex::learn::results::ClassifierResult;
use imgdex::paths;
use imgdex::search::ann::{clustered_vectors, HnswParams};
use imgdex::search::saved;
use imgdex::store::record::fingerprint_code;
use imgdex::store::{EmbeddingRecord, ImageRecord, Store, StoreOptions};
use imgdex::Error;

use crate::util::{self, disp, scene, write_png, IndexSummary, Out, Sandbox};

/// Run imgdex with the fault `spec` armed.
fn with_fault(db: &Path, spec: &str, args: &[&OsStr]) -> Out {
    util::imgdex_env(db, &[(imgdex::fault::ENV, spec)], args)
}

fn images(dir: &Path, names: &[&str], seed: u64) -> Vec<PathBuf> {
    util::scene_pngs(dir, names, seed)
}

#[test]
fn index_reports_a_panicking_decoder_and_indexes_the_rest() {
    let sb = Sandbox::new();
    let dir = sb.dir("imgs");
    images(&dir, &["a.png", "boom.png", "c.png"], 40);
    let out = with_fault(
        &sb.db(),
        "decode:boom",
        &[
            "index".as_ref(),
            "--json".as_ref(),
            "--no-embed".as_ref(),
            dir.as_os_str(),
        ],
    );
    out.assert_code(1);
    let s: IndexSummary = out.parse();
    assert_eq!(s.indexed, 2);
    let f = s.failures_for(&dir.join("boom.png"));
    assert_eq!(f.len(), 1, "{:?}", s.failed);
    assert!(f[0].error.contains("panicked"), "{}", f[0].error);
}

#[test]
fn index_counts_the_batch_of_a_panicking_inference_thread_as_failed() {
    if util::no_model() {
        return;
    }
    let sb = Sandbox::new();
    let dir = sb.dir("imgs");
    let files = images(&dir, &["a.png", "b.png", "boom.png", "d.png"], 50);
    // Batch of one: exactly the poisoned file fails.
    let out = with_fault(
        &sb.db(),
        "inference:boom",
        &[
            "index".as_ref(),
            "--json".as_ref(),
            "--batch".as_ref(),
            "1".as_ref(),
            dir.as_os_str(),
        ],
    );
    out.assert_code(1);
    let s: IndexSummary = out.parse();
    assert_eq!(s.indexed, 3, "{}", out.describe());
    assert_eq!(s.failed.len(), 1, "{:?}", s.failed);
    assert_eq!(s.failed[0].path, disp(&files[2]));
    assert!(
        s.failed[0].error.contains("panicked"),
        "{}",
        s.failed[0].error
    );

    // Default batches: whatever shared the poisoned batch fails with it,
    // each file is accounted for exactly once.
    let sb = Sandbox::new();
    let dir = sb.dir("imgs");
    let files = images(&dir, &["a.png", "b.png", "boom.png", "d.png"], 50);
    let out = with_fault(
        &sb.db(),
        "inference:boom",
        &[
            "index".as_ref(),
            "--json".as_ref(),
            "--ort-sessions".as_ref(),
            "1".as_ref(),
            dir.as_os_str(),
        ],
    );
    out.assert_code(1);
    let s: IndexSummary = out.parse();
    assert_eq!(s.indexed + s.failed.len(), 4, "{}", out.describe());
    assert_eq!(s.failures_for(&files[2]).len(), 1, "{:?}", s.failed);
    assert_eq!(sb.info().images, s.indexed);
}

#[test]
fn classify_predict_reports_a_panicking_decoder_and_continues() {
    if util::no_model() {
        return;
    }
    let sb = Sandbox::new();
    let root = sb.dir("photos");
    for (c, class) in ["red", "blue"].iter().enumerate() {
        let dir = sb.dir(&format!("photos/{class}"));
        let col = if c == 0 { [220, 30, 30] } else { [30, 30, 220] };
        for i in 0..3u32 {
            let img = image::RgbImage::from_fn(120, 100, |x, y| {
                let v = ((x * (i + 1) + y) % 40) as u8;
                image::Rgb([col[0] / 2 + v, col[1] / 2 + v, col[2] / 2 + v])
            });
            write_png(&dir.join(format!("{i}.png")), &img);
        }
    }
    sb.index([&root]).0.assert_code(0);
    sb.imgdex([
        "classify",
        "train",
        "--method",
        "knn",
        "--val-fraction",
        "0.34",
    ])
    .assert_code(0);
    let fresh = sb.dir("fresh");
    let files = images(&fresh, &["boom.png", "ok.png"], 60);
    let out = with_fault(
        &sb.db(),
        "decode:boom",
        &[
            "classify".as_ref(),
            "predict".as_ref(),
            "--json".as_ref(),
            fresh.as_os_str(),
        ],
    );
    out.assert_code(1);
    let preds = out.json();
    let preds = preds.as_array().expect("predictions");
    assert_eq!(preds.len(), 1, "{}", out.describe());
    assert_eq!(preds[0]["path"], disp(&files[1]));
    let line = format!("failed  {}: ", disp(&files[0]));
    assert!(out.stderr.contains(&line), "{}", out.describe());
    assert!(out.stderr.contains("panicked"), "{}", out.describe());
}

#[test]
fn ort_library_paths_are_each_tried_and_reported_on_their_own() {
    if util::no_model() {
        return;
    }
    let dir = util::models_dir();
    let sb = Sandbox::new();
    let bogus = |name: &str| {
        let p = sb.root.join(name);
        std::fs::write(&p, b"not a shared library").unwrap();
        p
    };
    let cfg = |lib: Option<PathBuf>| EmbedConfig {
        ort_library: lib,
        batch: 1,
        ..EmbedConfig::in_dir(&dir)
    };
    // A broken library first: its own path in the error.
    let first = bogus("first.so");
    match Embedder::load(&cfg(Some(first.clone()))) {
        Err(Error::Model { path, .. }) => assert_eq!(path, first),
        other => panic!(
            "expected a Model error for {}, got {other:?}",
            first.display()
        ),
    }
    // The real one afterwards still loads (the first failure is not cached).
    Embedder::load(&cfg(None)).expect("the real ONNX Runtime loads after a failed attempt");
    // A different library once one is loaded: refused, naming both.
    let second = bogus("second.so");
    match Embedder::load(&cfg(Some(second.clone()))) {
        Err(Error::Model { path, reason }) => {
            assert_eq!(path, second);
            assert!(reason.contains("already loaded"), "{reason}");
        }
        other => panic!(
            "expected a Model error for {}, got {other:?}",
            second.display()
        ),
    }
}

fn damaged_classifier() -> ClassifierResult {
    ClassifierResult {
        classes: vec!["a".into(), "b".into()],
        embedding_fingerprint: "fp".into(),
        model: Model::Logistic(LogisticModel {
            dim: 4,
            classes: 2,
            weights: vec![0.5; 5], // should be dim × classes = 8
            intercept: vec![0.0; 2],
            standardizer: None,
        }),
        val_accuracy: 1.0,
        val_macro_f1: 1.0,
        trained_on: 2,
        created_unix: 0,
    }
}

#[test]
fn a_damaged_stored_classifier_is_a_corrupt_record_not_a_panic() {
    let sb = Sandbox::new();
    {
        let store = Store::open(&sb.db(), &StoreOptions::default()).unwrap();
        store.put_classifier(&damaged_classifier()).unwrap();
        match store.classifier() {
            Err(Error::CorruptRecord { tree, key, .. }) => {
                assert_eq!((tree, key.as_str()), ("results", "classifier"))
            }
            other => panic!("expected CorruptRecord, got {other:?}"),
        }
    }
    let dir = sb.dir("imgs");
    let files = images(&dir, &["a.png"], 70);
    let out = sb.imgdex([
        OsStr::new("classify"),
        "predict".as_ref(),
        files[0].as_os_str(),
    ]);
    out.assert_code(2);
    assert!(out.stderr.contains("corrupt"), "{}", out.describe());
}

/// Memory maps of this process whose file name ends in `suffix` under `root`.
fn mappings(root: &Path, suffix: &str) -> usize {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let root = root.to_string_lossy();
    maps.lines()
        .filter(|l| l.contains(root.as_ref()) && l.ends_with(suffix))
        .count()
}

#[test]
fn reloading_the_saved_graph_leaks_nothing() {
    let sb = Sandbox::new();
    let store = Store::open(&sb.db(), &StoreOptions::default()).unwrap();
    let fp = "model-x";
    for (id, v) in clustered_vectors(300, 64, 3).iter() {
        let rec = ImageRecord {
            taken: None,
            path: paths::to_bytes(Path::new(&format!("/synthetic/{id}.png"))),
            size: 0,
            mtime_ns: 0,
            digest: [0; 32],
            width: 1,
            height: 1,
            format: "png".into(),
            hashes: None,
            histogram: None,
        };
        let emb = EmbeddingRecord::from_f32(fingerprint_code(fp), v);
        store.put_image(id, &rec, Some(&emb)).unwrap();
    }
    store.flush().unwrap();
    let params = HnswParams {
        exact_below: 100,
        ..HnswParams::default()
    };
    drop(saved::open(&store, fp, params).unwrap());
    // The server and one-shot queries map the flat graph file; without it
    // (a graph saved by an older imgdex) it is written again from the
    // hnsw_rs dump, loaded for that and dropped. Neither may leak.
    let flat = saved::saved_dir(&store)
        .unwrap()
        .unwrap()
        .join("graph.flat");
    let flat_bytes = std::fs::read(&flat).unwrap();
    for _ in 0..5 {
        std::fs::remove_file(&flat).unwrap();
        let searcher = saved::open_resident(&store, fp, params).unwrap();
        assert_eq!(searcher.kind(), "flat");
        assert_eq!(std::fs::read(&flat).unwrap(), flat_bytes, "written again");
        assert_eq!(mappings(&sb.root, "hnsw.data"), 0, "the dump is not kept");
        drop(searcher);
        std::fs::write(&flat, &flat_bytes).unwrap();
        let searcher = saved::open_for_query(&store, fp, params).unwrap();
        assert!(
            mappings(&sb.root, "graph.flat") >= 1,
            "the flat graph is mapped"
        );
        drop(searcher);
    }
    assert_eq!(
        mappings(&sb.root, "hnsw.data"),
        0,
        "every reloaded graph's memory map is released with it"
    );
    assert_eq!(
        mappings(&sb.root, "graph.flat"),
        0,
        "flat graph maps released"
    );
    assert_eq!(
        mappings(&sb.root, "vectors.f16"),
        0,
        "re-rank maps released"
    );
}

#[test]
fn dupes_report_has_thumbnails_for_non_utf8_file_names() {
    let sb = Sandbox::new();
    let dir = sb.dir("imgs");
    let weird = dir.join(OsStr::from_bytes(b"caf\xe9.png"));
    write_png(&weird, &scene(12, 320, 240));
    std::fs::copy(&weird, dir.join("twin.png")).unwrap();
    sb.index_basic([&dir]).0.assert_code(0);
    let report = sb.root.join("review.html");
    sb.imgdex([
        OsStr::new("dupes"),
        "--by".as_ref(),
        "exact".as_ref(),
        "--report".as_ref(),
        report.as_os_str(),
    ])
    .assert_code(0);
    let html = std::fs::read_to_string(&report).unwrap();
    assert_eq!(html.matches("data:image/jpeg;base64,").count(), 2, "{html}");
    assert!(!html.contains("class=missing"), "{html}");
}

#[test]
fn folder_labels_keep_names_that_differ_only_in_invalid_bytes_apart() {
    let stored: Vec<Vec<u8>> = [
        &b"/p/caf\xe9/1.png"[..],
        b"/p/caf\xe8/2.png",
        b"/p/cafe/3.png",
    ]
    .iter()
    .map(|b| b.to_vec())
    .collect();
    let by_path = labels::assign(&LabelSource::Folder, &stored).unwrap();
    let names: std::collections::BTreeSet<&str> = by_path.values().map(String::as_str).collect();
    assert_eq!(names.len(), 3, "{by_path:?}");
    assert_eq!(by_path[&stored[2]], "cafe", "valid names are unchanged");
}

/// Bytes this thread has read through read(2) and friends.
fn thread_rchar() -> u64 {
    let io = std::fs::read_to_string("/proc/thread-self/io").unwrap();
    io.lines()
        .find_map(|l| l.strip_prefix("rchar: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("rchar in /proc/thread-self/io")
}

#[test]
fn inspect_reads_its_file_once() {
    let sb = Sandbox::new();
    let file = sb.root.join("noise.png");
    let mut rng = util::Lcg::new(5);
    let img = image::RgbImage::from_fn(700, 600, |_, _| {
        image::Rgb([
            rng.range(0, 256) as u8,
            rng.range(0, 256) as u8,
            rng.range(0, 256) as u8,
        ])
    });
    write_png(&file, &img);
    let size = std::fs::metadata(&file).unwrap().len();
    assert!(size > 1_000_000);
    let cfg = imgdex::jobs::inspect::InspectConfig {
        image: file.clone(),
        plot: None,
        decode: Default::default(),
        features: Default::default(),
        embed: None,
    };
    let before = thread_rchar();
    let report = imgdex::jobs::inspect::run(&cfg).unwrap();
    let read = thread_rchar() - before;
    assert_eq!((report.width, report.height), (700, 600));
    assert!(
        read >= size && read < size + size / 2,
        "inspect read {read} bytes of a {size}-byte file"
    );
}
