//! Shared helpers: deterministic image generation, hand-written file
//! formats, running the `imgdex` binary with a timeout, and typed views of
//! its `--json` reports.

#![allow(dead_code)]

use std::ffi::{OsStr, OsString};
use std::io::{Cursor, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::{CompressionType, FilterType as PngFilter, PngEncoder};
use image::imageops::FilterType;
use image::{DynamicImage, ImageEncoder, ImageFormat, RgbImage};
use serde::Deserialize;

// ---------------------------------------------------------------------------
// Temporary work area
// ---------------------------------------------------------------------------

/// A temporary directory with a canonical (symlink-free) path, so that paths
/// reported by imgdex (which canonicalises its roots) compare equal.
pub struct Sandbox {
    _tmp: tempfile::TempDir,
    pub root: PathBuf,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let tmp = tempfile::Builder::new()
            .prefix("imgdex-it-")
            .tempdir()
            .expect("tempdir");
        let root = std::fs::canonicalize(tmp.path()).expect("canonicalize tempdir");
        Sandbox { _tmp: tmp, root }
    }

    /// The store directory (`<root>/db`).
    pub fn db(&self) -> PathBuf {
        self.root.join("db")
    }

    /// A sub-directory of the sandbox, created if needed.
    pub fn dir(&self, name: &str) -> PathBuf {
        let d = self.root.join(name);
        std::fs::create_dir_all(&d).expect("create dir");
        d
    }

    /// Run `imgdex --db <root>/db ARGS...`.
    pub fn imgdex<I, S>(&self, args: I) -> Out
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        imgdex(&self.db(), args)
    }

    /// `index --json DIR...` (any extra flags can be given in `args`).
    pub fn index<I, S>(&self, args: I) -> (Out, IndexSummary)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut a: Vec<OsString> = vec!["index".into(), "--json".into()];
        a.extend(args.into_iter().map(|s| s.as_ref().to_os_string()));
        let out = self.imgdex(&a);
        let summary = out.parse::<IndexSummary>();
        (out, summary)
    }

    /// `index --json` with CNN embeddings turned off (`--no-embed`, when this
    /// build has the flag), so that a test needs no model files and stays
    /// fast. Hash/histogram behaviour is the same either way.
    pub fn index_basic<I, S>(&self, args: I) -> (Out, IndexSummary)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut a: Vec<OsString> = no_embed_flag().iter().map(OsString::from).collect();
        a.extend(args.into_iter().map(|s| s.as_ref().to_os_string()));
        self.index(a)
    }

    /// `query --json IMAGE [ARGS]` without CNN embeddings (see [`no_embed_for`]),
    /// asserting success; for `--by hash` and `--by histogram`.
    pub fn query_basic(&self, image: &Path, args: &[&str]) -> Vec<Hit> {
        let mut a = no_embed_for("query").to_vec();
        a.extend_from_slice(args);
        self.query(image, &a)
    }

    /// `info --json`, asserting success.
    pub fn info(&self) -> Info {
        let out = self.imgdex(["info", "--json"]);
        out.assert_code(0);
        out.parse()
    }

    /// `dupes --json [ARGS]`, asserting success; returns the groups.
    pub fn dupes(&self, args: &[&str]) -> Vec<Vec<String>> {
        let mut a = vec!["dupes", "--json"];
        a.extend_from_slice(args);
        let out = self.imgdex(&a);
        out.assert_code(0);
        out.parse::<Dupes>().groups
    }

    /// `query --json IMAGE [ARGS]`, asserting success.
    pub fn query(&self, image: &Path, args: &[&str]) -> Vec<Hit> {
        let mut a: Vec<OsString> = vec!["query".into(), "--json".into(), image.into()];
        a.extend(args.iter().map(OsString::from));
        let out = self.imgdex(&a);
        out.assert_code(0);
        out.parse()
    }
}

// ---------------------------------------------------------------------------
// Test tiers: what a test needs beyond the build
// ---------------------------------------------------------------------------

