//! End-to-end runs of the binary on generated images with known
//! near-duplicate relations: index → info → query → dupes, histogram
//! fingerprint changes, and usage errors.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use image::DynamicImage;

use crate::util::*;

/// One base image and its derived near-duplicates.
struct Family {
    members: Vec<PathBuf>,
}

impl Family {
    fn names(&self) -> BTreeSet<String> {
        self.members.iter().map(|p| disp(p)).collect()
    }
}

/// Images with known relations, in `dir`:
/// - 4 families: `famN_base.png` (512x384), `famN_half.png` (50% resize),
///   `famN_q40.jpg` (JPEG quality 30..50) and `famN_bright.png` (+20%);
///   family 0 also has `fam0_copy.png`, a byte-identical copy of its base;
/// - 3 unrelated images in `dir/misc/`.
struct Collection {
    families: Vec<Family>,
    singles: Vec<PathBuf>,
    exact_pair: (PathBuf, PathBuf),
}

impl Collection {
    fn total(&self) -> usize {
        self.families.iter().map(|f| f.members.len()).sum::<usize>() + self.singles.len()
    }

    fn family_of(&self, p: &str) -> Option<usize> {
        self.families.iter().position(|f| f.names().contains(p))
    }
}

const FAMILY_SEEDS: [u64; 4] = [11, 22, 33, 44];
const SINGLE_SEEDS: [u64; 3] = [101, 202, 303];

fn make_collection(dir: &Path) -> Collection {
    let mut families = Vec::new();
    for (i, &seed) in FAMILY_SEEDS.iter().enumerate() {
        let base = scene(seed, 512, 384);
        let p = |suffix: &str| dir.join(format!("fam{i}_{suffix}"));
        let members = vec![p("base.png"), p("half.png"), p("q40.jpg"), p("bright.png")];
        write_png(&members[0], &base);
        write_png(&members[1], &resized(&base, 256, 192));
        write_jpeg(&members[2], &base, 30 + 6 * i as u8); // q30, q36, q42, q48
        write_png(&members[3], &brightened(&base, 1.2));
        families.push(Family { members });
    }
    let copy = dir.join("fam0_copy.png");
    std::fs::copy(&families[0].members[0], &copy).expect("copy");
    families[0].members.push(copy.clone());
    let singles = SINGLE_SEEDS
        .iter()
        .map(|&seed| {
            let p = dir.join("misc").join(format!("single_{seed}.png"));
            write_png(&p, &scene(seed, 480, 360));
            p
        })
        .collect();
    let exact_pair = (families[0].members[0].clone(), copy);
    Collection {
        families,
        singles,
        exact_pair,
    }
}

