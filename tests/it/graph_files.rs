//! The derived files of a saved graph generation (`graph.flat`,
//! `graph.edges`, `vectors.f16`) under their shared header (format v2):
//! frozen v2 files are used as they are; frozen v1 files, and files
//! damaged in each way the header tells apart, are rejected, reported
//! (the `ann-rejected` record `info` shows, and a warning on stderr) and
//! written again, and searches answer as before.

use std::path::{Path, PathBuf};

use imgdex::search::ann::HnswParams;
use imgdex::search::saved::{self, RejectedFile};
use imgdex::store::Store;

use crate::ann::{clustered, store_with};
use crate::formats::{
    ann_params, ann_vector, fixture_dir, frozen_graph_store, ANN_FP, GRAPH_FILES_V1, GRAPH_FILES_V2,
};
use crate::util::{imgdex, Sandbox};

const FILES: [&str; 3] = ["graph.flat", "graph.edges", "vectors.f16"];

fn read_all(dir: &Path) -> Vec<Vec<u8>> {
    FILES
        .iter()
        .map(|f| std::fs::read(dir.join(f)).expect("file present"))
        .collect()
}

/// Every search path over the store: one-shot query, `dupes`' edge file,
/// the server's re-rank file; each finds vector 5 first.
fn search_every_way(store: &Store) {
    let q = saved::open_for_query(store, ANN_FP, ann_params()).unwrap();
    assert_eq!(q.kind(), "flat");
    assert_eq!(q.search(store, &ann_vector(5), 3)[0].0, 5);
    let (edges, live) = saved::open_for_dupes(store, ANN_FP, &ann_params())
        .unwrap()
        .expect("the edge file is used");
    assert_eq!(edges.edge_knn(3, &live).len(), 40);
    let r = saved::open_resident(store, ANN_FP, ann_params()).unwrap();
    assert_eq!((r.kind(), r.rerank_source()), ("flat", "file"));
    assert_eq!(r.search(store, &ann_vector(5), 3)[0].0, 5);
}

#[test]
fn frozen_v2_files_are_used_not_rewritten() {
    let sb = Sandbox::new();
    let store = frozen_graph_store(&sb, GRAPH_FILES_V2);
    let g1 = sb.db().join("ann/g1");
    let before = read_all(&g1);
    assert!(before.iter().all(|b| &b[..8] == b"IMGDXANN"), "v2 fixtures");
    search_every_way(&store);
    // `index` with nothing changed, then `dupes`' fallback.
    saved::refresh(&store, ANN_FP, ann_params(), &[]).unwrap();
    drop(saved::open(&store, ANN_FP, ann_params()).unwrap());
    assert!(read_all(&g1) == before, "rewritten");
    assert_eq!(saved::saved_generation(&store).unwrap(), Some(1));
    assert!(saved::rejected(&store).unwrap().is_empty());
}

/// v1 files (each with its own magic) are rejected as an older format,
/// reported, and written again: byte for byte the v2 fixtures.
#[test]
fn frozen_v1_files_are_rejected_reported_and_written_as_v2() {
    let sb = Sandbox::new();
    let store = frozen_graph_store(&sb, GRAPH_FILES_V1);
    let g1 = sb.db().join("ann/g1");
    let magics: Vec<Vec<u8>> = read_all(&g1).iter().map(|b| b[..8].to_vec()).collect();
    assert_eq!(
        magics,
        [b"IMGDXGF1", b"IMGDXGE1", b"IMGDXRV1"].map(|m| m.to_vec())
    );
    drop(saved::open_resident(&store, ANN_FP, ann_params()).unwrap());
    let v2 = read_all(&fixture_dir().join(GRAPH_FILES_V2));
    assert!(read_all(&g1) == v2, "written again as the v2 fixtures");
    let mut rejected = saved::rejected(&store).unwrap();
    rejected.sort_by(|a, b| a.file.cmp(&b.file));
    let want = |file: &str| RejectedFile {
        generation: 1,
        file: file.into(),
        reason: "format version 1, this imgdex reads 2".into(),
    };
    let want = vec![want("graph.edges"), want("graph.flat"), want("vectors.f16")];
    assert_eq!(rejected, want);
    search_every_way(&store);
    assert_eq!(saved::rejected(&store).unwrap().len(), 3, "reported once");
    assert_eq!(
        saved::saved_generation(&store).unwrap(),
        Some(1),
        "not rebuilt"
    );
}

/// The default graph (as the CLI builds it) from 100 vectors up.
fn params() -> HnswParams {
    HnswParams {
        exact_below: 100,
        ..HnswParams::default()
    }
}

/// A store with a saved graph of 1,200 vectors, released.
fn seeded(sb: &Sandbox) -> PathBuf {
    let store = store_with(sb, &clustered(1200, 31), ANN_FP);
    saved::refresh(&store, ANN_FP, params(), &[]).unwrap();
    drop(saved::open_resident(&store, ANN_FP, params()).unwrap());
    saved::saved_dir(&store).unwrap().unwrap()
}

