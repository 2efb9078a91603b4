//! Library-level store tests: the record envelope, schema versions and
//! migrations, corruption detection and repair, and the single-writer lock.

use std::path::Path;

use imgdex::features::{Hashes, Histogram};
use imgdex::migrations::CURRENT_VERSION;
use imgdex::store::record::{self, fingerprint_code};
use imgdex::store::{
    read_schema_version, write_schema_version, EmbeddingRecord, ImageRecord, Store, StoreOptions,
    StoredEmbedding, StoredImage, Tagged,
};
use imgdex::Error;

use crate::util::*;

fn sample_record() -> ImageRecord {
    ImageRecord {
        taken: None,
        path: b"/photos/caf\xe9/IMG_0001.JPG".to_vec(),
        size: 3_141_592,
        mtime_ns: 1_700_000_000_123_456_789,
        digest: std::array::from_fn(|i| (i * 7) as u8),
        width: 4032,
        height: 3024,
        format: "jpeg".into(),
        hashes: Some(Tagged {
            fingerprint: fingerprint_code("hash-fp"),
            value: Hashes {
                phash: 0x0123_4567_89ab_cdef,
                dhash: u64::MAX,
                ahash: 0,
            },
        }),
        histogram: Some(Tagged {
            fingerprint: fingerprint_code("rgb-4-l1norm-v1"),
            value: Histogram {
                bins: 4,
                values: vec![
                    0.5, 0.25, 0.125, 0.125, 1.0, 0.0, 0.0, 0.0, 0.1, 0.2, 0.3, 0.4,
                ],
            },
        }),
    }
}

#[test]
fn record_encode_decode_round_trip() {
    let rec = sample_record();
    let bytes = record::encode(&StoredImage::V2(rec.clone()));
    assert_eq!(
        bytes[0], 1,
        "the first byte is the variant index (format version) of V2"
    );
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    assert_eq!(
        crc,
        crc32fast::hash(body).to_le_bytes(),
        "trailer is the little-endian CRC32 of the body"
    );

    let back: ImageRecord = record::decode::<StoredImage>(&bytes)
        .expect("decode")
        .into();
    assert_eq!(back, rec);

    // Optional features may be absent.
    let bare = ImageRecord {
        taken: None,
        hashes: None,
        histogram: None,
        ..rec
    };
    let back: ImageRecord =
        record::decode::<StoredImage>(&record::encode(&StoredImage::V2(bare.clone())))
            .unwrap()
            .into();
    assert_eq!(back, bare);

    // Embeddings: half-float storage, same envelope.
    let v = [0.5f32, -0.25, 1.0, 0.0, 0.333];
    let emb = EmbeddingRecord::from_f32(42, &v);
    let back: EmbeddingRecord =
        record::decode::<StoredEmbedding>(&record::encode(&StoredEmbedding::V2(emb.clone())))
            .unwrap()
            .into();
    assert_eq!(back, emb);
    for (a, b) in back.to_f32().iter().zip(v) {
        assert!((a - b).abs() < 1e-3, "{a} vs {b}");
    }
}

#[test]
fn record_decode_detects_corruption() {
    let bytes = record::encode(&StoredImage::V2(sample_record()));

    // Every single-bit flip anywhere (body or checksum) is caught.
    for i in 0..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 1 << (i % 8);
        let err = record::decode::<StoredImage>(&b).expect_err("corruption not detected");
        assert!(err.contains("checksum mismatch"), "byte {i}: {err}");
    }
    // Truncation.
    assert!(record::decode::<StoredImage>(&bytes[..bytes.len() - 1]).is_err());
    let err = record::decode::<StoredImage>(&bytes[..3]).unwrap_err();
    assert!(err.contains("too short"), "{err}");
    assert!(record::decode::<StoredImage>(&[]).is_err());

    // A correct checksum over bytes that are no record (unknown version 9).
    let mut junk = vec![9u8, 1, 2, 3];
    junk.extend_from_slice(&crc32fast::hash(&junk).to_le_bytes());
    let err = record::decode::<StoredImage>(&junk).unwrap_err();
    assert!(err.contains("cannot decode"), "{err}");
}

fn raw_sled(store_dir: &Path) -> sled::Db {
    sled::Config::new()
        .path(store_dir.join("sled"))
        .open()
        .expect("open raw sled")
}