#[test]
fn index_info_query_dupes_on_generated_families() {
    let sb = Sandbox::new();
    let imgs = sb.dir("imgs");
    let c = make_collection(&imgs);
    let n = c.total();
    assert_eq!(n, 20);

    // index
    let (out, s) = sb.index_basic([&imgs]);
    out.assert_code(0);
    assert_eq!(s.indexed, n, "{}", out.describe());
    assert_eq!((s.unchanged, s.removed, s.repaired), (0, 0, 0));
    assert!(s.failed.is_empty(), "unexpected failures: {:?}", s.failed);
    assert!(
        s.skipped_files.is_empty(),
        "unexpected skips: {:?}",
        s.skipped_files
    );

    // info
    let info = sb.info();
    assert_eq!(info.images, n);
    assert!(info.schema_version >= 1);
    assert_eq!(info.schema_version, imgdex::migrations::CURRENT_VERSION);
    assert_eq!(info.features.hash, n);
    assert_eq!(info.features.histogram, n);
    assert_eq!(info.corrupt, 0);
    assert_eq!(
        info.fingerprints.get("histogram").map(String::as_str),
        Some("rgb-32-l1norm-v2/work256-box2x-bilinear")
    );
    assert!(
        info.fingerprints.contains_key("hash"),
        "{:?}",
        info.fingerprints
    );

    // query with an indexed derived copy: its relatives come first, close.
    for (fi, fam) in c.families.iter().enumerate() {
        let probe = &fam.members[2]; // the JPEG re-encode
        let hits = sb.query_basic(probe, &["--by", "hash", "-k", "3"]);
        assert_eq!(hits.len(), 3, "{hits:?}");
        let relatives: BTreeSet<String> = fam
            .names()
            .into_iter()
            .filter(|p| *p != disp(probe))
            .collect();
        for h in &hits {
            assert!(
                relatives.contains(&h.path),
                "family {fi}: {} is not a relative of {}: {hits:?}",
                h.path,
                probe.display()
            );
            assert!(
                h.distance <= 4.0,
                "family {fi}: near-duplicate {} too far: {hits:?}",
                h.path
            );
        }
        assert!(
            hits.iter().all(|h| h.path != disp(probe)),
            "query returned the query image itself"
        );
        assert!(
            hits.windows(2).all(|w| w[0].distance <= w[1].distance),
            "not sorted: {hits:?}"
        );

        // Full ranking: every relative ranks before every unrelated image.
        let all = sb.query_basic(probe, &["--by", "hash", "-k", "100"]);
        assert_eq!(all.len(), n - 1, "every other stored image is ranked once");
        let k = relatives.len();
        let head: BTreeSet<String> = all[..k].iter().map(|h| h.path.clone()).collect();
        assert_eq!(
            head, relatives,
            "family {fi}: relatives are not the top {k}: {all:?}"
        );
        assert!(
            all[k].distance > all[k - 1].distance,
            "unrelated image ties with a relative: {all:?}"
        );
        assert!(
            all[k].distance >= 8.0,
            "unrelated image suspiciously close: {all:?}"
        );
    }

    // query with images that are not in the store
    let outside = sb.dir("outside");
    let probe = outside.join("fam2_variant.jpg");
    write_jpeg(
        &probe,
        &resized(&scene(FAMILY_SEEDS[2], 512, 384), 460, 345),
        45,
    );
    let hits = sb.query_basic(&probe, &["--by", "hash", "-k", "5"]);
    assert_eq!(
        hits.len(),
        5,
        "nothing excluded for an image outside the store"
    );
    for h in &hits[..4] {
        assert_eq!(c.family_of(&h.path), Some(2), "{hits:?}");
    }
    assert_eq!(c.family_of(&hits[4].path), None, "{hits:?}");

    let stranger = outside.join("stranger.png");
    write_png(&stranger, &scene(999, 400, 300));
    let hits = sb.query_basic(&stranger, &["--by", "hash", "-k", "1"]);
    assert_eq!(hits.len(), 1);
    assert!(
        hits[0].distance >= 8.0,
        "an unrelated image is reported as a near-duplicate: {hits:?}"
    );

    // dupes by hash: exactly the four families
    let groups = sb.dupes(&["--by", "hash"]);
    let got: BTreeSet<BTreeSet<String>> =
        groups.iter().map(|g| g.iter().cloned().collect()).collect();
    let want: BTreeSet<BTreeSet<String>> = c.families.iter().map(Family::names).collect();
    assert_eq!(got, want, "dupes groups differ from the known families");
    for s in &c.singles {
        assert!(
            !groups.iter().flatten().any(|p| *p == disp(s)),
            "unrelated {} grouped",
            s.display()
        );
    }
    for g in &groups {
        let mut sorted = g.clone();
        sorted.sort();
        assert_eq!(&sorted, g, "group paths are sorted");
    }

    // dupes by exact content: only the byte-identical pair
    let exact = sb.dupes(&["--by", "exact"]);
    assert_eq!(
        exact,
        vec![vec![disp(&c.exact_pair.0), disp(&c.exact_pair.1)]]
    );

    // A threshold of 0 bits still groups byte-identical (hence hash-identical)
    // files, and a stricter threshold only splits groups, never merges them.
    let strict = sb.dupes(&["--by", "hash", "--threshold", "0"]);
    assert!(
        strict
            .iter()
            .any(|g| g.contains(&disp(&c.exact_pair.0)) && g.contains(&disp(&c.exact_pair.1))),
        "{strict:?}"
    );
    for g in &strict {
        let g: BTreeSet<String> = g.iter().cloned().collect();
        assert!(
            want.iter().any(|f| g.is_subset(f)),
            "threshold 0 group {g:?} is not within one family"
        );
    }
    // A threshold of 64 bits makes every pair a candidate; verification
    // still keeps each group within one family (no chaining, and
    // different pictures are not copies).
    let loose = sb.dupes(&["--by", "hash", "--threshold", "64"]);
    assert!(!loose.is_empty() && loose.iter().map(Vec::len).sum::<usize>() <= n);
    for g in &loose {
        let g: BTreeSet<String> = g.iter().cloned().collect();
        assert!(
            want.iter().any(|f| g.is_subset(f)),
            "threshold 64 group {g:?} is not within one family"
        );
    }
}

