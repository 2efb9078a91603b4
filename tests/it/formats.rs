//! Pinned on-disk formats. `tests/fixtures/formats/` holds bytes written
//! once by [`write_format_fixtures`] (an ignored test, see the README there):
//! one value of every stored envelope version, the raw records of a schema-1
//! store as the schema-1 code path wrote them, and a current store with a
//! saved HNSW graph. The tests decode those bytes with today's code, so a
//! layout drift (a field added to a `V1` record, a reordered enum, another
//! `hnsw_rs` dump format) fails here instead of in a user's store. A new
//! layout is a new variant and new fixtures; existing fixtures never change.

use std::path::{Path, PathBuf};

use imgdex::features::palette::{Palette, Swatch};
use imgdex::features::signature::Edits;
use imgdex::features::{Hashes, Histogram};
use imgdex::learn::classifier::{KnnModel, LogisticModel, Model, Standardizer};
use imgdex::learn::results::{
    ClassifierResult, ClusterParams, ClusterResult, StoredClassifier, StoredClustering,
};
use imgdex::migrations::m007_keep_decisions::DecisionV1;
use imgdex::migrations::{CURRENT_VERSION, STEPS};
use imgdex::search::ann::HnswParams;
use imgdex::search::saved::{self, AnnMeta, StoredAnnMeta};
use imgdex::search::whiten::{StoredWhitening, Whitening};
use imgdex::store::record::{decode, encode, EmbeddingRecordV1, ImageRecordV1};
use imgdex::store::signatures::{SignatureRecord, SignatureRecordV1, SignatureV1, StoredSignature};
use imgdex::store::{
    write_schema_version, Decision, EmbeddingRecord, ImageRecord, StaleMark, Store, StoreOptions,
    StoredDecision, StoredEmbedding, StoredImage, Tagged,
};

use crate::util::Sandbox;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/formats")
}