#[test]
fn newer_schema_version_refuses_to_open() {
    let sb = Sandbox::new();
    let dir = sb.db();
    std::fs::create_dir_all(&dir).unwrap();
    {
        let db = raw_sled(&dir);
        write_schema_version(&db, CURRENT_VERSION + 1).unwrap();
        db.flush().unwrap();
    }

    match Store::open(&dir, &StoreOptions::default()) {
        Err(Error::SchemaTooNew {
            found, supported, ..
        }) => {
            assert_eq!(found, CURRENT_VERSION + 1);
            assert_eq!(supported, CURRENT_VERSION);
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }

    let mut index = vec!["index", "/nonexistent-dir"];
    index.extend(no_embed_flag());
    for args in [vec!["info"], index] {
        let out = sb.imgdex(&args);
        out.assert_code(2);
        assert!(
            out.stderr.contains("upgrade imgdex"),
            "{args:?}: {}",
            out.describe()
        );
    }

    // Nothing downgraded the store.
    let db = raw_sled(&dir);
    assert_eq!(read_schema_version(&db).unwrap(), CURRENT_VERSION + 1);
}

#[test]
fn older_schema_is_migrated_on_open_and_keeps_its_images() {
    let sb = Sandbox::new();
    let imgs = sb.dir("imgs");
    for i in 0..3 {
        write_png(&imgs.join(format!("{i}.png")), &scene(800 + i, 320, 240));
    }
    let (out, _) = sb.index_basic([&imgs]);
    out.assert_code(0);
    {
        let db = raw_sled(&sb.db());
        assert_eq!(read_schema_version(&db).unwrap(), CURRENT_VERSION);
        write_schema_version(&db, 1).unwrap();
        db.flush().unwrap();
    }
    let info = sb.info();
    assert_eq!(info.schema_version, CURRENT_VERSION);
    assert_eq!(info.images, 3);
    let (_, s) = sb.index_basic([&imgs]);
    assert_eq!(s.unchanged, 3, "migration must keep v1 image records valid");

    // A brand-new, empty sled database (version 0) becomes a current store.
    let fresh = sb.root.join("fresh");
    drop(raw_sled(&fresh));
    let store = Store::open(&fresh, &StoreOptions::default()).expect("open");
    assert_eq!(store.schema_version().unwrap(), CURRENT_VERSION);
    assert_eq!(store.image_count(), 0);
}

#[test]
fn corrupt_records_are_reported_by_info_and_repaired_by_index() {
    let sb = Sandbox::new();
    let imgs = sb.dir("imgs");
    let n = 5;
    for i in 0..n {
        write_png(
            &imgs.join(format!("{i}.png")),
            &scene(900 + i as u64, 320, 240),
        );
    }
    let (out, s) = sb.index_basic([&imgs]);
    out.assert_code(0);
    assert_eq!(s.indexed, n);

    // The binary has exited (lock and sled released): damage two values.
    let damaged: Vec<Vec<u8>> = {
        let db = raw_sled(&sb.db());
        let images = db.open_tree(imgdex::store::IMAGES).unwrap();
        let keys: Vec<_> = images
            .iter()
            .keys()
            .take(2)
            .map(|k| k.unwrap().to_vec())
            .collect();
        assert_eq!(keys.len(), 2);
        let mut flipped = images.get(&keys[0]).unwrap().unwrap().to_vec();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 0x55;
        images.insert(&keys[0], flipped).unwrap();
        images.insert(&keys[1], &b"garbage"[..]).unwrap();
        db.flush().unwrap();
        keys
    };

    let info = sb.info();
    assert_eq!(info.corrupt, 2);
    assert_eq!(info.images, n - 2);

    // Library view: the damaged record is a CorruptRecord error, not a panic.
    {
        let store = Store::open(&sb.db(), &StoreOptions::default()).unwrap();
        let id = u64::from_be_bytes(damaged[0].as_slice().try_into().unwrap());
        match store.get_image(id) {
            Err(Error::CorruptRecord { tree, .. }) => assert_eq!(tree, imgdex::store::IMAGES),
            other => panic!("expected CorruptRecord, got {other:?}"),
        }
        assert_eq!(store.scan_images().unwrap().corrupt.len(), 2);
    }

    // Readers still work around the damage.
    assert!(sb.dupes(&["--by", "exact"]).is_empty());
    let probe = sb.dir("outside").join("probe.png");
    std::fs::copy(imgs.join("0.png"), &probe).unwrap();
    let hits = sb.query_basic(&probe, &["--by", "hash", "-k", "10"]);
    assert_eq!(
        hits.len(),
        n - 2,
        "every intact record, and only those: {hits:?}"
    );

    let (out, s) = sb.index_basic([&imgs]);
    out.assert_code(0);
    assert_eq!(s.repaired, 2, "{}", out.describe());
    assert_eq!(s.indexed, 2, "the damaged files are re-indexed");
    assert_eq!(s.unchanged, n - 2);

    let info = sb.info();
    assert_eq!(info.corrupt, 0);
    assert_eq!(info.images, n);
    assert_eq!(info.features.hash, n);

    let (_, s) = sb.index_basic([&imgs]);
    assert_eq!((s.repaired, s.indexed, s.unchanged), (0, 0, n));
}

#[test]
fn locked_store_gives_exit_code_2_to_a_second_process() {
    let sb = Sandbox::new();
    let imgs = sb.dir("imgs");
    write_png(&imgs.join("a.png"), &scene(1000, 320, 240));
    let (out, _) = sb.index_basic([&imgs]);
    out.assert_code(0);

    let held =
        Store::open(&sb.db(), &StoreOptions::default()).expect("open store in the test process");
    let mut index = vec!["index", "--json", imgs.to_str().unwrap()];
    index.extend(no_embed_flag());
    for args in [vec!["info", "--json"], vec!["dupes"], index] {
        let out = sb.imgdex(&args);
        out.assert_code(2);
        assert!(
            out.stderr.contains("locked by another imgdex process"),
            "{args:?}: {}",
            out.describe()
        );
        assert!(out.stdout.is_empty(), "{args:?}: {}", out.describe());
    }
    // A second handle in the same process is refused as well.
    match Store::open(&sb.db(), &StoreOptions::default()) {
        Err(Error::StoreLocked { path }) => assert_eq!(path, sb.db()),
        other => panic!("expected StoreLocked, got {other:?}"),
    }
    drop(held);

    // Released: everything works again and nothing was lost.
    assert_eq!(sb.info().images, 1);
}