/// The model directory every test uses: `$IMGDEX_MODELS` when set (as the
/// library's default does), else `models/` of this source tree; spawned
/// commands get it, and its ONNX Runtime library, set explicitly.
pub fn models_dir() -> PathBuf {
    imgdex::features::embedding::EmbedConfig::default_dir()
}

/// Whether the model and ONNX Runtime (installed by `scripts/setup`) are there.
pub fn model_available() -> bool {
    let dir = models_dir();
    // The float model and its int8 quantisation, the default.
    dir.join(FLOAT_MODEL).is_file()
        && dir.join(INT8_MODEL).is_file()
        && dir.join("libonnxruntime.so").is_file()
}

/// Report a test skipped for a missing prerequisite on stderr ("SKIPPED:
/// reason"); with `IMGDEX_REQUIRE_ALL=1` (set by `scripts/test`, which
/// installs everything) a skip is a failure instead.
pub fn skip(reason: &str) {
    if std::env::var_os("IMGDEX_REQUIRE_ALL").is_some_and(|v| v == "1") {
        panic!("{reason}, and IMGDEX_REQUIRE_ALL=1 forbids skipping");
    }
    // Straight to the process's stderr: the test harness captures
    // `eprintln!` of a passing test, and a skip must be seen.
    let test = std::thread::current().name().unwrap_or("?").to_string();
    let _ = writeln!(std::io::stderr(), "SKIPPED: {test}: {reason}");
}

/// The model files `scripts/setup` writes: the int8 one (the default) and
/// the float one it is made from.
pub use imgdex::features::embedding::{DEFAULT_MODEL as INT8_MODEL, FLOAT_MODEL};

/// Skip (visibly) when the int8 model is missing.
pub fn no_int8_model() -> bool {
    let path = models_dir().join(INT8_MODEL);
    if path.is_file() {
        return false;
    }
    skip(&format!(
        "int8 model missing: {} (run `bash scripts/setup`)",
        path.display()
    ));
    true
}

/// `true` (after [`skip`]) when the model is missing: the test returns.
pub fn no_model() -> bool {
    if model_available() {
        return false;
    }
    skip(&format!(
        "model assets missing in {} (run `bash scripts/setup`)",
        models_dir().display()
    ));
    true
}

// ---------------------------------------------------------------------------
// Running the binary
// ---------------------------------------------------------------------------

pub const BIN: &str = env!("CARGO_BIN_EXE_imgdex");

/// No single invocation in this suite should take anywhere near this long;
/// it only turns a hang (e.g. opening a FIFO) into a test failure.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// The outcome of one run of the binary.
#[derive(Debug)]
pub struct Out {
    pub args: Vec<OsString>,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "unexpected exit code for imgdex {:?}\n{}",
            self.args,
            self.describe()
        );
        self
    }

    pub fn describe(&self) -> String {
        format!(
            "--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout, self.stderr
        )
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout of imgdex {:?} is not JSON ({e})\n{}",
                self.args,
                self.describe()
            )
        })
    }

    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout of imgdex {:?} does not parse as {} ({e})\n{}",
                self.args,
                std::any::type_name::<T>(),
                self.describe()
            )
        })
    }
}

/// A `Command` for the binary with `--db DB`, no inherited `IMGDEX_DB`, and
/// the model and ONNX Runtime library set explicitly ([`models_dir`]).
pub fn command(db: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_remove("IMGDEX_DB").arg("--db").arg(db);
    cmd.env("IMGDEX_MODELS", models_dir())
        .env("ORT_DYLIB_PATH", models_dir().join("libonnxruntime.so"));
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Run the binary with `--db DB ARGS...`, with a timeout.
pub fn imgdex<I, S>(db: &Path, args: I) -> Out
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<OsString> = args
        .into_iter()
        .map(|s| s.as_ref().to_os_string())
        .collect();
    let mut cmd = command(db);
    cmd.args(&args);
    run_with_timeout(cmd, args, RUN_TIMEOUT)
}

/// Run the binary with `--db DB ARGS...` and extra environment variables.
pub fn imgdex_env(db: &Path, env: &[(&str, &str)], args: &[&OsStr]) -> Out {
    let mut cmd = command(db);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let args = args.iter().map(|a| a.to_os_string()).collect();
    run_with_timeout(cmd, args, RUN_TIMEOUT)
}