#[test]
fn human_readable_output_without_json() {
    let sb = Sandbox::new();
    let imgs = sb.dir("imgs");
    write_png(&imgs.join("a.png"), &scene(1, 320, 240));
    write_png(&imgs.join("b.png"), &brightened(&scene(1, 320, 240), 1.2));
    write_png(&imgs.join("c.png"), &scene(2, 320, 240));

    let mut args = vec![Path::new("index"), imgs.as_path()];
    args.extend(no_embed_flag().iter().map(Path::new));
    let out = sb.imgdex(&args);
    out.assert_code(0);
    assert!(
        out.stdout.contains("indexed 3, unchanged 0, removed 0"),
        "{}",
        out.describe()
    );

    let out = sb.imgdex(["info"]);
    out.assert_code(0);
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("images:") && l.trim_end().ends_with(" 3")),
        "{}",
        out.describe()
    );
    // Roots and sizes come before the fingerprint strings.
    let at = |p: &str| {
        out.stdout
            .find(p)
            .unwrap_or_else(|| panic!("{p}: {}", out.stdout))
    };
    assert!(at("root:") < at("fingerprint:"), "{}", out.stdout);
    assert!(at("store size:") < at("fingerprint:"), "{}", out.stdout);

    let out = sb.imgdex(["dupes", "--by", "hash"]);
    out.assert_code(0);
    assert!(
        out.stdout.contains("group 1 (2 images"),
        "{}",
        out.describe()
    );
    assert!(
        out.stdout.contains(&disp(&imgs.join("a.png")))
            && out.stdout.contains(&disp(&imgs.join("b.png")))
    );
    assert!(
        !out.stdout.contains(&disp(&imgs.join("c.png"))),
        "{}",
        out.describe()
    );
}

