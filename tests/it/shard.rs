//! Shards and `ingest`: a store exported as a shard and ingested into an
//! empty store answers `info`, `query`, `dupes`, `cluster` and `classify`
//! exactly like the source;
//! shards made under different feature settings are refused with both
//! sources named and the store left as it was; rows are upserted by path
//! (a newer mtime wins) and `--map-prefix` rewrites their paths; the
//! same rows ingested in another order give the same `dupes` answer.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::{self, Sandbox};

/// Near-duplicate families: scenes, each with a resized and a brightened copy.
fn library(sb: &Sandbox, name: &str, families: u64) -> PathBuf {
    let dir = sb.dir(name);
    for i in 0..families {
        let img = util::scene(100 + i, 160, 120);
        util::write_png(&dir.join(format!("s{i}.png")), &img);
        util::write_jpeg(
            &dir.join(format!("s{i}-small.jpg")),
            &util::resized(&img, 120, 90),
            90,
        );
        util::write_png(
            &dir.join(format!("s{i}-bright.png")),
            &util::brightened(&img, 1.1),
        );
    }
    dir
}

fn run_json(db: &Path, args: &[&str]) -> Value {
    let out = util::imgdex(db, args);
    out.assert_code(0);
    out.json()
}

/// `info --json` without the bytes on disk (sled's file layout differs).
fn info(db: &Path) -> Value {
    let mut v = run_json(db, &["info", "--json"]);
    v.as_object_mut()
        .expect("info object")
        .remove("store_bytes");
    v
}

fn export(db: &Path, out: &Path) {
    let args = [
        OsStr::new("export"),
        OsStr::new("shard"),
        OsStr::new("--out"),
        out.as_os_str(),
    ];
    util::imgdex(db, args).assert_code(0);
}

fn ingest(db: &Path, shards: &[&Path], extra: &[&str]) -> util::Out {
    let mut a: Vec<std::ffi::OsString> = vec!["ingest".into(), "--json".into()];
    a.extend(extra.iter().map(Into::into));
    a.extend(shards.iter().map(|p| p.as_os_str().to_os_string()));
    util::imgdex(db, a)
}

#[test]
fn an_ingested_shard_answers_like_the_store_it_came_from() {
    if util::no_model() {
        return;
    }
    let sb = Sandbox::new();
    let dir = library(&sb, "lib", 5);
    let (out, _) = sb.index([&dir]);
    out.assert_code(0);
    let shard = sb.root.join("lib.parquet");
    export(&sb.db(), &shard);
    let db2 = sb.root.join("db2");
    let out = ingest(&db2, &[&shard], &[]);
    out.assert_code(0);
    let s = out.json();
    assert_eq!(s["rows"], 15, "{s}");
    assert_eq!(s["added"], 15, "{s}");
    assert_eq!(s["embedded"], 15, "{s}");
    assert_eq!(info(&db2), info(&sb.db()));
    assert_eq!(info(&db2)["features"]["embedding"], 15);
    for preset in ["default", "exact", "loose"] {
        let a = run_json(&sb.db(), &["dupes", "--json", "--preset", preset]);
        let b = run_json(&db2, &["dupes", "--json", "--preset", preset]);
        assert_eq!(a, b, "dupes --preset {preset}");
    }
    assert!(!sb.dupes(&[]).is_empty(), "the families are duplicates");
    for by in ["auto", "hash", "histogram"] {
        for q in ["s0.png", "s3-small.jpg"] {
            let q = dir.join(q);
            let q = q.to_str().expect("utf-8 path");
            let a = run_json(&sb.db(), &["query", "--json", "--by", by, "-k", "6", q]);
            let b = run_json(&db2, &["query", "--json", "--by", by, "-k", "6", q]);
            assert_eq!(a, b, "query --by {by} {q}");
        }
    }
    // The ingested store exports the same shard, row for row.
    let again = sb.root.join("again.parquet");
    export(&db2, &again);
    assert_eq!(shard_rows(&shard), shard_rows(&again));
}

