//! Per-image cost of the indexing stages on generated images (no external
//! data): decode (scaled and full JPEG, PNG with libdeflate or the png
//! crate's inflater), perceptual hashes, colour
//! histogram, decode + features, and — when `scripts/setup` has installed the
//! model — CNN preprocessing and batched inference.
//!
//!     cargo bench --bench features                 # everything
//!     cargo bench --bench features -- decode/      # one group (regex filter)
//!
//! Inputs are deterministic (seeded): a photo-like 1600×1200 JPEG at quality
//! 90 and a 1024×768 PNG, both made of smooth gradients, soft shapes and
//! per-pixel noise, so entropy decoding and resampling do realistic work;
//! and a 1200×900 clip-art-like RGBA PNG (flat discs on transparency).

use std::hint::black_box;
use std::io::Cursor;
use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, SamplingMode, Throughput};
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder, RgbImage};

use imgdex::config::{DecodeConfig, FeatureConfig};
use imgdex::decode;
use imgdex::features::{self, embedding};

// ---------------------------------------------------------------- inputs --

/// SplitMix64: tiny, seedable, good enough for test images.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.f32()
    }
}

/// Soft-edged shape painted over the background.
enum Shape {
    Disc { cx: f32, cy: f32, r: f32 },
    Rect { x0: f32, y0: f32, x1: f32, y1: f32 },
}

/// A photo-like image: per-channel gradients and low-frequency waves, a few
/// dozen soft discs and rectangles, and per-pixel noise (σ ≈ 5 levels).
fn photo_like(w: u32, h: u32, seed: u64) -> RgbImage {
    let mut rng = Rng(seed);
    let (wf, hf) = (w as f32, h as f32);
    let grad: Vec<[f32; 3]> = (0..3)
        .map(|_| {
            [
                rng.range(40.0, 200.0),
                rng.range(-80.0, 80.0),
                rng.range(-80.0, 80.0),
            ]
        })
        .collect();
    let waves: Vec<[f32; 4]> = (0..3)
        .map(|_| {
            [
                rng.range(1.0, 5.0),
                rng.range(1.0, 5.0),
                rng.range(0.0, std::f32::consts::TAU),
                rng.range(8.0, 30.0),
            ]
        })
        .collect();
    let shapes: Vec<(Shape, [f32; 3], f32)> = (0..40)
        .map(|i| {
            let colour = [
                rng.range(0.0, 255.0),
                rng.range(0.0, 255.0),
                rng.range(0.0, 255.0),
            ];
            let alpha = rng.range(0.4, 0.9);
            let shape = if i % 2 == 0 {
                Shape::Disc {
                    cx: rng.range(0.0, wf),
                    cy: rng.range(0.0, hf),
                    r: rng.range(0.02, 0.15) * wf,
                }
            } else {
                let (x0, y0) = (rng.range(0.0, wf), rng.range(0.0, hf));
                Shape::Rect {
                    x0,
                    y0,
                    x1: x0 + rng.range(0.05, 0.3) * wf,
                    y1: y0 + rng.range(0.05, 0.3) * hf,
                }
            };
            (shape, colour, alpha)
        })
        .collect();
    let mut img = RgbImage::new(w, h);
    for (x, y, p) in img.enumerate_pixels_mut() {
        let (u, v) = (x as f32 / wf, y as f32 / hf);
        let mut c = [0f32; 3];
        for ch in 0..3 {
            let g = grad[ch];
            let wv = waves[ch];
            c[ch] = g[0]
                + g[1] * u
                + g[2] * v
                + wv[3]
                    * (wv[0] * std::f32::consts::TAU * u
                        + wv[1] * std::f32::consts::PI * v
                        + wv[2])
                        .sin();
        }
        for (shape, colour, alpha) in &shapes {
            // Signed distance (pixels) inside the shape, edge softened over 2 px.
            let d = match *shape {
                Shape::Disc { cx, cy, r } => {
                    r - ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt()
                }
                Shape::Rect { x0, y0, x1, y1 } => (x as f32 - x0)
                    .min(x1 - x as f32)
                    .min(y as f32 - y0)
                    .min(y1 - y as f32),
            };
            let a = alpha * (d / 2.0 + 0.5).clamp(0.0, 1.0);
            if a > 0.0 {
                for ch in 0..3 {
                    c[ch] = c[ch] * (1.0 - a) + colour[ch] * a;
                }
            }
        }
        // Approximately Gaussian noise: sum of four uniforms.
        let noise = (rng.f32() + rng.f32() + rng.f32() + rng.f32() - 2.0) * 8.5;
        for ch in 0..3 {
            let n = noise + (rng.f32() - 0.5) * 4.0;
            p[ch] = (c[ch] + n).round().clamp(0.0, 255.0) as u8;
        }
    }
    img
}