#[test]
fn changing_histogram_bins_reindexes_everything() {
    let sb = Sandbox::new();
    let imgs = sb.dir("imgs");
    let seeds = [5u64, 6, 7, 8, 9];
    for s in seeds {
        write_png(&imgs.join(format!("img{s}.png")), &scene(s, 400, 300));
    }
    let n = seeds.len();

    let (out, s) = sb.index_basic([&imgs]);
    out.assert_code(0);
    assert_eq!(s.indexed, n);
    let before = sb.info();
    assert_eq!(
        before.fingerprints.get("histogram").map(String::as_str),
        Some("rgb-32-l1norm-v2/work256-box2x-bilinear")
    );

    let (out, s) = sb.index_basic([imgs.as_os_str(), "--bins".as_ref(), "16".as_ref()]);
    out.assert_code(0);
    assert_eq!(
        (s.indexed, s.unchanged),
        (n, 0),
        "a new histogram layout must re-index every image"
    );

    let info = sb.info();
    assert_eq!(info.images, n);
    assert_eq!(info.features.histogram, n);
    assert_eq!(
        info.fingerprints.get("histogram").map(String::as_str),
        Some("rgb-16-l1norm-v2/work256-box2x-bilinear")
    );
    assert_eq!(
        info.fingerprints.get("hash"),
        before.fingerprints.get("hash"),
        "hash fingerprint unchanged"
    );

    // Same settings again: nothing to do.
    let (_, s) = sb.index_basic([imgs.as_os_str(), "--bins".as_ref(), "16".as_ref()]);
    assert_eq!((s.indexed, s.unchanged), (0, n));

    // A histogram query is analysed with the stored layout (16 bins).
    let probe = sb.dir("outside").join("copy_of_img7.png");
    std::fs::copy(imgs.join("img7.png"), &probe).expect("copy");
    let hits = sb.query_basic(&probe, &["--by", "histogram", "-k", "10"]);
    assert_eq!(
        hits.len(),
        n,
        "every stored histogram is comparable: {hits:?}"
    );
    assert_eq!(hits[0].path, disp(&imgs.join("img7.png")));
    assert!(hits[0].distance < 1e-3, "{hits:?}");
    assert!(
        hits.iter().all(|h| (0.0..=1.0).contains(&h.distance)),
        "{hits:?}"
    );
    assert!(hits[1].distance > hits[0].distance);

    // Hash queries are unaffected by the histogram layout.
    let hits = sb.query_basic(&probe, &["--by", "hash", "-k", "1"]);
    assert_eq!(hits[0].path, disp(&imgs.join("img7.png")));
    assert_eq!(hits[0].distance, 0.0);
}

#[test]
fn usage_errors_exit_with_code_2() {
    let sb = Sandbox::new();
    let img = sb.dir("imgs").join("a.png");
    write_png(&img, &scene(3, 300, 200));

    // Readers never create a store.
    let missing = sb.root.join("no-such-store");
    for args in [vec!["info", "--json"], vec!["dupes"]] {
        let out = imgdex(&missing, &args);
        out.assert_code(2);
        assert!(
            out.stderr.contains("no imgdex store"),
            "{args:?}: {}",
            out.describe()
        );
        assert!(out.stdout.is_empty(), "{args:?}: {}", out.describe());
    }
    let mut args = vec![Path::new("query"), img.as_path()];
    args.extend(no_embed_for("query").iter().map(Path::new));
    let out = imgdex(&missing, &args);
    out.assert_code(2);
    assert!(out.stderr.contains("no imgdex store"), "{}", out.describe());
    assert!(
        !missing.exists(),
        "a read-only command created the store directory"
    );

    // Now a real store for the argument checks.
    let (out, _) = sb.index_basic([img.parent().unwrap()]);
    out.assert_code(0);

    let out = sb.imgdex(["dupes", "--by", "hash", "--threshold", "99"]);
    out.assert_code(2);
    assert!(out.stderr.contains("threshold"), "{}", out.describe());

    let mut args = vec![
        Path::new("query"),
        Path::new("-k"),
        Path::new("0"),
        img.as_path(),
    ];
    args.extend(no_embed_for("query").iter().map(Path::new));
    let out = sb.imgdex(&args);
    out.assert_code(2);

    let mut args = vec![
        Path::new("index"),
        Path::new("--bins"),
        Path::new("1"),
        img.parent().unwrap(),
    ];
    args.extend(no_embed_flag().iter().map(Path::new));
    let out = sb.imgdex(&args);
    out.assert_code(2);
    assert!(out.stderr.contains("bins"), "{}", out.describe());

    let mut args = vec!["query", "/no/such/image.png"];
    args.extend(no_embed_for("query"));
    let out = sb.imgdex(&args);
    out.assert_code(2);

    let out = sb.imgdex(["index"]);
    out.assert_code(2);

    let out = sb.imgdex(["frobnicate"]);
    out.assert_code(2);

    let out = sb.imgdex(["dupes", "--by", "colour"]);
    out.assert_code(2);

    // None of that touched the store.
    assert_eq!(sb.info().images, 1);
}

