//! The shard format, pinned: `tests/fixtures/formats/shard_v<N>.parquet`
//! was written once per format version by [`write_shard_fixture`] (ignored
//! test) from the rows [`rows`] builds; today's reader must read every one
//! back to exactly those rows and metadata (version 1 has no signatures),
//! and today's writer must still produce the newest one's schema. A new
//! layout is a new format version with its own fixture.

use std::path::{Path, PathBuf};

use arrow_array::RecordBatchReader;

use imgdex::features::signature::{Edits, Signature};
use imgdex::features::{Hashes, Histogram};
use imgdex::jobs::shard::{self, Fingerprints, Row, Shape, ShardFile, ShardMeta};
use imgdex::store::record::fingerprint_code;
use imgdex::store::signatures::SignatureRecord;
use imgdex::store::{EmbeddingRecord, ImageRecord, Tagged};

fn fixture_v(version: u32) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/fixtures/formats/shard_v{version}.parquet"))
}

fn fixture() -> PathBuf {
    fixture_v(shard::VERSION)
}

/// The copy signature of the first row (format version 2 on).
fn signature() -> SignatureRecord {
    SignatureRecord {
        fingerprint: 0x5151_0002,
        signature: Signature {
            luma: (0..4096u32).map(|i| (i * 13 % 253) as u8).collect(),
            width: 64,
            height: 48,
            chroma: (0..128u32).map(|i| (90 + i % 70) as u8).collect(),
            edits: Edits {
                framed: false,
                grey: false,
                wedges: false,
                jpeg_quant: 120,
            },
            palette: None,
        },
    }
}

fn meta() -> ShardMeta {
    ShardMeta {
        fingerprints: Fingerprints {
            hash: Some("phash64+dhash64+ahash64/fixture".into()),
            histogram: Some("rgb-2-l1norm-v2/fixture".into()),
            embedding: Some("model-fixture/sha256:0123".into()),
        },
        roots: vec!["/fixture".into()],
    }
}

/// Three images: one with every feature and a dupe vector, one without an
/// embedding, one with a non-UTF-8 path and no hashes.
fn rows() -> Vec<Row> {
    let m = meta();
    let code = |s: &Option<String>| fingerprint_code(s.as_deref().expect("set"));
    let fp = &m.fingerprints;
    let rec = |path: &[u8], i: u8, hashes: bool| ImageRecord {
        taken: None,
        path: path.to_vec(),
        size: 1000 + u64::from(i),
        mtime_ns: 1_700_000_000_000_000_000 + i64::from(i),
        digest: std::array::from_fn(|k| k as u8 ^ i),
        width: 64 + u32::from(i),
        height: 48,
        format: if i == 1 { "jpeg".into() } else { "png".into() },
        hashes: hashes.then(|| Tagged {
            fingerprint: code(&fp.hash),
            value: Hashes {
                phash: 0x8000_0000_0000_0001 ^ u64::from(i),
                dhash: 0x0123_4567_89ab_cdef,
                ahash: u64::MAX - u64::from(i),
            },
        }),
        histogram: Some(Tagged {
            fingerprint: code(&fp.histogram),
            value: Histogram {
                bins: 2,
                values: vec![0.25, 0.75, 0.5, 0.5, 1.0, 0.0],
            },
        }),
    };
    let emb = EmbeddingRecord::with_dupe(
        code(&fp.embedding),
        &[0.6, -0.8, 0.0, 0.0],
        Some(&[0.0, 1.0, 0.0]),
    );
    let plain = EmbeddingRecord::with_dupe(code(&fp.embedding), &[0.0, 0.0, 1.0, 0.0], None);
    vec![
        (
            rec(b"/fixture/a.png", 0, true),
            Some(emb),
            Some(signature()),
        ),
        (rec(b"/fixture/b.jpg", 1, true), None, None),
        (rec(b"/fixture/caf\xe9.png", 2, false), Some(plain), None),
    ]
}

fn write(out: &Path) {
    let rows = rows();
    let shape = Shape::of_rows(&rows);
    let schema = shape.schema(&meta());
    let batch = shard::to_batch(&rows, shape, &schema, &meta().fingerprints);
    shard::write_file(out, &schema, [batch]).expect("write shard");
}

#[test]
#[ignore = "writes the frozen fixture; run only when adding a format version"]
fn write_shard_fixture() {
    let p = fixture();
    assert!(
        !p.exists(),
        "{} exists: fixtures are never rewritten",
        p.display()
    );
    write(&p);
}

fn read(p: &Path) -> (ShardMeta, Vec<Row>, arrow_schema::SchemaRef) {
    let f = ShardFile::open(p).expect("open shard");
    let (path, meta, reader) = f.batches().expect("batches");
    let schema = reader.schema();
    let mut rows = Vec::new();
    for b in reader {
        rows.extend(shard::read_rows(&b.expect("batch"), &meta, &path).expect("rows"));
    }
    (meta, rows, schema)
}

#[test]
fn every_frozen_shard_reads_back_to_its_rows() {
    for version in 1..=shard::VERSION {
        let (m, got, schema) = read(&fixture_v(version));
        assert_eq!(m, meta());
        let mut want = rows();
        // A row without a separate dupe vector stays without one.
        want[2].1.as_mut().expect("embedding").dupe.clear();
        if version == 1 {
            want[0].2 = None; // no signatures before version 2
        }
        assert_eq!(got, want, "shard_v{version}");
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let mut columns = V1_COLUMNS.to_vec();
        if version >= 2 {
            columns.push("signature");
        }
        assert_eq!(names, columns, "shard_v{version}");
    }
}

const V1_COLUMNS: [&str; 14] = [
    "path",
    "digest",
    "width",
    "height",
    "format",
    "phash",
    "dhash",
    "ahash",
    "histogram",
    "embedding",
    "path_bytes",
    "size",
    "mtime_ns",
    "dupe",
];

#[test]
fn todays_writer_writes_the_frozen_schema() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let p = tmp.path().join("now.parquet");
    write(&p);
    let (m_now, rows_now, schema_now) = read(&p);
    let (m_old, rows_old, schema_old) = read(&fixture());
    assert_eq!(m_now, m_old);
    assert_eq!(rows_now, rows_old);
    let strip = |s: &arrow_schema::SchemaRef| {
        s.fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone(), f.is_nullable()))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&schema_now), strip(&schema_old));
}

#[test]
fn a_file_that_is_not_a_shard_is_refused_by_name() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let p = tmp.path().join("plain.parquet");
    let rows = rows();
    let shape = Shape::of_rows(&rows);
    let plain = ShardMeta::default();
    let schema = std::sync::Arc::new(
        shape
            .schema(&plain)
            .as_ref()
            .clone()
            .with_metadata(std::collections::HashMap::<String, String>::new()),
    );
    let batch = shard::to_batch(&rows, shape, &schema, &plain.fingerprints);
    shard::write_file(&p, &schema, [batch]).expect("write");
    let e = ShardFile::open(&p).err().expect("refused").to_string();
    assert!(
        e.contains("plain.parquet") && e.contains("not an imgdex shard"),
        "{e}"
    );
    let e = ShardFile::open(&tmp.path().join("missing.parquet"))
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains("missing.parquet"), "{e}");
}