fn fixture(name: &str) -> Vec<u8> {
    let p = dir().join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

// ---------------------------------------------------------------------------
// The values the fixtures hold (written once, then only read)
// ---------------------------------------------------------------------------

fn signature() -> SignatureRecordV1 {
    SignatureRecordV1 {
        fingerprint: 0x5151_0004,
        signature: SignatureV1 {
            luma: (0..4096u32).map(|i| (i * 7 % 251) as u8).collect(),
            width: 640,
            height: 480,
            chroma: (0..128u32).map(|i| (100 + i % 56) as u8).collect(),
            edits: Edits {
                framed: true,
                grey: false,
                wedges: true,
                jpeg_quant: 592,
            },
        },
    }
}

/// Version 2: a graphic's signature, with its palette.
fn signature_v2() -> SignatureRecord {
    let mut r = SignatureRecord::from(signature());
    r.fingerprint = 0x5151_0005;
    r.signature.palette = Some(Palette {
        total: 3_072,
        swatches: vec![
            Swatch {
                rgb: [255, 255, 255],
                count: 2_000,
            },
            Swatch {
                rgb: [41, 106, 189],
                count: 1_000,
            },
            Swatch {
                rgb: [16, 16, 16],
                count: 72,
            },
        ],
    });
    r
}

/// `r` in the frozen version-1 layout (which has no capture date).
pub(crate) fn v1(r: ImageRecord) -> ImageRecordV1 {
    ImageRecordV1 {
        path: r.path,
        size: r.size,
        mtime_ns: r.mtime_ns,
        digest: r.digest,
        width: r.width,
        height: r.height,
        format: r.format,
        hashes: r.hashes,
        histogram: r.histogram,
    }
}

/// The image record of `image_v2.bin`: [`image`] with a capture date.
fn image_v2() -> ImageRecord {
    ImageRecord {
        taken: Some("2019-05-01T12:34:56".into()),
        ..image()
    }
}

fn image() -> ImageRecord {
    ImageRecord {
        taken: None,
        path: b"/fixture/caf\xe9/a.png".to_vec(),
        size: 123_456,
        mtime_ns: 1_700_000_000_123_456_789,
        digest: std::array::from_fn(|i| i as u8 * 7),
        width: 640,
        height: 480,
        format: "png".into(),
        hashes: Some(Tagged {
            fingerprint: 0x0102_0304,
            value: Hashes {
                phash: 0x8000_0000_0000_0001,
                dhash: 0x0123_4567_89ab_cdef,
                ahash: u64::MAX,
            },
        }),
        histogram: Some(Tagged {
            fingerprint: 0xdead_beef,
            value: Histogram {
                bins: 2,
                values: vec![0.25, 0.75, 1.0, 0.0, 0.5, 0.5],
            },
        }),
    }
}

fn embedding() -> EmbeddingRecordV1 {
    let r = EmbeddingRecord::from_f32(0x0a0b_0c0d, &[0.5, -0.5, 0.5, -0.5, 0.0, 1.0]);
    EmbeddingRecordV1 {
        fingerprint: r.fingerprint,
        data: r.data,
    }
}

fn embedding_v2() -> EmbeddingRecord {
    EmbeddingRecord::with_dupe(
        0x0a0b_0c0d,
        &[0.5, -0.5, 0.5, -0.5, 0.0, 1.0],
        Some(&[0.25, 1.0, -1.0]),
    )
}

fn clustering() -> ClusterResult {
    ClusterResult {
        feature: "embedding".into(),
        feature_fingerprint: "model/blake3:0123/v1".into(),
        k: 2,
        ids: vec![1, 2, 5],
        labels: vec![0, 1, 1],
        dim: 2,
        centroids: vec![1.0, 0.0, 0.0, 1.0],
        inertia: 0.125,
        silhouette: Some(0.5),
        params: ClusterParams {
            k_range: Some((2, 20)),
            chosen_by: "elbow".into(),
            mini_batch: false,
            n_init: 3,
            seed: 7,
        },
        created_unix: 1_700_000_000,
    }
}

fn classifier(model: Model) -> ClassifierResult {
    ClassifierResult {
        classes: vec!["cat".into(), "dog".into()],
        embedding_fingerprint: "model/blake3:0123/v1".into(),
        model,
        val_accuracy: 0.9,
        val_macro_f1: 0.875,
        trained_on: 4,
        created_unix: 1_700_000_001,
    }
}

fn logistic() -> Model {
    Model::Logistic(LogisticModel {
        dim: 2,
        classes: 2,
        weights: vec![1.0, -1.0, 0.5, 0.25],
        intercept: vec![0.0, -0.5],
        standardizer: Some(Standardizer {
            mean: vec![0.1, 0.2],
            scale: vec![2.0, 4.0],
        }),
    })
}

fn knn() -> Model {
    Model::Knn(KnnModel {
        k: 3,
        dim: 2,
        classes: 2,
        vectors: vec![1.0, 0.0, 0.0, 1.0, 0.6, 0.8],
        labels: vec![0, 1, 1],
    })
}

fn ann_meta() -> AnnMeta {
    AnnMeta {
        generation: 4,
        basename: "imgdex".into(),
        fingerprint: "model|hnsw_rs-0.3.5/l2/m16-efc100/proj8x8-seed1".into(),
        checksum: std::array::from_fn(|i| 255 - i as u8),
        ids: vec![3, 1, 2],
        removed: vec![1],
    }
}

fn whitening() -> Whitening {
    Whitening {
        embedding_fingerprint: "model/v1".into(),
        dim: 3,
        out_dim: 2,
        shrinkage: 0.25,
        mean: vec![0.5, -0.25, 0.125],
        projection: vec![1.0, 0.0, -1.5, 0.0, 2.0, 0.75],
        fitted_on: 300,
        sampled: 256,
    }
}

/// The model fingerprint and graph settings of the ANN store fixture.
pub(crate) const ANN_FP: &str = "fixture-model/v1";
fn stale() -> StaleMark {
    StaleMark::V1 {
        reason: "decoder panicked on this file".into(),
    }
}

/// One decision of each kind and version, with the name of its fixture.
fn decisions() -> [(&'static str, StoredDecision); 5] {
    [
        (
            "decision_v1_not_duplicate.bin",
            StoredDecision::V1(DecisionV1::NotDuplicate {
                ids: vec![3, 7, 300],
            }),
        ),
        (
            "decision_v1_keeper.bin",
            StoredDecision::V1(DecisionV1::Keeper { id: 7 }),
        ),
        (
            "decision_v1_reviewed.bin",
            StoredDecision::V1(DecisionV1::Reviewed {
                ids: vec![7, 70_000],
            }),
        ),
        (
            "decision_v2_keep.bin",
            StoredDecision::V2(Decision::Keep { id: 70_000 }),
        ),
        (
            "decision_v2_not_duplicate.bin",
            StoredDecision::V2(Decision::NotDuplicate {
                ids: vec![3, 7, 300],
            }),
        ),
    ]
}

pub(crate) fn ann_params() -> HnswParams {
    HnswParams {
        exact_below: 10,
        projected_dim: 8,
        ..HnswParams::default()
    }
}

pub(crate) fn ann_vector(id: u64) -> Vec<f32> {
    let v: Vec<f32> = (0..8)
        .map(|d| ((id * 31 + d * 7) % 13) as f32 + 0.5)
        .collect();
    imgdex::features::embedding::l2_normalised(&v)
}

// ---------------------------------------------------------------------------
// Raw sled records: `tree key value` per line, each hex-encoded
// ---------------------------------------------------------------------------

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn dump(db: &sled::Db) -> String {
    let mut out = String::new();
    for name in db.tree_names() {
        let tree = db.open_tree(&name).unwrap();
        for kv in tree.iter() {
            let (k, v) = kv.unwrap();
            out.push_str(&format!("{} {} {}\n", hex(&name), hex(&k), hex(&v)));
        }
    }
    out
}

/// A sled database at `<db>/sled` holding exactly the records of `file`.
fn restore(db: &Path, file: &str) {
    let text = String::from_utf8(fixture(file)).unwrap();
    let sled_db = sled::open(db.join("sled")).unwrap();
    for line in text.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        assert_eq!(f.len(), 3, "bad fixture line {line}");
        let tree = sled_db.open_tree(unhex(f[0])).unwrap();
        tree.insert(unhex(f[1]), unhex(f[2])).unwrap();
    }
    sled_db.flush().unwrap();
}

/// sled releases its file lock from a background thread shortly after the
/// last handle is dropped; wait for that instead of racing it.
fn open_when_released(db: &Path) -> Store {
    let mut last = None;
    for _ in 0..50 {
        match Store::open(db, &StoreOptions::default()) {
            Ok(s) => return s,
            Err(e) => last = Some(e),
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("fixture store does not open: {last:?}");
}

// ---------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------

/// `bytes` decode to `want`, and `want` still encodes to exactly `bytes`.
fn pinned<T, E>(name: &str, want: E, unwrap: impl Fn(T) -> E)
where
    T: serde::de::DeserializeOwned,
    E: PartialEq + std::fmt::Debug,
{
    let bytes = fixture(name);
    let got: T = decode(&bytes).unwrap_or_else(|e| panic!("{name} no longer decodes: {e}"));
    assert_eq!(unwrap(got), want, "{name} decodes to other values");
}

#[test]
fn every_stored_envelope_version_decodes_from_its_frozen_bytes() {
    pinned::<StoredImage, _>("image_v1.bin", Some(image()), |s| match s {
        StoredImage::V1(r) => Some(r.into()),
        _ => None,
    });
    pinned::<StoredImage, _>("image_v2.bin", Some(image_v2()), |s| match s {
        StoredImage::V2(r) => Some(r),
        _ => None,
    });
    pinned::<StoredEmbedding, _>("embedding_v1.bin", Some(embedding()), |s| match s {
        StoredEmbedding::V1(r) => Some(r),
        _ => None,
    });
    pinned::<StoredEmbedding, _>("embedding_v2.bin", Some(embedding_v2()), |s| match s {
        StoredEmbedding::V2(r) => Some(r),
        _ => None,
    });
    pinned::<StoredClustering, _>(
        "clustering_v1.bin",
        clustering(),
        |StoredClustering::V1(r)| r,
    );
    pinned::<StoredClassifier, _>(
        "classifier_logistic_v1.bin",
        classifier(logistic()),
        |StoredClassifier::V1(r)| r,
    );
    pinned::<StoredClassifier, _>(
        "classifier_knn_v1.bin",
        classifier(knn()),
        |StoredClassifier::V1(r)| r,
    );
    pinned::<StoredAnnMeta, _>("ann_meta_v1.bin", StoredAnnMeta::V1(ann_meta()), |m| m);
    pinned::<StoredWhitening, _>("whitening_v1.bin", StoredWhitening::V1(whitening()), |m| m);
    pinned::<StaleMark, _>("stale_v1.bin", stale(), |m| m);
    pinned::<StoredSignature, _>("signature_v1.bin", Some(signature()), |s| match s {
        StoredSignature::V1(r) => Some(r),
        _ => None,
    });
    pinned::<StoredSignature, _>("signature_v2.bin", Some(signature_v2()), |s| match s {
        StoredSignature::V2(r) => Some(r),
        _ => None,
    });
    // A version-1 signature reads as today's, without a palette.
    let old = decode::<StoredSignature>(&fixture("signature_v1.bin")).unwrap();
    assert_eq!(old.into_record().signature.palette, None);
    for (name, d) in decisions() {
        pinned::<StoredDecision, _>(name, d.clone(), |m| m);
        assert_eq!(encode(&d), fixture(name), "{name}: the encoding changed");
    }
    // A version-1 decision reads as today's decision of the same kind.
    let old = decode::<StoredDecision>(&fixture("decision_v1_keeper.bin")).unwrap();
    assert_eq!(Decision::from(old), Decision::Keeper { id: 7 });
    let old = decode::<StoredDecision>(&fixture("decision_v1_not_duplicate.bin")).unwrap();
    let new = decode::<StoredDecision>(&fixture("decision_v2_not_duplicate.bin")).unwrap();
    assert_eq!(Decision::from(old), Decision::from(new));
    // Today's code writes the same bytes for the same values.
    let same = [
        ("image_v1.bin", encode(&StoredImage::V1(v1(image())))),
        ("image_v2.bin", encode(&StoredImage::V2(image_v2()))),
        (
            "signature_v1.bin",
            encode(&StoredSignature::V1(signature())),
        ),
        (
            "signature_v2.bin",
            encode(&StoredSignature::V2(signature_v2())),
        ),
        (
            "embedding_v1.bin",
            encode(&StoredEmbedding::V1(embedding())),
        ),
        (
            "embedding_v2.bin",
            encode(&StoredEmbedding::V2(embedding_v2())),
        ),
        (
            "clustering_v1.bin",
            encode(&StoredClustering::V1(clustering())),
        ),
        (
            "classifier_logistic_v1.bin",
            encode(&StoredClassifier::V1(classifier(logistic()))),
        ),
        (
            "classifier_knn_v1.bin",
            encode(&StoredClassifier::V1(classifier(knn()))),
        ),
        ("ann_meta_v1.bin", encode(&StoredAnnMeta::V1(ann_meta()))),
        (
            "whitening_v1.bin",
            encode(&StoredWhitening::V1(whitening())),
        ),
        ("stale_v1.bin", encode(&stale())),
    ];
    for (name, bytes) in same {
        assert_eq!(bytes, fixture(name), "{name}: the encoding changed");
    }
}

#[test]
fn the_frozen_schema_1_store_opens_and_upgrades() {
    let sb = Sandbox::new();
    restore(&sb.db(), "store_v1.records");
    let store = open_when_released(&sb.db());
    assert_eq!(store.schema_version().unwrap(), CURRENT_VERSION);
    let scan = store.scan_images().unwrap();
    assert!(scan.corrupt.is_empty(), "{:?}", scan.corrupt);
    assert_eq!(scan.records, vec![(7, image())]);
    assert!(store.scan_embeddings().unwrap().0.is_empty());
    assert_eq!(
        store.fingerprint("hash").unwrap().as_deref(),
        Some("fixture-hash-v1")
    );
}

#[test]
fn the_frozen_graph_is_loaded_not_rebuilt() {
    let sb = Sandbox::new();
    restore(&sb.db(), GRAPH_RECORDS);
    let graph = sb.db().join("ann/g1");
    std::fs::create_dir_all(&graph).unwrap();
    for f in ["imgdex.hnsw.graph", "imgdex.hnsw.data"] {
        std::fs::copy(dir().join(GRAPH_DIR).join(f), graph.join(f)).unwrap();
    }
    let store = open_when_released(&sb.db());
    let ann = saved::open(&store, ANN_FP, ann_params()).unwrap();
    // Its flat file is written from the dump (the fixture has none).
    assert_eq!(ann.kind(), "flat");
    assert_eq!(
        saved::saved_generation(&store).unwrap(),
        Some(1),
        "the saved graph was rebuilt: its files or meta record no longer load"
    );
    assert_eq!(ann.len(), 40);
    let hits = ann.search(&store, &ann_vector(5), 3);
    assert_eq!(hits[0].0, 5, "{hits:?}");
}

/// A graph saved before the projection became orthonormal (fingerprint
/// `proj…`, today `orthproj…`) was built on other coordinates: searching
/// it with today's projection would miss neighbours, so opening it must
/// rebuild it (generation 2), and the rebuilt one answers.
#[test]
fn a_graph_from_before_the_orthonormal_projection_is_rebuilt() {
    let sb = Sandbox::new();
    restore(&sb.db(), "store_v3_ann.records");
    let graph = sb.db().join("ann/g1");
    std::fs::create_dir_all(&graph).unwrap();
    for f in ["imgdex.hnsw.graph", "imgdex.hnsw.data"] {
        std::fs::copy(dir().join("ann_g1").join(f), graph.join(f)).unwrap();
    }
    let store = open_when_released(&sb.db());
    let ann = saved::open(&store, ANN_FP, ann_params()).unwrap();
    assert_eq!(ann.kind(), "flat");
    assert_eq!(saved::saved_generation(&store).unwrap(), Some(2));
    assert_eq!(ann.len(), 40);
    let hits = ann.search(&store, &ann_vector(5), 3);
    assert_eq!(hits[0].0, 5, "{hits:?}");
}

/// The frozen store with a saved graph of today's fingerprint, and its
/// graph files (the first ones, `store_v3_ann.records` and `ann_g1/`, have
/// the fingerprint of the Gaussian projection).
const GRAPH_RECORDS: &str = "store_v3_orthproj_ann.records";
const GRAPH_DIR: &str = "ann_g1_orthproj";
/// The derived files of that graph (flat graph, edges, re-rank vectors)
/// in format version 1 (their own headers) and 2 (the generation header).
pub(crate) const GRAPH_FILES_V1: &str = GRAPH_DIR;
pub(crate) const GRAPH_FILES_V2: &str = "ann_g1_orthproj_files_v2";

/// Writes every fixture. Run once per new format version:
/// `cargo test --release --test it formats::write_format_fixtures -- --ignored`
#[test]
#[ignore = "writes tests/fixtures/formats; run by hand for a new format version"]
fn write_format_fixtures() {
    let out = dir();
    std::fs::create_dir_all(out.join(GRAPH_DIR)).unwrap();
    // A fixture that exists is never rewritten: only new versions are added.
    let w = |name: &str, bytes: &[u8]| {
        let p = out.join(name);
        if !p.exists() {
            std::fs::write(p, bytes).unwrap();
        }
    };
    w("image_v1.bin", &encode(&StoredImage::V1(v1(image()))));
    w("image_v2.bin", &encode(&StoredImage::V2(image_v2())));
    w(
        "signature_v1.bin",
        &encode(&StoredSignature::V1(signature())),
    );
    w(
        "signature_v2.bin",
        &encode(&StoredSignature::V2(signature_v2())),
    );
    w(
        "embedding_v1.bin",
        &encode(&StoredEmbedding::V1(embedding())),
    );
    w(
        "embedding_v2.bin",
        &encode(&StoredEmbedding::V2(embedding_v2())),
    );
    w(
        "clustering_v1.bin",
        &encode(&StoredClustering::V1(clustering())),
    );
    w(
        "classifier_logistic_v1.bin",
        &encode(&StoredClassifier::V1(classifier(logistic()))),
    );
    w(
        "classifier_knn_v1.bin",
        &encode(&StoredClassifier::V1(classifier(knn()))),
    );
    w("ann_meta_v1.bin", &encode(&StoredAnnMeta::V1(ann_meta())));
    w(
        "whitening_v1.bin",
        &encode(&StoredWhitening::V1(whitening())),
    );
    w("stale_v1.bin", &encode(&stale()));
    for (name, d) in decisions() {
        w(name, &encode(&d));
    }

    // Schema 1, as its code path wrote it: step 001, version 1, records.
    let sb = Sandbox::new();
    let db = sled::open(sb.root.join("v1")).unwrap();
    (STEPS[0].run)(&db).unwrap();
    write_schema_version(&db, 1).unwrap();
    let meta = db.open_tree("meta").unwrap();
    meta.insert("fingerprint/hash", &b"fixture-hash-v1"[..])
        .unwrap();
    let images = db.open_tree("images").unwrap();
    images
        .insert(7u64.to_be_bytes(), encode(&StoredImage::V1(v1(image()))))
        .unwrap();
    w("store_v1.records", dump(&db).as_bytes());

    // A current store with 40 embeddings and its saved graph.
    let store = Store::open(&sb.db(), &StoreOptions::default()).unwrap();
    store.set_fingerprint("embedding", ANN_FP).unwrap();
    let code = imgdex::store::record::fingerprint_code(ANN_FP);
    for id in 1..=40u64 {
        let mut rec = image();
        rec.path = format!("/fixture/{id}.png").into_bytes();
        let emb = EmbeddingRecord::from_f32(code, &ann_vector(id));
        store.put_image(id, &rec, Some(&emb)).unwrap();
    }
    // No saved graph yet: `refresh` builds and saves one.
    saved::refresh(&store, ANN_FP, ann_params(), &[]).unwrap();
    assert_eq!(saved::saved_generation(&store).unwrap(), Some(1));
    w(GRAPH_RECORDS, dump(store.db()).as_bytes());
    for f in ["imgdex.hnsw.graph", "imgdex.hnsw.data"] {
        w(
            &format!("{GRAPH_DIR}/{f}"),
            &std::fs::read(sb.db().join("ann/g1").join(f)).unwrap(),
        );
    }
    let sled_bytes: u64 = walk_size(&sb.db().join("sled"));
    eprintln!("a sled directory for these records: {sled_bytes} bytes");
    drop(store);

    // The derived files of the frozen graph, as `index` and `serve` write
    // them beside it: v1 until 2026-12-07, then v2 (the v1 fixtures are
    // rejected and written again in v2).
    std::fs::create_dir_all(out.join(GRAPH_FILES_V2)).unwrap();
    for files in [GRAPH_FILES_V1, GRAPH_FILES_V2] {
        let sb = Sandbox::new();
        let store = frozen_graph_store(&sb, GRAPH_FILES_V1);
        saved::refresh(&store, ANN_FP, ann_params(), &[]).unwrap();
        drop(saved::open_resident(&store, ANN_FP, ann_params()).unwrap());
        for f in ["graph.flat", "vectors.f16", "graph.edges"] {
            let bytes = std::fs::read(sb.db().join("ann/g1").join(f)).unwrap();
            w(&format!("{files}/{f}"), &bytes);
        }
    }
}

/// The frozen current-format store with its saved graph (generation 1),
/// plus the derived files that the fixture directory `files` holds.
pub(crate) fn frozen_graph_store(sb: &Sandbox, files: &str) -> Store {
    restore(&sb.db(), GRAPH_RECORDS);
    let graph = sb.db().join("ann/g1");
    std::fs::create_dir_all(&graph).unwrap();
    for f in ["imgdex.hnsw.graph", "imgdex.hnsw.data"] {
        std::fs::copy(dir().join(GRAPH_DIR).join(f), graph.join(f)).unwrap();
    }
    for f in ["graph.flat", "vectors.f16", "graph.edges"] {
        let from = dir().join(files).join(f);
        if from.exists() {
            std::fs::copy(from, graph.join(f)).unwrap();
        }
    }
    open_when_released(&sb.db())
}

/// The fixture directory (tests/fixtures/formats).
pub(crate) fn fixture_dir() -> PathBuf {
    dir()
}

fn walk_size(p: &Path) -> u64 {
    let m = std::fs::metadata(p).unwrap();
    if m.is_dir() {
        std::fs::read_dir(p)
            .unwrap()
            .map(|e| walk_size(&e.unwrap().path()))
            .sum()
    } else {
        m.len()
    }
}
