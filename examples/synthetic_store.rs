//! Writes a store of N synthetic images, for end-to-end timings of `dupes`
//! and `query` at sizes no development image set reaches (the ANN bench
//! times the index in memory; this times the binary, store reads included).
//! Embeddings are seeded vectors of the real model's dimension from one of
//! two generators: `manifold` (the default: calibrated to be harder than
//! real collections at the sizes measured, and, like them, denser as it
//! grows; see `ann::manifold_vectors`) or `clusters` (a stress case: a new
//! equidistant cluster per 200 vectors, harder with every size),
//! tagged with its fingerprint (with a zero-padded copy as the dupe vector
//! when the model has one), with N/20 planted near copies (cosine distance
//! 0.01..0.1) whose perceptual hashes differ by a few bits; the other hashes
//! are random. The image files do not exist: `dupes` and `query` only read
//! records. The whitening is fitted and the HNSW graph built at the end, as
//! `index` would.
//!
//!     cargo run --release --example synthetic_store -- DB N [manifold|clusters] [--records-only] [--signatures]
//!     imgdex --db DB dupes --json > groups.json    # time this
//!     imgdex --db DB query some.jpg                # and this
//!
//! `--records-only` stops after the records (no whitening, no graph): a
//! source for `export shard` when `ingest` is what is timed. Records are
//! flushed every 50,000, so sled's unflushed writes do not pile up in
//! memory (at 1M they passed 19 GB before the first flush).
//!
//! `--signatures` also writes a copy signature per image (what `dupes`
//! verifies candidate pairs with): a seeded smooth texture, the planted
//! copies their original's with a little noise, so every other candidate
//! pair takes the verifier's slow path (an alignment search). Timing
//! `dupes` on a store made with it and on one made without it (the same
//! records otherwise) measures what verification costs.
//!
//! A finished store holds `DB/synthetic.done`.

use std::time::Instant;