fn encode_jpeg(img: &RgbImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality)
        .write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            ExtendedColorType::Rgb8,
        )
        .expect("encode JPEG");
    out
}

/// A clip-art-like picture: flat-coloured discs with anti-aliased edges on
/// a transparent background, RGBA (what most of openclipart-png is).
fn clipart_like(w: u32, h: u32, seed: u64) -> image::RgbaImage {
    let mut rng = Rng(seed);
    let discs: Vec<([u8; 3], f32, f32, f32)> = (0..12)
        .map(|_| {
            let c = [0, 1, 2].map(|_| (rng.f32() * 255.0) as u8);
            let r = rng.range(0.05, 0.25) * w as f32;
            (c, rng.f32() * w as f32, rng.f32() * h as f32, r)
        })
        .collect();
    image::RgbaImage::from_fn(w, h, |x, y| {
        let mut px = image::Rgba([0, 0, 0, 0]);
        for (c, cx, cy, r) in &discs {
            let d = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt();
            let cover = (r - d + 0.5).clamp(0.0, 1.0);
            if cover > 0.0 {
                px = image::Rgba([c[0], c[1], c[2], ((cover * 255.0) as u8).max(px[3])]);
            }
        }
        px
    })
}

/// Any 8-bit image (`RgbImage`, `RgbaImage`) as a PNG.
fn encode_png<P: image::PixelWithColorType<Subpixel = u8>>(
    img: &image::ImageBuffer<P, Vec<u8>>,
) -> Vec<u8> {
    let mut out = Vec::new();
    PngEncoder::new(Cursor::new(&mut out))
        .write_image(img.as_raw(), img.width(), img.height(), P::COLOR_TYPE)
        .expect("encode PNG");
    out
}

struct Inputs {
    jpeg: Vec<u8>,
    png: Vec<u8>,
    clipart: Vec<u8>,
    /// Working image of the JPEG (default, scaled decode).
    work: RgbImage,
    decoded: decode::Decoded,
}

fn inputs() -> Inputs {
    let jpeg = encode_jpeg(&photo_like(1600, 1200, 0x1D6_DE7), 90);
    let png = encode_png(&photo_like(1024, 768, 0xB0B));
    let clipart = encode_png(&clipart_like(1200, 900, 0xC11B));
    let decoded = decode::decode(Path::new("bench.jpg"), &jpeg, &DecodeConfig::default())
        .expect("decode generated JPEG");
    let work = decoded.image.clone();
    eprintln!(
        "inputs: JPEG 1600x1200 q90 {} KiB, PNG 1024x768 {} KiB, clip-art PNG 1200x900 {} KiB, working image {}x{}",
        jpeg.len() / 1024,
        png.len() / 1024,
        clipart.len() / 1024,
        work.width(),
        work.height()
    );
    Inputs {
        jpeg,
        png,
        clipart,
        work,
        decoded,
    }
}

// --------------------------------------------------------------- benches --

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

