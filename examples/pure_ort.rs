//! Pure ONNX Runtime throughput through imgdex's own `Embedder`, with the
//! session layout `imgdex index` uses (several sessions side by side, each
//! on its own batches), on random input tensors: the ceiling the index
//! pipeline is compared against in `scripts/bench`.
//!
//!     cargo run --release --example pure_ort -- [N] [BATCH] [SESSIONS] [THREADS] [MODEL]
//!
//! SESSIONS and THREADS default to 0 (imgdex's automatic layout), MODEL to
//! the default model. Prints one JSON line in the shape of
//! `scripts/bench_ort.py pure`.

use std::sync::Barrier;
use std::time::Instant;

use imgdex::features::embedding::{EmbedConfig, Embedder};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<usize> = raw
        .iter()
        .take(4)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let n = args.first().copied().unwrap_or(256);
    let batch = args.get(1).copied().unwrap_or(8).max(1);
    let mut cfg = EmbedConfig::in_dir(&EmbedConfig::default_dir());
    if let Some(model) = raw.get(4) {
        cfg = cfg.with_model(model.into());
    }
    cfg.batch = batch;
    cfg.sessions = args.get(2).copied().unwrap_or(0);
    cfg.threads = args.get(3).copied().unwrap_or(0);
    let (sessions, threads) = cfg.session_layout();
    let t = Instant::now();
    let embedders = Embedder::load_sessions(&cfg)?;
    let load_s = t.elapsed().as_secs_f64();
    let len = embedders[0].input_len();
    let input = random_input(batch * len);
    // Each session embeds its share of N in batches, after one warm-up batch.
    let per_session = n.div_ceil(sessions).div_ceil(batch) * batch;
    let barrier = Barrier::new(sessions + 1);
    let secs = std::thread::scope(|s| -> Result<f64, String> {
        let handles: Vec<_> = embedders
            .into_iter()
            .map(|mut e| {
                let (input, barrier) = (&input, &barrier);
                s.spawn(move || -> Result<(), String> {
                    e.embed(input.clone(), batch).map_err(|e| e.to_string())?;
                    barrier.wait();
                    for _ in 0..per_session / batch {
                        e.embed(input.clone(), batch).map_err(|e| e.to_string())?;
                    }
                    Ok(())
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        for h in handles {
            h.join()
                .map_err(|_| "session thread panicked".to_string())??;
        }
        Ok(start.elapsed().as_secs_f64())
    })?;
    let images = per_session * sessions;
    println!(
        "{{\"images\": {images}, \"failed\": 0, \"bytes\": 0, \"wall_s\": {secs:.4}, \"load_s\": {load_s:.4}, \
         \"decode_s\": 0.0, \"features_s\": 0.0, \"inference_s\": {secs:.4}, \"mode\": \"pure-rust\", \
         \"batch\": {batch}, \"sessions\": {sessions}, \"threads\": {threads}, \"images_per_s\": {:.1}}}",
        images as f64 / secs
    );
    Ok(())
}

/// A fixed pseudo-random input in the model's normalised range (xorshift).
fn random_input(len: usize) -> Vec<f32> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
        })
        .collect()
}