/// `inspect` reports format, size, digest and a normalised histogram, and
/// needs no store; `--plot` writes a PNG.
#[test]
fn inspect_needs_no_store() {
    let sb = Sandbox::new();
    let img = sb.root.join("x.png");
    let pic = scene(77, 300, 200);
    write(&img, &png_bytes(&DynamicImage::ImageRgb8(pic)));
    let r = inspect(&img, &[]);
    assert_eq!((r.width, r.height), (300, 200));
    assert_eq!(r.format, "png");
    assert_eq!(r.path, disp(&img));
    assert_eq!(r.digest, blake3_hex(&std::fs::read(&img).unwrap()));
    assert_eq!(r.histogram.bins, 32);
    for ch in [&r.histogram.r, &r.histogram.g, &r.histogram.b] {
        assert_eq!(ch.len(), 32);
        let sum: f32 = ch.iter().sum();
        assert!((sum - 1.0).abs() < 1e-3, "channel histogram sums to {sum}");
    }
    assert!(!Path::new("/nonexistent/imgdex-it-db").exists());

    // --plot writes a PNG
    let plot = sb.root.join("plot.png");
    let mut args = vec![
        Path::new("inspect"),
        img.as_path(),
        Path::new("--plot"),
        plot.as_path(),
    ];
    args.extend(no_embed_for("inspect").iter().map(Path::new));
    let out = imgdex(&sb.db(), &args);
    out.assert_code(0);
    let bytes = std::fs::read(&plot).expect("plot written");
    assert_eq!(
        image::guess_format(&bytes).ok(),
        Some(image::ImageFormat::Png)
    );
}

fn blake3_hex(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

#[test]
fn imgdex_db_environment_variable_selects_the_store() {
    let sb = Sandbox::new();
    let imgs = sb.dir("imgs");
    write_png(&imgs.join("a.png"), &scene(61, 320, 240));
    let (out, _) = sb.index_basic([&imgs]);
    out.assert_code(0);

    let mut cmd = std::process::Command::new(BIN);
    cmd.env("IMGDEX_DB", sb.db()).args(["info", "--json"]);
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let out = run_with_timeout(cmd, vec!["info".into()], RUN_TIMEOUT);
    out.assert_code(0);
    assert_eq!(out.parse::<Info>().images, 1);
}

#[test]
fn files_inside_the_store_directory_are_not_indexed() {
    let sb = Sandbox::new();
    let root = sb.dir("photos");
    write_png(&root.join("a.png"), &scene(62, 320, 240));
    // The store lives inside the folder being indexed, and holds an image.
    let db = root.join(".imgdex");
    write_png(&db.join("stray.png"), &scene(63, 320, 240));

    let mut args = vec![
        std::ffi::OsString::from("index"),
        "--json".into(),
        root.clone().into(),
    ];
    args.extend(no_embed_flag().iter().map(std::ffi::OsString::from));
    let out = imgdex(&db, &args);
    out.assert_code(0);
    let s: IndexSummary = out.parse();
    assert_eq!(s.indexed, 1, "{}", out.describe());
    assert!(
        s.failed.is_empty() && s.skipped_files.is_empty(),
        "{}",
        out.describe()
    );

    // Also when the store is named by a non-canonical path.
    let indirect = root.join("..").join("photos").join(".imgdex");
    let out = imgdex(&indirect, &args);
    out.assert_code(0);
    let s: IndexSummary = out.parse();
    assert_eq!((s.indexed, s.unchanged), (0, 1), "{}", out.describe());
}

#[test]
fn an_error_says_its_os_message_once() {
    let sb = Sandbox::new();
    let missing = sb.root.join("missing.png");
    let out = imgdex(
        &sb.db(),
        [std::ffi::OsStr::new("inspect"), missing.as_os_str()],
    );
    out.assert_code(2);
    let os = "No such file or directory (os error 2)";
    assert_eq!(out.stderr.matches(os).count(), 1, "{}", out.stderr);
}
