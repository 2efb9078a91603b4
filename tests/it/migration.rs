//! Stores written by older schema versions open with the current code.
//! Each older version's store is written here byte for byte as that version
//! wrote it (v1: `meta` + `images` with `StoredImage::V1` records, no
//! `embeddings` tree), then opened through the current library and binary.

use imgdex::config::FeatureConfig;
use imgdex::migrations::{CURRENT_VERSION, STEPS};
use imgdex::paths;
use imgdex::store::record::{encode, fingerprint_code};
use imgdex::store::{write_schema_version, ImageRecord, Store, StoreOptions, StoredImage, Tagged};

use crate::util::{self, Sandbox};

#[test]
fn migration_steps_are_named_and_consecutive() {
    for (i, step) in STEPS.iter().enumerate() {
        assert_eq!(
            step.version as usize,
            i + 1,
            "step {} is out of order",
            step.name
        );
        assert!(
            step.name.starts_with(&format!("{:03}_", step.version)),
            "{}",
            step.name
        );
        assert!(!step.description.is_empty());
    }
    assert_eq!(CURRENT_VERSION as usize, STEPS.len());
}

/// Write a schema-1 store holding one record for `file`, as imgdex v1 did.
fn write_v1_store(db: &std::path::Path, file: &std::path::Path) {
    let sled_db = sled::open(db.join("sled")).expect("open raw sled");
    write_schema_version(&sled_db, 1).unwrap();
    let meta = sled_db.open_tree("meta").unwrap();
    let features = FeatureConfig::default();
    meta.insert("fingerprint/hash", features.hash_fingerprint().as_bytes())
        .unwrap();
    meta.insert(
        "fingerprint/histogram",
        features.histogram_fingerprint().as_bytes(),
    )
    .unwrap();
    let stat = std::fs::metadata(file).unwrap();
    let rec = ImageRecord {
        taken: None,
        path: paths::to_bytes(file),
        size: stat.len(),
        mtime_ns: imgdex::walk::mtime_ns(&stat),
        digest: blake3::hash(&std::fs::read(file).unwrap()).into(),
        width: 320,
        height: 240,
        format: "png".into(),
        hashes: Some(Tagged {
            fingerprint: fingerprint_code(&features.hash_fingerprint()),
            value: imgdex::features::Hashes {
                phash: 1,
                dhash: 2,
                ahash: 3,
            },
        }),
        histogram: None,
    };
    let images = sled_db.open_tree("images").unwrap();
    images
        .insert(
            7u64.to_be_bytes(),
            encode(&StoredImage::V1(crate::formats::v1(rec))),
        )
        .unwrap();
    sled_db.flush().unwrap();
}

/// sled releases its file lock from a background thread shortly after the
/// last handle is dropped; wait for that instead of racing it.
fn open_when_released(db: &std::path::Path) -> Store {
    let mut last = None;
    for _ in 0..50 {
        match Store::open(db, &StoreOptions::default()) {
            Ok(s) => return s,
            Err(e) => last = Some(e),
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("v1 store does not open: {:?}", last);
}

#[test]
fn a_v1_store_is_upgraded_and_reindexed() {
    let sb = Sandbox::new();
    let dir = sb.dir("images");
    let file = dir.join("a.png");
    util::write_png(&file, &util::scene(3, 320, 240));
    write_v1_store(&sb.db(), &file);

    {
        let store = open_when_released(&sb.db());
        assert_eq!(store.schema_version().unwrap(), CURRENT_VERSION);
        let scan = store.scan_images().unwrap();
        assert_eq!(scan.records.len(), 1, "v1 record readable after migration");
        assert!(scan.corrupt.is_empty());
        assert_eq!(scan.records[0].0, 7);
        assert!(store.scan_embeddings().unwrap().0.is_empty());
    }

    // The v1 record lacks a histogram (and an embedding): the next index
    // recomputes it under the same id instead of adding a second record.
    let (out, summary) = sb.index([dir.as_os_str(), "--no-embed".as_ref()]);
    out.assert_code(0);
    assert_eq!((summary.indexed, summary.unchanged), (1, 0));
    let info = sb.info();
    assert_eq!(info.images, 1);
    assert_eq!(info.features.histogram, 1);
    assert_eq!(info.schema_version, CURRENT_VERSION);
}

/// Step 7 rewrites a schema-6 store's version-1 decisions as version 2
/// (the same decisions), and a second run changes nothing.
#[test]
fn step_7_rewrites_version_1_decisions_as_version_2() {
    use imgdex::migrations::m007_keep_decisions::DecisionV1;
    use imgdex::store::record::decode;
    use imgdex::store::{Decision, StoredDecision};
    let sb = Sandbox::new();
    let db = sled::open(sb.root.join("v6")).unwrap();
    for step in &STEPS[..6] {
        (step.run)(&db).unwrap();
    }
    write_schema_version(&db, 6).unwrap();
    let tree = db.open_tree("decisions").unwrap();
    let v1 = StoredDecision::V1(DecisionV1::NotDuplicate { ids: vec![3, 9] });
    tree.insert(5u64.to_be_bytes(), encode(&v1)).unwrap();
    tree.insert(6u64.to_be_bytes(), b"not a record".to_vec())
        .unwrap();
    for _ in 0..2 {
        (STEPS[6].run)(&db).unwrap();
        let v = tree.get(5u64.to_be_bytes()).unwrap().unwrap();
        let want = Decision::NotDuplicate { ids: vec![3, 9] };
        assert_eq!(
            decode::<StoredDecision>(&v).unwrap(),
            StoredDecision::V2(want)
        );
        // A value it cannot read is left for the store to report.
        assert_eq!(
            &tree.get(6u64.to_be_bytes()).unwrap().unwrap()[..],
            b"not a record"
        );
    }
}