use imgdex::features::embedding::{EmbedConfig, Embedder};
use imgdex::features::Hashes;
use imgdex::search::ann::{
    clustered_vectors, manifold_vectors, plant_near_copies, HnswParams, SplitMix,
};
use imgdex::search::saved;
use imgdex::store::record::{fingerprint_code, Tagged};
use imgdex::store::{EmbeddingRecord, ImageRecord, Store, StoreOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let records_only = args.iter().any(|a| a == "--records-only");
    let with_signatures = args.iter().any(|a| a == "--signatures");
    let args: Vec<&String> = args
        .iter()
        .filter(|a| *a != "--records-only" && *a != "--signatures")
        .collect();
    let (db, n, generator) = match args.as_slice() {
        [_, db, n] => (*db, *n, "manifold"),
        [_, db, n, g] if *g == "manifold" || *g == "clusters" => (*db, *n, g.as_str()),
        _ => return Err("usage: synthetic_store DB N [manifold|clusters] [--records-only]".into()),
    };
    let n: usize = n.parse()?;
    let embedder = Embedder::load(&EmbedConfig::in_dir(&EmbedConfig::default_dir()))?;
    let fp = embedder.fingerprint().to_string();
    let (dim, dupe_dim) = (embedder.spec().embedding_dim, embedder.spec().dupe_dim);
    drop(embedder);
    let hash_fp = imgdex::config::FeatureConfig::default().hash_fingerprint();
    let t = Instant::now();
    let mut vectors = if generator == "manifold" {
        manifold_vectors(n, dim, 42)
    } else {
        clustered_vectors(n, dim, 42)
    };
    let planted = plant_near_copies(&mut vectors, n / 20, 43);
    let mut rng = SplitMix(44);
    let mut hashes: Vec<Hashes> = (0..vectors.len())
        .map(|_| Hashes {
            phash: rng.next_u64(),
            dhash: rng.next_u64(),
            ahash: rng.next_u64(),
        })
        .collect();
    for &(orig, copy) in &planted {
        let flip =
            |h: u64, rng: &mut SplitMix| (0..4).fold(h, |h, _| h ^ (1 << (rng.next_u64() % 64)));
        let o = hashes[orig as usize - 1];
        hashes[copy as usize - 1] = Hashes {
            phash: flip(o.phash, &mut rng),
            dhash: flip(o.dhash, &mut rng),
            ahash: o.ahash,
        };
    }
    eprintln!(
        "generated {} {generator} vectors in {:.1} s",
        vectors.len(),
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let store = Store::open(std::path::Path::new(db), &StoreOptions::default())?;
    store.set_fingerprint("embedding", &fp)?;
    store.set_fingerprint("hash", &hash_fp)?;
    let (code, hash_code) = (fingerprint_code(&fp), fingerprint_code(&hash_fp));
    for (id, v) in vectors.iter() {
        let rec = ImageRecord {
            taken: None,
            path: format!("/synthetic/{id:07}.jpg").into_bytes(),
            size: 100_000 + id,
            mtime_ns: 0,
            digest: *blake3::hash(&id.to_le_bytes()).as_bytes(),
            width: 640,
            height: 480,
            format: "jpeg".into(),
            hashes: Some(Tagged {
                fingerprint: hash_code,
                value: hashes[id as usize - 1],
            }),
            histogram: None,
        };
        // The dupe vector (the head's, for a model that has one) is the
        // embedding zero-padded: the same distances, a real record's size.
        let dupe: Option<Vec<f32>> = (dupe_dim > 0).then(|| {
            let mut d = v.to_vec();
            d.resize(dupe_dim.max(v.len()), 0.0);
            d
        });
        let emb = EmbeddingRecord::with_dupe(code, v, dupe.as_deref());
        store.put_image(id, &rec, Some(&emb))?;
        if id % 50_000 == 0 {
            store.flush()?;
        }
    }
    if with_signatures {
        write_signatures(&store, vectors.len() as u64, &planted)?;
    }
    store.flush()?;
    eprintln!(
        "wrote {} records in {:.1} s",
        vectors.len(),
        t.elapsed().as_secs_f64()
    );
    // The graph build reads the vectors back from the store, as `index`
    // does; the generated copy (5 GB at 1M) is not needed any more.
    drop((vectors, hashes));
    if records_only {
        std::fs::write(
            std::path::Path::new(db).join("synthetic.done"),
            n.to_string(),
        )?;
        return Ok(());
    }
    let t = Instant::now();
    let fitted = imgdex::search::whiten::update(&store, &fp, n)?;
    store.flush()?;
    eprintln!(
        "whitening {} in {:.1} s",
        if fitted {
            "fitted"
        } else {
            "not fitted (too few)"
        },
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let kind = saved::refresh(&store, &fp, HnswParams::default(), &[])?;
    eprintln!(
        "{kind} index built and saved in {:.1} s; {} planted pairs",
        t.elapsed().as_secs_f64(),
        planted.len()
    );
    // Tells scripts/bench_scale the store is whole (a run stopped part way
    // leaves none, so the store is not reused).
    std::fs::write(
        std::path::Path::new(db).join("synthetic.done"),
        n.to_string(),
    )?;
    Ok(())
}

/// A copy signature per image: a smooth texture from the image's own seed
/// (its planted original's for a copy, plus ±2 levels of noise).
fn write_signatures(
    store: &Store,
    n: u64,
    planted: &[(u64, u64)],
) -> Result<(), Box<dyn std::error::Error>> {
    use imgdex::features::signature::{Edits, Signature, CHROMA_SIDE, SIDE};
    use imgdex::store::signatures::SignatureRecord;
    let original: std::collections::HashMap<u64, u64> =
        planted.iter().map(|&(o, c)| (c, o)).collect();
    // 6.28 is part of the textures' definition (not TAU): stores written
    // before keep their signatures.
    #[allow(clippy::approx_constant)]
    let texture = |seed: u64| -> Vec<u8> {
        let mut rng = SplitMix(seed);
        let waves: Vec<[f32; 3]> = (0..6)
            .map(|_| {
                let r = |rng: &mut SplitMix| (rng.next_u64() % 1000) as f32 / 1000.0;
                [
                    0.05 + 0.4 * r(&mut rng),
                    0.05 + 0.4 * r(&mut rng),
                    6.28 * r(&mut rng),
                ]
            })
            .collect();
        (0..SIDE * SIDE)
            .map(|k| {
                let (x, y) = ((k % SIDE) as f32, (k / SIDE) as f32);
                let v: f32 = waves
                    .iter()
                    .map(|w| (w[0] * x + w[1] * y + w[2]).sin())
                    .sum();
                (128.0 + 18.0 * v).clamp(0.0, 255.0) as u8
            })
            .collect()
    };
    let mut noise = SplitMix(45);
    for id in 1..=n {
        let mut luma = texture(*original.get(&id).unwrap_or(&id));
        if original.contains_key(&id) {
            for l in &mut luma {
                *l = l
                    .saturating_add((noise.next_u64() % 3) as u8)
                    .saturating_sub(1);
            }
        }
        let sig = Signature {
            luma,
            width: 640,
            height: 480,
            chroma: vec![128; 2 * CHROMA_SIDE * CHROMA_SIDE],
            edits: Edits::default(),
            palette: None,
        };
        store.put_signature(id, &SignatureRecord::current(sig))?;
        if id % 50_000 == 0 {
            store.flush()?;
        }
    }
    Ok(())
}