/// Run a prepared command, collecting its output; kill it and panic if it
/// outlives `timeout`.
pub fn run_with_timeout(mut cmd: Command, args: Vec<OsString>, timeout: Duration) -> Out {
    let mut child = cmd.spawn().expect("spawn imgdex");
    let (out_h, err_h) = drain(&mut child);
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for imgdex") {
            break st;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!("imgdex {args:?} did not finish within {timeout:?} (hang?)");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Out {
        args,
        code: status.code(),
        stdout: out_h.join().expect("stdout reader"),
        stderr: err_h.join().expect("stderr reader"),
    }
}

type Reader = std::thread::JoinHandle<String>;

/// Read a child's stdout and stderr on two threads (so neither pipe fills).
pub fn drain(child: &mut Child) -> (Reader, Reader) {
    fn reader(mut r: impl Read + Send + 'static) -> Reader {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            String::from_utf8_lossy(&v).into_owned()
        })
    }
    let out = child.stdout.take().expect("piped stdout");
    let err = child.stderr.take().expect("piped stderr");
    (reader(out), reader(err))
}

/// True when `imgdex SUBCOMMAND --help` lists `flag` (cached).
pub fn has_flag(subcommand: &str, flag: &str) -> bool {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static HELP: Mutex<Option<HashMap<String, String>>> = Mutex::new(None);
    let mut cache = HELP.lock().unwrap_or_else(|e| e.into_inner());
    let help = cache
        .get_or_insert_with(HashMap::new)
        .entry(subcommand.to_string())
        .or_insert_with(|| {
            let out = Command::new(BIN)
                .args([subcommand, "--help"])
                .output()
                .expect("run imgdex --help");
            String::from_utf8_lossy(&out.stdout).into_owned()
        });
    help.contains(flag)
}

/// `["--no-embed"]` when this build's `SUBCOMMAND` has that flag (CNN
/// embeddings), else nothing: tests of hashes and histograms need no model.
pub fn no_embed_for(subcommand: &str) -> &'static [&'static str] {
    if has_flag(subcommand, "--no-embed") {
        &["--no-embed"]
    } else {
        &[]
    }
}

/// [`no_embed_for`] `index`.
pub fn no_embed_flag() -> &'static [&'static str] {
    no_embed_for("index")
}

/// True when this process runs as root (which can read chmod-000 files).
pub fn running_as_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

// ---------------------------------------------------------------------------
// Typed views of the JSON reports
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Issue {
    pub path: String,
    pub error: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct IndexSummary {
    pub indexed: usize,
    pub unchanged: usize,
    pub removed: usize,
    pub skipped: usize,
    pub failed: Vec<Issue>,
    pub skipped_files: Vec<Issue>,
    pub repaired: usize,
    #[serde(default)]
    pub kept_stale: usize,
    #[serde(default)]
    pub embedding_changed: Option<EmbeddingChange>,
}

/// `index`'s note that the store's embeddings came from another model.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct EmbeddingChange {
    pub from: Option<String>,
    pub to: String,
    pub images: usize,
}

impl IndexSummary {
    /// The failure entries whose path is `p`.
    pub fn failures_for(&self, p: &Path) -> Vec<&Issue> {
        let s = p.to_string_lossy();
        self.failed.iter().filter(|f| f.path == s).collect()
    }