/// Each way a file can fail the header's checks, on each file: rejected
/// with that reason, reported, written again to the same bytes.
#[test]
fn each_rejection_is_reported_and_repaired() {
    type Damage = fn(&mut Vec<u8>, &[u8]);
    let cases: [(&str, Damage, &str); 6] = [
        (
            "payload",
            |b, _| *b.last_mut().unwrap() ^= 1,
            "contents do not match their checksum",
        ),
        (
            "version",
            |b, _| b[8] = 3,
            "format version 3, this imgdex reads 2",
        ),
        (
            "binding",
            |b, _| b[50] ^= 1,
            "written for another graph generation",
        ),
        (
            "foreign",
            |b, _| *b = b"hello".to_vec(),
            "not an imgdex graph file",
        ),
        ("truncated", |b, _| b.truncate(b.len() - 4), ""),
        ("kind", |b, other| *b = other.to_vec(), "holds "),
    ];
    let sb = Sandbox::new();
    let dir = seeded(&sb);
    let good = read_all(&dir);
    let mut reported = 0;
    for (what, damage, reason) in cases {
        for (i, f) in FILES.iter().enumerate() {
            let mut bad = good[i].clone();
            damage(&mut bad, &good[(i + 1) % 3]);
            std::fs::write(dir.join(f), &bad).unwrap();
            let store = Store::open(&sb.db(), &Default::default()).unwrap();
            let p = params();
            let (edges, _) = match saved::open_for_dupes(&store, ANN_FP, &p).unwrap() {
                Some(found) => found,
                None => {
                    drop(saved::open(&store, ANN_FP, p).unwrap());
                    saved::open_for_dupes(&store, ANN_FP, &p).unwrap().unwrap()
                }
            };
            drop(edges);
            drop(saved::open_resident(&store, ANN_FP, p).unwrap());
            assert!(read_all(&dir) == good, "{what} {f}: written again");
            let log = saved::rejected(&store).unwrap();
            reported += 1;
            let last = log.last().expect("reported");
            assert_eq!(last.file, *f, "{what}: {log:?}");
            assert!(last.reason.contains(reason), "{what} {f}: {last:?}");
            assert!(log.len() == reported.min(10), "{what} {f}: reported once");
        }
    }
}

/// The CLI's view: a warning on stderr naming the file and the reason, and
/// `info` listing the repair.
#[test]
fn the_cli_warns_and_info_lists_the_rejected_file() {
    let sb = Sandbox::new();
    let dir = seeded(&sb);
    let edges = dir.join("graph.edges");
    let mut bad = std::fs::read(&edges).unwrap();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    std::fs::write(&edges, &bad).unwrap();
    let out = imgdex(&sb.db(), ["dupes", "--ann", "graph", "--json"]);
    out.assert_code(0);
    let warning = format!(
        "imgdex: warning: {}: contents do not match their checksum; writing it again",
        edges.display()
    );
    assert!(out.stderr.contains(&warning), "{}", out.stderr);
    let out = imgdex(&sb.db(), ["info"]);
    out.assert_code(0);
    let line = "graph file:     g1/graph.edges was rejected (contents do not match their checksum) and written again";
    assert!(out.stdout.contains(line), "{}", out.stdout);
    let out = imgdex(&sb.db(), ["info", "--json"]);
    let info: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        info["rejected_graph_files"][0]["file"], "graph.edges",
        "{}",
        out.stdout
    );
}

/// A flat graph whose header says it has no layers, with a matching
/// checksum (as a hostile or buggy writer could make it): rejected, not
/// searched (a search starts on layer 0), and written again.
#[test]
fn a_flat_graph_without_layers_is_rejected() {
    let sb = Sandbox::new();
    let dir = seeded(&sb);
    let good = std::fs::read(dir.join("graph.flat")).unwrap();
    let u64_at = |o: usize| u64::from_le_bytes(good[o..o + 8].try_into().unwrap()) as usize;
    let (n, pdim) = (u64_at(16), u64_at(24));
    let mut bad = good[..112].to_vec();
    bad[32..40].copy_from_slice(&0u64.to_le_bytes());
    let mut payload = good[112..112 + n.next_multiple_of(4)].to_vec();
    payload.resize((112 + payload.len()).next_multiple_of(64) - 112, 0);
    payload.extend_from_slice(&good[good.len() - 4 * pdim * n..]);
    bad[80..112].copy_from_slice(blake3::hash(&payload).as_bytes());
    bad.extend_from_slice(&payload);
    std::fs::write(dir.join("graph.flat"), &bad).unwrap();
    let store = Store::open(&sb.db(), &Default::default()).unwrap();
    let q = saved::open_for_query(&store, ANN_FP, params()).unwrap();
    assert_eq!(q.kind(), "flat");
    assert_eq!(q.len(), 1200);
    assert!(
        std::fs::read(dir.join("graph.flat")).unwrap() == good,
        "written again"
    );
    let log = saved::rejected(&store).unwrap();
    assert_eq!(log.len(), 1, "{log:?}");
    assert!(log[0].reason.contains("layer"), "{log:?}");
}