fn bench_all(c: &mut Criterion) {
    let inp = inputs();
    let scaled = DecodeConfig::default();
    let full = DecodeConfig {
        scaled_jpeg: false,
        ..DecodeConfig::default()
    };
    let fcfg = FeatureConfig::default();
    let jpg_path = Path::new("bench.jpg");
    let png_path = Path::new("bench.png");

    {
        // 10–50 ms per call: flat sampling fits 20 samples in the time budget.
        let mut g = c.benchmark_group("decode");
        g.throughput(Throughput::Elements(1));
        g.sampling_mode(SamplingMode::Flat);
        g.bench_function("jpeg_scaled", |b| {
            b.iter(|| decode::decode(jpg_path, black_box(&inp.jpeg), &scaled).unwrap())
        });
        g.bench_function("jpeg_full", |b| {
            b.iter(|| decode::decode(jpg_path, black_box(&inp.jpeg), &full).unwrap())
        });
        // Each PNG also through the png crate's streaming inflater instead
        // of libdeflate (`DecodeConfig::inflate_png`).
        let png_crate = DecodeConfig {
            inflate_png: false,
            ..DecodeConfig::default()
        };
        let pngs = [
            ("png", &inp.png, &scaled),
            ("png_crate_inflater", &inp.png, &png_crate),
            ("png_clipart", &inp.clipart, &scaled),
            ("png_clipart_png_crate_inflater", &inp.clipart, &png_crate),
        ];
        for (name, bytes, cfg) in pngs {
            g.bench_function(name, |b| {
                b.iter(|| decode::decode(png_path, black_box(bytes), cfg).unwrap())
            });
        }
        g.finish();
    }
    {
        let mut g = c.benchmark_group("features");
        g.throughput(Throughput::Elements(1));
        g.bench_function("hashes", |b| {
            b.iter(|| features::hash::compute(black_box(&inp.work)))
        });
        g.bench_function("histogram", |b| {
            b.iter(|| features::histogram::compute(black_box(&inp.work), fcfg.histogram_bins))
        });
        g.bench_function("all", |b| {
            b.iter(|| features::compute(black_box(&inp.decoded), &fcfg))
        });
        g.finish();
    }
    {
        let mut g = c.benchmark_group("pipeline");
        g.throughput(Throughput::Elements(1));
        g.sampling_mode(SamplingMode::Flat);
        g.bench_function("jpeg", |b| {
            b.iter(|| {
                let d = decode::decode(jpg_path, black_box(&inp.jpeg), &scaled).unwrap();
                features::compute(&d, &fcfg)
            })
        });
        g.finish();
    }
    bench_embed(c, &inp);
}

fn bench_embed(c: &mut Criterion, inp: &Inputs) {
    let cfg = embedding::EmbedConfig::in_dir(&embedding::EmbedConfig::default_dir());
    let mut embedder = match embedding::Embedder::load(&cfg) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("embed/*: skipped, model not available ({e})");
            return;
        }
    };
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    eprintln!(
        "embed/*: {} with ONNX Runtime intra-op threads = {threads} (EmbedConfig default: one per core)",
        cfg.model.display()
    );
    let mut g = c.benchmark_group("embed");
    g.throughput(Throughput::Elements(1));
    g.bench_function("preprocess", |b| {
        b.iter(|| embedder.preprocess(black_box(&inp.work)))
    });

    const N: usize = 8;
    let one = embedder.preprocess(&inp.work);
    let batch: Vec<f32> = (0..N).flat_map(|_| one.iter().copied()).collect();
    embedder.embed(batch.clone(), N).expect("warm-up inference");
    // ~0.2 s per call: flat sampling keeps 20 samples within a few seconds.
    g.throughput(Throughput::Elements(N as u64));
    g.sampling_mode(SamplingMode::Flat);
    g.measurement_time(Duration::from_secs(4));
    g.bench_function("batch8", |b| {
        b.iter_batched(
            || batch.clone(),
            |input| embedder.embed(input, N).unwrap(),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_all
}
criterion_main!(benches);
