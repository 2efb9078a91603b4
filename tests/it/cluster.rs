//! Clustering: k-means recovers planted clusters (adjusted Rand index) and
//! the elbow finds the planted k, through the library on generated vectors
//! and through `imgdex cluster --table` on a generated CSV; the same seed
//! gives the same labels; the saved clustering exports to CSV and JSON that
//! parse back to the same labels; bad arguments are refused with exit code 2
//! and a message saying what is wrong.

use std::collections::HashMap;
use std::path::Path;

use imgdex::learn::kmeans::{self, KMeansOptions};
use imgdex::learn::{npy, select};
use ndarray::Array2;
use serde::Deserialize;

use crate::util::{self, Lcg, Sandbox};

/// Standard normal deviate (Box–Muller) from the test LCG.
pub fn normal(rng: &mut Lcg) -> f64 {
    let u1 = (f64::from(rng.next_u32()) + 1.0) / (f64::from(u32::MAX) + 2.0);
    let u2 = f64::from(rng.next_u32()) / (f64::from(u32::MAX) + 1.0);
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// `k` Gaussian blobs of `per` points in `dim` dimensions: centres drawn
/// with spread `sep`, points with unit spread around them. Rows are
/// interleaved (row i belongs to blob i % k).
pub fn blobs(k: usize, per: usize, dim: usize, sep: f64, seed: u64) -> (Array2<f32>, Vec<u32>) {
    let mut rng = Lcg::new(seed);
    let centres: Vec<Vec<f64>> = (0..k)
        .map(|_| (0..dim).map(|_| sep * normal(&mut rng)).collect())
        .collect();
    let mut data = Vec::with_capacity(k * per * dim);
    let mut truth = Vec::with_capacity(k * per);
    for i in 0..k * per {
        let c = i % k;
        truth.push(c as u32);
        data.extend(centres[c].iter().map(|m| (m + normal(&mut rng)) as f32));
    }
    (Array2::from_shape_vec((k * per, dim), data).unwrap(), truth)
}

fn choose2(n: usize) -> f64 {
    (n * n.saturating_sub(1)) as f64 / 2.0
}

/// Adjusted Rand index (Hubert & Arabie) of two labellings.
pub fn ari(a: &[u32], b: &[u32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let mut joint: HashMap<(u32, u32), usize> = HashMap::new();
    let mut ra: HashMap<u32, usize> = HashMap::new();
    let mut rb: HashMap<u32, usize> = HashMap::new();
    for (&x, &y) in a.iter().zip(b) {
        *joint.entry((x, y)).or_default() += 1;
        *ra.entry(x).or_default() += 1;
        *rb.entry(y).or_default() += 1;
    }
    let index: f64 = joint.values().map(|&n| choose2(n)).sum();
    let sa: f64 = ra.values().map(|&n| choose2(n)).sum();
    let sb: f64 = rb.values().map(|&n| choose2(n)).sum();
    let expected = sa * sb / choose2(a.len());
    let max = (sa + sb) / 2.0;
    if max == expected {
        return 1.0;
    }
    (index - expected) / (max - expected)
}

#[test]
fn ari_is_one_for_renamed_labels_and_low_for_unrelated() {
    assert!((ari(&[0, 0, 1, 1, 2, 2], &[5, 5, 3, 3, 9, 9]) - 1.0).abs() < 1e-12);
    assert!(ari(&[0, 1, 0, 1, 0, 1, 0, 1], &[0, 0, 1, 1, 0, 0, 1, 1]) < 0.1);
}

#[test]
fn kmeans_recovers_planted_clusters_and_the_elbow_finds_k() {
    let (x, truth) = blobs(4, 60, 16, 6.0, 11);
    let opts = KMeansOptions {
        seed: 3,
        ..KMeansOptions::default()
    };
    let ks: Vec<usize> = (2..=10).collect();
    let sel = select::search(x.view(), &ks, &opts, &|_| {}).expect("k search");
    assert_eq!(
        sel.chosen.k, 4,
        "elbow picked k = {} from {:?}",
        sel.chosen.k, sel.candidates
    );
    let score = ari(&sel.chosen.labels, &truth);
    assert!(score >= 0.9, "ARI {score}");
    // Silhouette is reported for every candidate and peaks at the planted k.
    assert!(sel.candidates.iter().all(|c| c.silhouette.is_some()));
    let best = sel
        .candidates
        .iter()
        .max_by(|a, b| a.silhouette.unwrap().total_cmp(&b.silhouette.unwrap()))
        .unwrap();
    assert_eq!(best.k, 4);
    assert_eq!(sel.chosen.sizes.iter().sum::<usize>(), 240);
}

#[test]
fn mini_batch_kmeans_recovers_planted_clusters() {
    let (x, truth) = blobs(5, 400, 32, 5.0, 21);
    let opts = KMeansOptions {
        seed: 1,
        mini_batch: Some(256),
        ..KMeansOptions::default()
    };
    let c = kmeans::fit(x.view(), 5, &opts).expect("mini-batch fit");
    let score = ari(&c.labels, &truth);
    assert!(score >= 0.9, "ARI {score}");
}

#[test]
fn same_seed_gives_the_same_labels() {
    let (x, _) = blobs(6, 50, 8, 2.0, 5);
    for mini_batch in [None, Some(64)] {
        let opts = KMeansOptions {
            seed: 42,
            mini_batch,
            ..KMeansOptions::default()
        };
        let a = kmeans::fit(x.view(), 6, &opts).unwrap();
        let b = kmeans::fit(x.view(), 6, &opts).unwrap();
        assert_eq!(a.labels, b.labels, "mini_batch {mini_batch:?}");
        assert_eq!(a.centroids, b.centroids);
    }
}

#[test]
fn elbow_is_the_point_farthest_from_the_chord() {
    let curve: Vec<(f64, f64)> = [100.0, 50.0, 10.0, 8.0, 7.0, 6.5]
        .iter()
        .enumerate()
        .map(|(i, &y)| (i as f64 + 1.0, y))
        .collect();
    assert_eq!(select::elbow(&curve), Some(2));
    assert_eq!(select::elbow(&curve[..2]), None);
}

// ---------------------------------------------------------------------------
// `imgdex cluster --table`
// ---------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct RowCluster {
    row: String,
    cluster: u32,
}

#[derive(Debug, Deserialize)]
struct Candidate {
    k: usize,
    silhouette: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct TableReport {
    k: usize,
    rows: usize,
    candidates: Vec<Candidate>,
    assignments: Vec<RowCluster>,
    centroids: Vec<Vec<f32>>,
}

/// A CSV like the Pokémon stats: id, name, then numeric columns from `x`
/// (scaled into stat-like ranges), plus a text column to ignore.
fn write_table(path: &Path, x: &Array2<f32>) {
    let mut s = String::from("id,name,kind,hp,attack,defense\n");
    for (i, row) in x.rows().into_iter().enumerate() {
        let v: Vec<String> = row
            .iter()
            .map(|v| format!("{:.2}", 80.0 + 10.0 * v))
            .collect();
        s.push_str(&format!(
            "{},mon{i},type{},{}\n",
            1000 + i,
            i % 3,
            v.join(",")
        ));
    }
    std::fs::write(path, s).unwrap();
}

fn table_cluster(table: &Path, extra: &[&str]) -> util::Out {
    let mut args = vec![
        "cluster",
        "--json",
        "--table",
        table.to_str().unwrap(),
        "--columns",
        "hp,attack,defense",
    ];
    args.extend_from_slice(extra);
    // No store is needed: give a path that cannot exist.
    util::imgdex(Path::new("/nonexistent/imgdex-it-db"), &args)
}

#[test]
fn cli_table_clustering_finds_the_planted_k_and_draws_the_elbow() {
    let sb = Sandbox::new();
    let (x, truth) = blobs(3, 40, 3, 5.0, 8);
    let table = sb.root.join("stats.csv");
    write_table(&table, &x);
    let plot = sb.root.join("elbow.png");
    let out = table_cluster(
        &table,
        &[
            "--k-range",
            "2..12",
            "--standardize",
            "--seed",
            "4",
            "--plot",
            plot.to_str().unwrap(),
        ],
    );
    out.assert_code(0);
    let r: TableReport = out.parse();
    assert_eq!(r.k, 3, "{}", out.stdout);
    assert_eq!(r.rows, 120);
    assert_eq!(
        r.candidates.iter().map(|c| c.k).collect::<Vec<_>>(),
        (2..=12).collect::<Vec<_>>()
    );
    assert!(r.candidates.iter().all(|c| c.silhouette.is_some()));
    // Rows are named by the first column, in file order.
    assert_eq!(r.assignments[0].row, "1000");
    assert_eq!(r.assignments[119].row, "1119");
    let labels: Vec<u32> = r.assignments.iter().map(|a| a.cluster).collect();
    assert!(ari(&labels, &truth) >= 0.9);
    // Centroids are reported in the table's own units, one value per column.
    assert_eq!(r.centroids.len(), 3);
    assert!(r
        .centroids
        .iter()
        .all(|c| c.len() == 3 && c.iter().all(|v| (-100.0..300.0).contains(v))));
    let png = std::fs::read(&plot).expect("elbow plot written");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let img = image::load_from_memory(&png).unwrap();
    assert!(img.width() >= 400 && img.height() >= 300);

    // Same seed, same labels (a fresh process).
    let again: TableReport = table_cluster(
        &table,
        &["--k-range", "2..12", "--standardize", "--seed", "4"],
    )
    .parse();
    let labels2: Vec<u32> = again.assignments.iter().map(|a| a.cluster).collect();
    assert_eq!(labels, labels2);
}

#[test]
fn cli_bad_cluster_arguments_are_refused_clearly() {
    let sb = Sandbox::new();
    let (x, _) = blobs(2, 5, 3, 5.0, 1);
    let table = sb.root.join("t.csv");
    write_table(&table, &x);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--k-range", "5"], "A..B"),
        (vec!["--k-range", "9..3"], "A..B"),
        (vec!["--k-range", "two..five"], "A..B"),
        (vec!["--k", "0"], "at least 1"),
        (vec!["--k", "11"], "k = 11 is more than the 10 table rows"),
        (
            vec!["--k-range", "2..30"],
            "k = 30 is more than the 10 table rows",
        ),
        (vec!["--k", "3", "--plot", "x.png"], "--k-range"),
    ];
    for (extra, needle) in cases {
        let out = table_cluster(&table, &extra);
        out.assert_code(2);
        assert!(
            out.stderr.contains(needle),
            "{extra:?}: expected `{needle}` in\n{}",
            out.stderr
        );
        assert!(out.stdout.is_empty());
    }
    let out = util::imgdex(
        Path::new("/nonexistent/imgdex-it-db"),
        [
            "cluster",
            "--table",
            table.to_str().unwrap(),
            "--columns",
            "hp,speed",
        ],
    );
    out.assert_code(2);
    assert!(
        out.stderr.contains("no column `speed`") && out.stderr.contains("hp, attack, defense"),
        "{}",
        out.stderr
    );
}

// ---------------------------------------------------------------------------
// Stored images: cluster by histogram, export, errors
// ---------------------------------------------------------------------------

/// `n` images per colour family in `dir`: a dominant hue with seeded noise
/// and a few darker squares, so their histograms form one group per family.
fn colour_families(dir: &Path, families: &[[u8; 3]], n: usize) -> HashMap<String, u32> {
    let mut truth = HashMap::new();
    for (f, base) in families.iter().enumerate() {
        for i in 0..n {
            let mut rng = Lcg::new((f * 100 + i) as u64);
            let mut img = image::RgbImage::new(96, 64);
            for p in img.pixels_mut() {
                let jitter = |c: u8, rng: &mut Lcg| c.saturating_add(rng.range(0, 30) as u8);
                *p = image::Rgb([
                    jitter(base[0], &mut rng),
                    jitter(base[1], &mut rng),
                    jitter(base[2], &mut rng),
                ]);
            }
            for _ in 0..3 {
                let (x0, y0) = (rng.range(0, 80), rng.range(0, 48));
                for y in y0..y0 + 12 {
                    for x in x0..x0 + 12 {
                        let q = img.get_pixel(x, y).0;
                        img.put_pixel(x, y, image::Rgb([q[0] / 2, q[1] / 2, q[2] / 2]));
                    }
                }
            }
            let path = dir.join(format!("f{f}_{i}.png"));
            util::write_png(&path, &img);
            truth.insert(util::disp(&path), f as u32);
        }
    }
    truth
}

#[derive(Debug, Deserialize, PartialEq, Clone)]
struct ExportRow {
    path: String,
    cluster: u32,
}

#[test]
fn stored_images_cluster_by_histogram_and_export_round_trips() {
    let sb = Sandbox::new();
    let dir = sb.dir("images");
    let truth = colour_families(&dir, &[[200, 30, 30], [30, 180, 40], [40, 60, 200]], 6);
    let (out, summary) = sb.index_basic([&dir]);
    out.assert_code(0);
    assert_eq!(summary.indexed, 18);

    let out = sb.imgdex([
        "cluster",
        "--json",
        "--by",
        "histogram",
        "--k-range",
        "2..8",
        "--seed",
        "1",
    ]);
    out.assert_code(0);
    let r = out.json();
    assert_eq!(r["k"], 3, "{}", out.stdout);
    assert_eq!(r["saved"], true);
    assert_eq!(r["source"], "histogram");

    // CSV and JSON exports parse back to the same labels.
    let csv_out = sb.imgdex(["export", "clusters"]);
    csv_out.assert_code(0);
    let mut rdr = csv::Reader::from_reader(csv_out.stdout.as_bytes());
    assert_eq!(
        rdr.headers().unwrap().iter().collect::<Vec<_>>(),
        ["path", "cluster"]
    );
    let from_csv: Vec<ExportRow> = rdr.deserialize().map(|r| r.unwrap()).collect();
    let json_file = sb.root.join("clusters.json");
    sb.imgdex([
        "export",
        "clusters",
        "--format",
        "json",
        "--out",
        json_file.to_str().unwrap(),
    ])
    .assert_code(0);
    let from_json: Vec<ExportRow> =
        serde_json::from_str(&std::fs::read_to_string(&json_file).unwrap()).unwrap();
    assert_eq!(from_csv, from_json);
    assert_eq!(from_csv.len(), 18);
    let labels: Vec<u32> = from_csv.iter().map(|r| r.cluster).collect();
    let want: Vec<u32> = from_csv.iter().map(|r| truth[&r.path]).collect();
    assert!(ari(&labels, &want) >= 0.9, "{from_csv:?}");

    // The same seed reproduces the saved labels.
    sb.imgdex([
        "cluster",
        "--json",
        "--by",
        "histogram",
        "--k-range",
        "2..8",
        "--seed",
        "1",
    ])
    .assert_code(0);
    let again: Vec<ExportRow> =
        serde_json::from_str(&sb.imgdex(["export", "clusters", "--format", "json"]).stdout)
            .unwrap();
    assert_eq!(again, from_json);

    // Features as .npy plus the paths sidecar.
    let npy_path = sb.root.join("hist.npy");
    sb.imgdex([
        "export",
        "features",
        "--format",
        "npy",
        "--feature",
        "histogram",
        "--out",
        npy_path.to_str().unwrap(),
    ])
    .assert_code(0);
    let m = npy::read_f32(&npy_path).unwrap();
    assert_eq!(m.dim(), (18, 96));
    for row in m.rows() {
        let s: f32 = row.iter().sum();
        assert!((s - 3.0).abs() < 1e-3, "each channel sums to 1: {s}");
    }
    let listed = std::fs::read_to_string(sb.root.join("hist.paths.txt")).unwrap();
    assert_eq!(listed.lines().count(), 18);
    assert!(listed.lines().all(|l| truth.contains_key(l)));

    // Features as CSV: one row per image, hashes in hex.
    let out = sb.imgdex(["export", "features", "--feature", "hash"]);
    out.assert_code(0);
    let mut rdr = csv::Reader::from_reader(out.stdout.as_bytes());
    assert_eq!(
        rdr.headers().unwrap().iter().collect::<Vec<_>>(),
        ["path", "phash", "dhash", "ahash"]
    );
    let rows: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 18);
    assert!(rows
        .iter()
        .all(|r| r[1].len() == 16 && u64::from_str_radix(&r[1], 16).is_ok()));
}

#[test]
fn store_errors_are_clear() {
    let sb = Sandbox::new();
    let dir = sb.dir("images");
    colour_families(&dir, &[[200, 30, 30], [30, 180, 40]], 3);
    sb.index_basic([&dir]).0.assert_code(0);
    let expect = |args: &[&str], needle: &str| {
        let out = sb.imgdex(args);
        out.assert_code(2);
        assert!(
            out.stderr.contains(needle),
            "{args:?}: expected `{needle}` in\n{}",
            out.stderr
        );
    };
    expect(
        &["export", "clusters"],
        "no saved clustering; run `imgdex cluster` first",
    );
    expect(&["cluster", "--k", "2"], "no embedding features");
    expect(
        &["cluster", "--by", "histogram", "--k", "7"],
        "k = 7 is more than the 6 images with histogram features",
    );
    expect(&["export", "features", "--format", "npy"], "--out");
    expect(
        &["export", "clusters", "--format", "npy"],
        "invalid value 'npy'",
    );
    expect(&["classify", "train"], "no embedding features");
    expect(
        &["classify", "predict", dir.to_str().unwrap()],
        "no saved classifier",
    );
}