/// `cluster` (saved labels included) and `classify` (train, then predict
/// for new and for stored images) give the same answers on an ingested
/// store as on the indexed one it was exported from.
#[test]
fn an_ingested_store_clusters_and_classifies_like_the_indexed_one() {
    if util::no_model() {
        return;
    }
    let sb = Sandbox::new();
    let root = sb.dir("lib");
    let fresh = sb.dir("fresh");
    for (c, class) in ["red", "green", "blue"].iter().enumerate() {
        let dir = sb.dir(&format!("lib/{class}"));
        for i in 0..6u64 {
            let img = util::scene(500 + 37 * c as u64 + i, 160, 120);
            util::write_png(&dir.join(format!("{i}.png")), &img);
        }
        let img = util::scene(900 + c as u64, 160, 120);
        util::write_png(&fresh.join(format!("{class}.png")), &img);
    }
    sb.index([&root]).0.assert_code(0);
    let shard = sb.root.join("lib.parquet");
    export(&sb.db(), &shard);
    let db2 = sb.root.join("db2");
    ingest(&db2, &[&shard], &[]).assert_code(0);
    let (fresh, stored) = (disp(&fresh), disp(&root.join("green/2.png")));
    let steps: [&[&str]; 6] = [
        &["cluster", "--json", "--k", "3", "--seed", "1"],
        &["cluster", "--json", "--k-range", "2..6", "--seed", "2"],
        &["export", "clusters", "--format", "json"],
        &[
            "classify",
            "train",
            "--json",
            "--val-fraction",
            "0.3",
            "--seed",
            "2",
        ],
        &["classify", "predict", "--json", &fresh],
        &["classify", "predict", "--json", &stored],
    ];
    for args in steps {
        let (a, b) = (util::imgdex(&sb.db(), args), util::imgdex(&db2, args));
        a.assert_code(0);
        b.assert_code(0);
        assert_eq!(
            without_timings(a.json()),
            without_timings(b.json()),
            "{args:?}"
        );
    }
}

fn disp(p: &Path) -> String {
    p.to_str().expect("utf-8 path").to_owned()
}

/// A JSON report without its wall-clock fields (`*_s`, `*seconds`, `timings`).
fn without_timings(v: Value) -> Value {
    without_keys(v, &|k| {
        k.ends_with("_s") || k.ends_with("seconds") || k == "timings"
    })
}

/// `v` without the object fields, at any depth, whose key `drop` takes.
fn without_keys(mut v: Value, drop: &dyn Fn(&str) -> bool) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.retain(|k, _| !drop(k));
        for x in o.values_mut() {
            *x = without_keys(x.take(), drop);
        }
    } else if let Some(a) = v.as_array_mut() {
        for x in a {
            *x = without_keys(x.take(), drop);
        }
    }
    v
}

/// The rows of a shard, read back through the library.
fn shard_rows(p: &Path) -> Vec<imgdex::jobs::shard::Row> {
    let f = imgdex::jobs::shard::ShardFile::open(p).expect("open shard");
    let (path, meta, reader) = f.batches().expect("read shard");
    let mut rows = Vec::new();
    for b in reader {
        rows.extend(
            imgdex::jobs::shard::read_rows(&b.expect("batch"), &meta, &path).expect("rows"),
        );
    }
    rows
}

#[test]
fn shards_of_different_settings_are_refused_and_the_store_is_untouched() {
    let sb = Sandbox::new();
    let a = library(&sb, "a", 2);
    let b = library(&sb, "b", 2);
    let (db_a, db_b) = (sb.root.join("db-a"), sb.root.join("db-b"));
    let no_embed = util::no_embed_flag();
    let mut args: Vec<&str> = vec!["index", "--json"];
    args.extend_from_slice(no_embed);
    let idx = |db: &Path, dir: &Path, extra: &[&str]| {
        let mut a = args.clone();
        a.extend_from_slice(extra);
        a.push(dir.to_str().expect("utf-8"));
        util::imgdex(db, &a).assert_code(0);
    };
    idx(&db_a, &a, &[]);
    idx(&db_b, &b, &["--bins", "16"]);
    let (sa, sbb) = (sb.root.join("a.parquet"), sb.root.join("b.parquet"));
    export(&db_a, &sa);
    export(&db_b, &sbb);

    // Two shards that disagree: refused before the store is even written.
    let target = sb.root.join("target");
    let out = ingest(&target, &[&sa, &sbb], &[]);
    assert_ne!(out.code, Some(0), "{}", out.describe());
    assert!(
        out.stderr.contains("histogram fingerprints differ"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&util::disp(&sa)) && out.stderr.contains(&util::disp(&sbb)),
        "{}",
        out.stderr
    );

    // A shard that disagrees with the store: refused, store as it was.
    ingest(&target, &[&sa], &[]).assert_code(0);
    let before = info(&target);
    let rows_before = run_json(&target, &["dupes", "--json", "--preset", "loose"]);
    let out = ingest(&target, &[&sbb], &[]);
    assert_ne!(out.code, Some(0), "{}", out.describe());
    assert!(
        out.stderr.contains("histogram fingerprints differ"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&format!("store {}", target.display())),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains(&util::disp(&sbb)), "{}", out.stderr);
    assert_eq!(info(&target), before);
    assert_eq!(
        run_json(&target, &["dupes", "--json", "--preset", "loose"]),
        rows_before
    );
}

