//! `dupes` with CNN embeddings fused with hashes, on real photos (the CC0
//! fixtures) and their edited copies: flips, crops and borders, which the
//! hashes alone miss. Also the keeper choice and the HTML review page.

use std::path::PathBuf;

use crate::util::{self, Sandbox};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/models")
        .join(name)
}

/// Each photo plus a flipped, a cropped and a bordered copy; and distractors.
fn families(sb: &Sandbox) -> (PathBuf, Vec<Vec<String>>) {
    let dir = sb.dir("photos");
    let mut fams = Vec::new();
    for name in ["chelsea", "coffee"] {
        let img = image::open(fixture(&format!("{name}.jpg")))
            .unwrap()
            .to_rgb8();
        let (w, h) = img.dimensions();
        let orig = dir.join(format!("{name}.jpg"));
        std::fs::copy(fixture(&format!("{name}.jpg")), &orig).unwrap();
        let flip = dir.join(format!("{name}_flip.jpg"));
        util::write_jpeg(&flip, &image::imageops::flip_horizontal(&img), 85);
        let crop = dir.join(format!("{name}_crop.png"));
        let (cw, ch) = (w * 9 / 10, h * 9 / 10);
        util::write_png(
            &crop,
            &image::imageops::crop_imm(&img, (w - cw) / 2, (h - ch) / 2, cw, ch).to_image(),
        );
        let border = dir.join(format!("{name}_border.jpg"));
        let mut framed = image::RgbImage::from_pixel(w + 40, h + 40, image::Rgb([250, 250, 250]));
        image::imageops::overlay(&mut framed, &img, 20, 20);
        util::write_jpeg(&border, &framed, 90);
        let mut fam: Vec<String> = [orig, flip, crop, border]
            .iter()
            .map(|p| util::disp(p))
            .collect();
        fam.sort();
        fams.push(fam);
    }
    for seed in 0..4u64 {
        util::write_png(
            &dir.join(format!("scene{seed}.png")),
            &util::scene(seed + 70, 400, 300),
        );
    }
    (dir, fams)
}

/// `dupes --ann graph` reads the saved edge file (the forced graph runs
/// above saved it); without it, or with it damaged, `dupes` loads the
/// `hnsw_rs` graph, finds the same pairs with the same cosines, and writes
/// the file again. The judged vectors' temporary file is gone afterwards.
fn edge_file_gives_the_loaded_graphs_pairs(sb: &Sandbox) {
    let run = || {
        let out = sb.imgdex(["dupes", "--json", "--pairs", "--ann", "graph"]);
        out.assert_code(0);
        out.stdout
    };
    let gens: Vec<PathBuf> = std::fs::read_dir(sb.db().join("ann"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(gens.len(), 1, "{gens:?}");
    let file = gens[0].join("graph.edges");
    let good = std::fs::read(&file).expect("saved with the graph");
    let from_file = run();
    assert!(from_file.contains("\"cosine\": 0."), "{from_file}");
    std::fs::remove_file(&file).unwrap();
    assert_eq!(run(), from_file, "loaded graph, file missing");
    assert_eq!(std::fs::read(&file).unwrap(), good, "written again");
    let mut bad = good.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x01;
    std::fs::write(&file, &bad).unwrap();
    assert_eq!(run(), from_file, "loaded graph, file damaged");
    assert_eq!(std::fs::read(&file).unwrap(), good, "repaired");
    let left: Vec<_> = std::fs::read_dir(sb.db())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("dupes-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn embeddings_group_flips_crops_and_borders() {
    if util::no_model() {
        return;
    }
    let sb = Sandbox::new();
    let (dir, fams) = families(&sb);
    let (out, summary) = sb.index([dir.as_os_str()]);
    out.assert_code(0);
    assert_eq!(summary.indexed, 12);

    let report = sb.root.join("review.html");
    let out = sb.imgdex([
        "dupes".into(),
        "--json".into(),
        "--report".into(),
        report.clone().into_os_string(),
    ]);
    out.assert_code(0);
    let j = out.json();
    let groups: Vec<Vec<String>> = serde_json::from_value(j["groups"].clone()).unwrap();
    assert_eq!(
        groups, fams,
        "each photo grouped with exactly its three copies"
    );
    assert!(j["method"].as_str().unwrap().contains("knn"));
    // The HNSW paths (forced; this store is small enough for an exact scan)
    // find the same groups.
    for ann in ["graph", "search"] {
        assert_eq!(sb.dupes(&["--ann", ann]), fams, "--ann {ann}");
    }
    edge_file_gives_the_loaded_graphs_pairs(&sb);
    for d in j["details"].as_array().unwrap() {
        // The bordered copy is the largest picture, but framed: the
        // original is the suggested keeper.
        let keeper = d["keeper"].as_str().unwrap();
        assert!(
            keeper.ends_with("chelsea.jpg") || keeper.ends_with("coffee.jpg"),
            "{d}"
        );
        for m in d["members"].as_array().unwrap() {
            assert!(!m["reason"].as_str().unwrap().is_empty());
        }
    }

    // Hashes alone miss the flips.
    let hash_groups = sb.dupes(&["--by", "hash"]);
    assert!(
        hash_groups
            .iter()
            .all(|g| g.iter().all(|p| !p.ends_with("_flip.jpg"))),
        "{hash_groups:?}"
    );

    let html = std::fs::read_to_string(&report).expect("review page written");
    assert!(html.contains("data:image/jpeg;base64,"));
    for fam in &fams {
        for p in fam {
            assert!(
                html.contains(p.as_str()),
                "{p} missing from the review page"
            );
        }
    }
    // Nothing was deleted or moved.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 12);
}

#[test]
fn query_auto_ranks_by_embedding() {
    if util::no_model() {
        return;
    }
    let sb = Sandbox::new();
    let (dir, _) = families(&sb);
    sb.index([dir.as_os_str()]).0.assert_code(0);
    let hits = sb.query(&dir.join("chelsea_flip.jpg"), &["-k", "3"]);
    assert!(hits.iter().all(|h| h.path.contains("chelsea")), "{hits:?}");
    assert!(
        hits.iter().all(|h| h.distance < 1.0),
        "cosine distances: {hits:?}"
    );
}
