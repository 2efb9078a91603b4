//! `export features --format parquet`: the file is read back with Python's
//! `pyarrow` (in the project's venv, installed by scripts/setup) and every
//! column is checked against `export features --format csv`, `export
//! clusters` and `inspect`; a store without embeddings or clustering leaves
//! those columns out; bad option combinations are refused.

use std::path::Path;
use std::process::Command;

use crate::util::{self, Sandbox};

/// Reads PARQUET, CSV (export features), CLUSTERS (export clusters CSV or
/// "-") and SIZES (path<TAB>width<TAB>height lines); checks every column.
const CHECK: &str = r#"
import csv, sys
import numpy as np
import pyarrow.parquet as pq
pq_path, csv_path, clusters_path, sizes_path = sys.argv[1:5]
t = pq.read_table(pq_path)
rows = {r["path"]: r for r in t.to_pylist()}
with open(csv_path, newline="") as f:
    want = list(csv.DictReader(f))
assert len(rows) == len(want) == t.num_rows, (len(rows), len(want), t.num_rows)
names = t.schema.names
for w in want:
    r = rows[w["path"]]
    for h in ("phash", "dhash", "ahash"):
        assert format(r[h], "016x") == w[h], (h, r[h], w[h])
    for col, prefix in (("histogram", "h"), ("embedding", "e")):
        cells = [w[k] for k in w if k[0] == prefix and k[1:].isdigit()]
        if not cells:
            assert col not in names, col
            continue
        got = np.asarray(r[col], dtype=np.float32)
        exp = np.asarray([float(c) for c in cells], dtype=np.float32)
        assert got.shape == exp.shape and np.array_equal(got, exp), col
    assert len(r["digest"]) == 64 and int(r["digest"], 16) >= 0
sizes = dict((p, (int(w), int(h))) for p, w, h in (l.rstrip("\n").split("\t") for l in open(sizes_path)))
for p, r in rows.items():
    assert (r["width"], r["height"]) == sizes[p], p
    assert r["format"] == "png", r["format"]
if clusters_path == "-":
    assert "cluster" not in names
else:
    with open(clusters_path, newline="") as f:
        labels = {r["path"]: int(r["cluster"]) for r in csv.DictReader(f)}
    assert {p: r["cluster"] for p, r in rows.items()} == labels
print("ok", t.num_rows, ",".join(names))
"#;

fn python() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python")
}

/// Run [`CHECK`]; returns its "ok ..." line.
fn check(pq: &Path, csv: &Path, clusters: Option<&Path>, sizes: &Path) -> String {
    let dash = Path::new("-");
    let out = Command::new(python())
        .args(["-c", CHECK])
        .args([pq, csv, clusters.unwrap_or(dash), sizes])
        .output()
        .expect("run the venv's python (scripts/setup makes it)");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "pyarrow check failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Five generated scenes of different sizes; returns the SIZES file.
fn images(sb: &Sandbox) -> std::path::PathBuf {
    let dir = sb.dir("images");
    let mut sizes = String::new();
    for i in 0..5u32 {
        let (w, h) = (64 + 16 * i, 48 + 8 * i);
        let p = dir.join(format!("scene{i}.png"));
        util::write_png(&p, &util::scene(i as u64, w, h));
        sizes.push_str(&format!("{}\t{w}\t{h}\n", util::disp(&p)));
    }
    let f = sb.root.join("sizes.tsv");
    std::fs::write(&f, sizes).unwrap();
    f
}

fn export(sb: &Sandbox, args: &[&str], out: &Path) {
    let mut a = vec!["export", "features"];
    a.extend_from_slice(args);
    a.extend(["--out", out.to_str().unwrap()]);
    sb.imgdex(&a).assert_code(0);
}

#[test]
fn parquet_export_matches_csv_column_by_column() {
    if util::no_model() {
        return;
    }
    let sb = Sandbox::new();
    let sizes = images(&sb);
    let (out, summary) = sb.index([sb.root.join("images")]);
    out.assert_code(0);
    assert_eq!(summary.indexed, 5);
    sb.imgdex(["cluster", "--by", "histogram", "--k", "2", "--seed", "1"])
        .assert_code(0);
    let (pq, csv, clusters) = (
        sb.root.join("f.parquet"),
        sb.root.join("f.csv"),
        sb.root.join("c.csv"),
    );
    export(&sb, &["--format", "parquet"], &pq);
    export(&sb, &["--format", "csv"], &csv);
    sb.imgdex(["export", "clusters", "--out", clusters.to_str().unwrap()])
        .assert_code(0);
    let ok = check(&pq, &csv, Some(&clusters), &sizes);
    assert_eq!(
        ok.trim(),
        "ok 5 path,digest,width,height,format,phash,dhash,ahash,histogram,embedding,cluster"
    );
    assert!(!sb.root.join("f.parquet.tmp").exists());
}

#[test]
fn parquet_export_leaves_out_what_the_store_lacks() {
    let sb = Sandbox::new();
    let sizes = images(&sb);
    sb.index_basic([sb.root.join("images")]).0.assert_code(0);
    let (pq, csv) = (sb.root.join("f.parquet"), sb.root.join("f.csv"));
    export(&sb, &["--format", "parquet"], &pq);
    export(&sb, &[], &csv);
    let ok = check(&pq, &csv, None, &sizes);
    assert_eq!(
        ok.trim(),
        "ok 5 path,digest,width,height,format,phash,dhash,ahash,histogram"
    );
}

#[test]
fn parquet_export_refuses_what_it_cannot_write() {
    let sb = Sandbox::new();
    images(&sb);
    sb.index_basic([sb.root.join("images")]).0.assert_code(0);
    let expect = |args: &[&str], needle: &str| {
        let out = sb.imgdex(args);
        out.assert_code(2);
        assert!(out.stderr.contains(needle), "{args:?}:\n{}", out.stderr);
    };
    expect(
        &["export", "features", "--format", "parquet"],
        "--out must name a FILE.parquet",
    );
    let f = sb.root.join("x.parquet");
    let f = f.to_str().unwrap();
    expect(
        &[
            "export",
            "features",
            "--format",
            "parquet",
            "--feature",
            "hash",
            "--out",
            f,
        ],
        "holds every feature",
    );
    let missing = sb.root.join("no/such/dir/x.parquet");
    expect(
        &[
            "export",
            "features",
            "--format",
            "parquet",
            "--out",
            missing.to_str().unwrap(),
        ],
        "no/such/dir",
    );
}