#[test]
fn ingest_upserts_by_path_and_maps_prefixes() {
    let sb = Sandbox::new();
    let dir = library(&sb, "lib", 2);
    let mut args: Vec<&str> = vec!["index", "--json"];
    args.extend_from_slice(util::no_embed_flag());
    args.push(dir.to_str().expect("utf-8"));
    util::imgdex(&sb.db(), &args).assert_code(0);
    let shard = sb.root.join("s.parquet");
    export(&sb.db(), &shard);

    let target = sb.root.join("target");
    let from = format!("{}=/serving/photos", dir.display());
    let s = ingest(&target, &[&shard], &["--map-prefix", &from]).json();
    assert_eq!(
        (s["added"].as_u64(), s["updated"].as_u64()),
        (Some(6), Some(0)),
        "{s}"
    );
    let mut paths: Vec<String> = shard_rows(&shard)
        .into_iter()
        .map(|(r, _, _)| String::from_utf8(r.path).expect("utf-8"))
        .collect();
    paths.sort();
    let exported = sb.root.join("t.parquet");
    export(&target, &exported);
    let mut mapped: Vec<String> = shard_rows(&exported)
        .into_iter()
        .map(|(r, _, _)| String::from_utf8(r.path).expect("utf-8"))
        .collect();
    mapped.sort();
    let want: Vec<String> = paths
        .iter()
        .map(|p| p.replacen(&dir.display().to_string(), "/serving/photos", 1))
        .collect();
    assert_eq!(mapped, want);

    // The same rows again: nothing newer, nothing written.
    let s = ingest(&target, &[&shard], &["--map-prefix", &from]).json();
    assert_eq!(
        (s["added"].as_u64(), s["unchanged"].as_u64()),
        (Some(0), Some(6)),
        "{s}"
    );

    // A file changed and re-indexed: its newer row replaces the record.
    let changed = dir.join("s0.png");
    std::thread::sleep(std::time::Duration::from_millis(20));
    util::write_png(&changed, &util::scene(999, 80, 60));
    util::imgdex(&sb.db(), &args).assert_code(0);
    export(&sb.db(), &shard);
    let s = ingest(&target, &[&shard], &["--map-prefix", &from]).json();
    assert_eq!(
        (s["updated"].as_u64(), s["unchanged"].as_u64()),
        (Some(1), Some(5)),
        "{s}"
    );
    export(&target, &exported);
    let row = shard_rows(&exported)
        .into_iter()
        .find(|(r, _, _)| r.path == b"/serving/photos/s0.png")
        .expect("mapped row");
    assert_eq!((row.0.width, row.0.height), (80, 60));

    // A bad mapping is refused by the CLI.
    let out = ingest(&target, &[&shard], &["--map-prefix", "nowhere"]);
    assert_ne!(out.code, Some(0));
    assert!(out.stderr.contains("FROM=TO"), "{}", out.stderr);
}

/// `v` without its `id`/`ids` fields (stored ids follow insertion order).
fn without_ids(v: Value) -> Value {
    without_keys(v, &|k| k == "id" || k == "ids")
}

/// Ids are handed out in the order rows arrive (a pipeline's finishing
/// order, a shard's row order), and verification crops or rotates one
/// side of a pair: `dupes` must not depend on which side came first.
#[test]
fn dupes_does_not_depend_on_the_order_rows_entered_the_store() {
    if util::no_model() {
        return;
    }
    let sb = Sandbox::new();
    let dir = sb.dir("crops");
    for name in ["chelsea", "coffee"] {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models");
        let img = image::open(fixture.join(format!("{name}.jpg")))
            .expect("fixture photo")
            .to_rgb8();
        let (w, h) = img.dimensions();
        util::write_png(&dir.join(format!("{name}.png")), &img);
        // Off-centre crops: only the alignment search finds them.
        for (k, (x, y, side)) in [(w / 10, h / 20, 85), (w / 30, h / 16, 90)]
            .into_iter()
            .enumerate()
        {
            let crop = image::imageops::crop_imm(&img, x, y, w * side / 100, h * side / 100);
            util::write_jpeg(&dir.join(format!("{name}-{k}.jpg")), &crop.to_image(), 90);
        }
    }
    sb.index([&dir]).0.assert_code(0);
    let shard = sb.root.join("crops.parquet");
    export(&sb.db(), &shard);
    let reversed = sb.root.join("reversed.parquet");
    let (meta, rows) = {
        let f = imgdex::jobs::shard::ShardFile::open(&shard).expect("open shard");
        (f.meta.clone(), shard_rows(&shard))
    };
    let rows: Vec<_> = rows.into_iter().rev().collect();
    let shape = imgdex::jobs::shard::Shape::of_rows(&rows);
    let schema = shape.schema(&meta);
    let batch = imgdex::jobs::shard::to_batch(&rows, shape, &schema, &meta.fingerprints);
    imgdex::jobs::shard::write_file(&reversed, &schema, [batch]).expect("write shard");
    let db2 = sb.root.join("db2");
    ingest(&db2, &[&reversed], &[]).assert_code(0);
    let a = run_json(&sb.db(), &["dupes", "--json"]);
    assert!(!a["groups"].as_array().expect("groups").is_empty(), "{a}");
    let b = run_json(&db2, &["dupes", "--json"]);
    assert_eq!(without_ids(a), without_ids(b));
}