    pub fn skips_for(&self, p: &Path) -> Vec<&Issue> {
        let s = p.to_string_lossy();
        self.skipped_files.iter().filter(|f| f.path == s).collect()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct FeatureCounts {
    pub hash: usize,
    pub histogram: usize,
    #[serde(default)]
    pub embedding: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Info {
    pub images: usize,
    pub schema_version: u32,
    pub fingerprints: std::collections::BTreeMap<String, String>,
    pub features: FeatureCounts,
    pub corrupt: usize,
    #[serde(default)]
    pub stale: usize,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Hit {
    pub path: String,
    pub distance: f64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Dupes {
    pub groups: Vec<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct HashesHex {
    pub phash: String,
    pub dhash: String,
    pub ahash: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HistogramReport {
    pub bins: u16,
    pub r: Vec<f32>,
    pub g: Vec<f32>,
    pub b: Vec<f32>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Inspect {
    pub path: String,
    pub format: String,
    pub width: u32,
    pub height: u32,
    pub digest: String,
    pub hashes: HashesHex,
    pub histogram: HistogramReport,
}

/// `inspect --json IMAGE [ARGS]` (needs no store; no CNN embedding),
/// asserting success.
pub fn inspect(image: &Path, args: &[&str]) -> Inspect {
    let mut a: Vec<OsString> = vec!["inspect".into(), "--json".into(), image.into()];
    a.extend(no_embed_for("inspect").iter().map(OsString::from));
    a.extend(args.iter().map(OsString::from));
    // inspect never opens the store, but give it a db path that cannot exist.
    let out = imgdex(Path::new("/nonexistent/imgdex-it-db"), &a);
    out.assert_code(0);
    out.parse()
}

/// Hamming distance between two hex-encoded 64-bit hashes.
pub fn hex_distance(a: &str, b: &str) -> u32 {
    let a = u64::from_str_radix(a, 16).expect("hex hash");
    let b = u64::from_str_radix(b, 16).expect("hex hash");
    (a ^ b).count_ones()
}

/// Display form of a path, as imgdex reports it.
pub fn disp(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

// ---------------------------------------------------------------------------
// Deterministic image content
// ---------------------------------------------------------------------------

/// A tiny 64-bit LCG (Knuth's MMIX constants): deterministic, seedable.
pub struct Lcg(u64);

impl Lcg {
    pub fn new(seed: u64) -> Lcg {
        let mut l = Lcg(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03);
        l.next_u32();
        l
    }

    pub fn next_u32(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }

    /// Uniform in `lo..hi` (hi exclusive).
    pub fn range(&mut self, lo: u32, hi: u32) -> u32 {
        lo + self.next_u32() % (hi - lo)
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| (self.next_u32() >> 7) as u8).collect()
    }
}

/// `scene(seed, w, h)` with fine texture, as a photo has: every channel
/// raised by a uniform 0..24 drawn from `noise`.
pub fn textured_scene(seed: u64, w: u32, h: u32, noise: u64) -> RgbImage {
    let mut img = scene(seed, w, h);
    let mut rng = Lcg::new(noise);
    for p in img.pixels_mut() {
        let n = rng.range(0, 24) as u8;
        p.0 = p.0.map(|c| c.saturating_add(n));
    }
    img
}

/// Sets a file's modification time.
pub fn set_mtime(p: &Path, t: std::time::SystemTime) {
    let f = std::fs::File::options()
        .write(true)
        .open(p)
        .expect("open for set_modified");
    f.set_modified(t).expect("set mtime");
}

/// `index` of `dir` then `dupes --json`, which must find exactly one group:
/// its detail (keeper, members with their reasons).
pub fn only_group(sb: &Sandbox, dir: &Path) -> serde_json::Value {
    let (out, _) = sb.index_basic([dir.as_os_str()]);
    out.assert_code(0);
    let out = sb.imgdex(["dupes", "--json"]);
    out.assert_code(0);
    let j = out.json();
    let details = j["details"].as_array().unwrap();
    assert_eq!(details.len(), 1, "{j}");
    details[0].clone()
}

/// The reason of the member of `group` whose path ends with `name`.
pub fn member_reason(group: &serde_json::Value, name: &str) -> String {
    let m = group["members"].as_array().unwrap().iter();
    let m = m
        .clone()
        .find(|m| m["path"].as_str().unwrap().ends_with(name));
    let m = m.unwrap_or_else(|| panic!("{name} not in {group}"));
    m["reason"].as_str().unwrap().to_string()
}

/// A seeded synthetic "photo": a two-colour linear gradient, a coarse grid
/// of random tiles, and random filled rectangles and discs. Channel values
/// stay within 20..=200, so brightening by 20% never clips (hashes stay put),
/// while different seeds give unrelated large-scale structure (hashes far apart).
pub fn scene(seed: u64, w: u32, h: u32) -> RgbImage {
    let mut rng = Lcg::new(seed);
    let col = |rng: &mut Lcg| {
        [
            rng.range(20, 201) as u8,
            rng.range(20, 201) as u8,
            rng.range(20, 201) as u8,
        ]
    };
    let c0 = col(&mut rng);
    let c1 = col(&mut rng);
    // Coarse tiles (4x3), blended with a gradient in one of four directions.
    let tiles: Vec<[u8; 3]> = (0..12).map(|_| col(&mut rng)).collect();
    let direction = rng.range(0, 4);
    let (wu, hu) = (w as usize, h as usize);
    let mut buf = vec![0u8; wu * hu * 3];
    let tile_col: Vec<usize> = (0..wu).map(|x| x * 4 / wu).collect();
    for (y, row) in buf.chunks_exact_mut(wu * 3).enumerate() {
        let fy = y as f32 / h as f32;
        let tile_row = (y * 3 / hu) * 4;
        for (x, px) in row.chunks_exact_mut(3).enumerate() {
            let fx = x as f32 / w as f32;
            let t = match direction {
                0 => fx,
                1 => fy,
                2 => (fx + fy) / 2.0,
                _ => (fx + 1.0 - fy) / 2.0,
            };
            let tile = tiles[tile_row + tile_col[x]];
            for c in 0..3 {
                let g = c0[c] as f32 * (1.0 - t) + c1[c] as f32 * t;
                px[c] = (0.5 * g + 0.5 * tile[c] as f32 + 0.5) as u8;
            }
        }
    }
    // Filled rectangles and ellipses ("discs"), drawn span by span.
    let shapes = rng.range(5, 10);
    for _ in 0..shapes {
        let c = col(&mut rng);
        let cx = rng.range(0, w) as f64;
        let cy = rng.range(0, h) as f64;
        let rw = rng.range(w / 12, w / 4) as f64;
        let rh = rng.range(h / 12, h / 4) as f64;
        let disc = rng.next_u32().is_multiple_of(2);
        let y0 = (cy - rh).max(0.0) as usize;
        let y1 = ((cy + rh) as usize).min(hu);
        for y in y0..y1 {
            let half = if disc {
                let dy = (y as f64 - cy) / rh;
                rw * (1.0 - dy * dy).max(0.0).sqrt()
            } else {
                rw
            };
            let x0 = (cx - half).ceil().max(0.0) as usize;
            let x1 = ((cx + half).floor() as usize + 1).min(wu);
            if x0 >= x1 {
                continue;
            }
            for px in buf[(y * wu + x0) * 3..(y * wu + x1) * 3].chunks_exact_mut(3) {
                px.copy_from_slice(&c);
            }
        }
    }
    RgbImage::from_raw(w, h, buf).expect("buffer size")
}

/// Resized copy (e.g. 50%).
/// `names` in `dir`, each a distinct 200×160 [`scene`] PNG (seeds from `seed`).
pub fn scene_pngs(dir: &Path, names: &[&str], seed: u64) -> Vec<PathBuf> {
    names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let p = dir.join(n);
            write_png(&p, &scene(seed + i as u64, 200, 160));
            p
        })
        .collect()
}

pub fn resized(img: &RgbImage, w: u32, h: u32) -> RgbImage {
    image::imageops::resize(img, w, h, FilterType::Triangle)
}

/// Every channel multiplied by `factor` (clamped).
pub fn brightened(img: &RgbImage, factor: f32) -> RgbImage {
    let mut out = img.clone();
    for p in out.pixels_mut() {
        for c in 0..3 {
            p[c] = (p[c] as f32 * factor).round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

/// Rotated 90° clockwise.
pub fn rotated90(img: &RgbImage) -> RgbImage {
    image::imageops::rotate90(img)
}

// ---------------------------------------------------------------------------
// Encoders
// ---------------------------------------------------------------------------

pub fn png_bytes(img: &DynamicImage) -> Vec<u8> {
    let mut buf = Vec::new();
    let enc = PngEncoder::new_with_quality(&mut buf, CompressionType::Fast, PngFilter::Adaptive);
    enc.write_image(
        img.as_bytes(),
        img.width(),
        img.height(),
        img.color().into(),
    )
    .expect("encode png");
    buf
}

pub fn jpeg_bytes(img: &RgbImage, quality: u8) -> Vec<u8> {
    let mut buf = Vec::new();
    JpegEncoder::new_with_quality(&mut buf, quality)
        .encode_image(img)
        .expect("encode jpeg");
    buf
}

/// Encode with any format the `image` crate can write (TIFF, BMP, GIF, lossless WebP...).
pub fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut c = Cursor::new(Vec::new());
    img.write_to(&mut c, format)
        .unwrap_or_else(|e| panic!("encode {format:?}: {e}"));
    c.into_inner()
}

pub fn write(path: &Path, bytes: &[u8]) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create parent dir");
    }
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

pub fn write_png(path: &Path, img: &RgbImage) {
    write(path, &png_bytes(&DynamicImage::ImageRgb8(img.clone())));
}

pub fn write_jpeg(path: &Path, img: &RgbImage, quality: u8) {
    write(path, &jpeg_bytes(img, quality));
}

// ---------------------------------------------------------------------------
// Hand-built files
// ---------------------------------------------------------------------------

/// One PNG chunk: length, type, data, CRC32 over type and data.
pub fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(12 + data.len());
    v.extend_from_slice(&(data.len() as u32).to_be_bytes());
    v.extend_from_slice(kind);
    v.extend_from_slice(data);
    let mut h = crc32fast::Hasher::new();
    h.update(kind);
    h.update(data);
    v.extend_from_slice(&h.finalize().to_be_bytes());
    v
}

/// A structurally valid PNG whose IHDR claims `w`×`h` RGB8 pixels, with a
/// tiny IDAT (an empty zlib stream) and IEND: a decompression-bomb header.
pub fn bomb_png(w: u32, h: u32) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit, RGB, deflate, adaptive, no interlace
    v.extend(png_chunk(b"IHDR", &ihdr));
    // zlib header, one empty final fixed-Huffman block, Adler-32 of nothing.
    v.extend(png_chunk(
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    ));
    v.extend(png_chunk(b"IEND", &[]));
    v
}

/// An APP1 Exif segment whose IFD0 holds a single Orientation tag.
pub fn exif_orientation_segment(orientation: u16) -> Vec<u8> {
    let mut tiff = Vec::new();
    tiff.extend_from_slice(b"MM\x00\x2a"); // big-endian TIFF
    tiff.extend_from_slice(&8u32.to_be_bytes()); // IFD0 right after the header
    tiff.extend_from_slice(&1u16.to_be_bytes()); // one entry
    tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
    tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    tiff.extend_from_slice(&1u32.to_be_bytes()); // count
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]); // value padding
    tiff.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    let mut payload = b"Exif\x00\x00".to_vec();
    payload.extend(tiff);
    let mut seg = vec![0xFF, 0xE1];
    seg.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    seg.extend(payload);
    seg
}

/// `jpeg` with an Exif Orientation segment spliced in right after SOI.
pub fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "not a JPEG (no SOI)");
    let mut v = jpeg[..2].to_vec();
    v.extend(exif_orientation_segment(orientation));
    v.extend_from_slice(&jpeg[2..]);
    v
}

/// Offset of the first byte of entropy-coded data (just after the SOS
/// segment) in a baseline JPEG.
pub fn jpeg_scan_start(jpeg: &[u8]) -> usize {
    let mut i = 2;
    while i + 4 <= jpeg.len() {
        assert_eq!(jpeg[i], 0xFF, "lost sync walking JPEG markers at {i}");
        let marker = jpeg[i + 1];
        let len = u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]) as usize;
        if marker == 0xDA {
            return i + 2 + len;
        }
        i += 2 + len;
    }
    panic!("no SOS marker in JPEG");
}
