//! In-process latency and recall@10 of a store's saved graph, searched the
//! way `imgdex serve` searches it (the mapped flat graph and re-rank file
//! of `stored::open_resident`), against an exact scan of the same store's
//! vectors in the same (whitened) space. It answers "how fast and how good
//! is a query at this size" without HTTP or the CNN in the way, on any
//! store: a real one, or one written by `examples/synthetic_store`.
//!
//!     cargo run --release --example store_ann -- DB [QUERIES] [SEED]
//!
//! QUERIES (default 500) stored images are drawn with a seeded generator;
//! each is a query twice: its own vector (what `GET /api/query?path=`
//! does) and a perturbed copy (a new image near a stored one: Gaussian
//! noise at a cosine distance of about 0.1, re-normalised). Latency is
//! single-threaded, after one untimed pass over the queries (the page
//! cache warm, as in a resident server). Exact answers use f32 vectors
//! computed from the store; the graph re-ranks with the f16 file, so a
//! recall below 1 counts both the graph's misses and f16 rounding.
//! `ANN_SEARCH="ef:rerank,..."` tries other search settings (default: the
//! ones `imgdex` uses), one table row each.

use std::collections::HashSet;
use std::time::Instant;

use imgdex::index::ann::{AnnSearch, ExactIndex, HnswParams, MemoryVectors, SplitMix, Vectors};
use imgdex::index::{space, stored};
use imgdex::store::{Store, StoreOptions};
use rayon::prelude::*;

const K: usize = 10;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// A unit vector at a cosine distance of about `d` from unit vector `v`.
fn perturbed(v: &[f32], d: f32, rng: &mut SplitMix) -> Vec<f32> {
    let sigma = (2.0 * d / v.len() as f32).sqrt();
    let mut w: Vec<f32> = v.iter().map(|x| x + sigma * rng.gaussian()).collect();
    let norm = w.iter().map(|x| x * x).sum::<f32>().sqrt();
    w.iter_mut().for_each(|x| *x /= norm);
    w
}

fn recall(exact: &[Vec<(u64, f32)>], approx: &[Vec<(u64, f32)>]) -> f64 {
    let hit: usize = exact
        .iter()
        .zip(approx)
        .map(|(e, a)| {
            let want: HashSet<u64> = e.iter().map(|n| n.0).collect();
            a.iter().filter(|n| want.contains(&n.0)).count()
        })
        .sum();
    hit as f64 / (K * exact.len()) as f64
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let db = args.get(1).ok_or("usage: store_ann DB [QUERIES] [SEED]")?;
    let n_queries: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(500);
    let seed: u64 = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(7);
    let opts = StoreOptions {
        create: false,
        ..StoreOptions::default()
    };
    let store = Store::open(std::path::Path::new(db), &opts)?;
    let fp = store
        .fingerprint("embedding")?
        .ok_or("the store has no embeddings")?;

    let t = Instant::now();
    let live: MemoryVectors = space::vectors(&store, &space::Space::load(&store, &fp)?)?;
    eprintln!(
        "read {} exact vectors in {:.1} s",
        live.len(),
        t.elapsed().as_secs_f64()
    );
    let ids: Vec<u64> = live.iter().map(|(id, _)| id).collect();
    if ids.is_empty() || n_queries == 0 {
        return Err("no stored embeddings, or no queries asked for".into());
    }
    let mut rng = SplitMix(seed);
    let mut queries: Vec<Vec<f32>> = Vec::new();
    for _ in 0..n_queries {
        let id = ids[(rng.next_u64() % ids.len() as u64) as usize];
        let v = live.slice(id).expect("listed id").to_vec();
        queries.push(perturbed(&v, 0.1, &mut rng));
        queries.push(v);
    }
    let t = Instant::now();
    let exact_index = ExactIndex::new(live);
    let none: &dyn Vectors = exact_index.vectors();
    let exact: Vec<Vec<(u64, f32)>> = queries
        .par_iter()
        .map(|q| exact_index.search(q, K, none))
        .collect();
    drop(exact_index);

    eprintln!("exact answers in {:.1} s", t.elapsed().as_secs_f64());

    println!("| images | queries | ef | rerank | p50 ms | p90 ms | p99 ms | recall@10 stored | recall@10 perturbed |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (ef_search, rerank) in settings() {
        let params = HnswParams {
            ef_search,
            rerank,
            ..HnswParams::default()
        };
        let t = Instant::now();
        let (ann, file) = stored::open_resident(&store, &fp, params)?;
        let file = file.ok_or("no saved graph: fewer images than the exact-search limit?")?;
        eprintln!(
            "opened {} graph in {:.2} s",
            ann.kind(),
            t.elapsed().as_secs_f64()
        );
        let search = ann.as_search();
        let _warm: Vec<_> = queries.iter().map(|q| search.search(q, K, &file)).collect();
        let mut lat = Vec::with_capacity(queries.len());
        let approx: Vec<Vec<(u64, f32)>> = queries
            .iter()
            .map(|q| {
                let t = Instant::now();
                let r = search.search(q, K, &file);
                lat.push(t.elapsed().as_secs_f64() * 1e3);
                r
            })
            .collect();
        lat.sort_by(f64::total_cmp);
        println!(
            "| {} | {} | {ef_search} | {rerank} | {:.3} | {:.3} | {:.3} | {:.4} | {:.4} |",
            search.len(),
            queries.len(),
            percentile(&lat, 0.5),
            percentile(&lat, 0.9),
            percentile(&lat, 0.99),
            recall(&pick(&exact, true), &pick(&approx, true)),
            recall(&pick(&exact, false), &pick(&approx, false)),
        );
    }
    Ok(())
}

fn pick(v: &[Vec<(u64, f32)>], stored: bool) -> Vec<Vec<(u64, f32)>> {
    v.iter()
        .skip(usize::from(stored))
        .step_by(2)
        .cloned()
        .collect()
}

fn settings() -> Vec<(usize, usize)> {
    let d = HnswParams::default();
    let spec =
        std::env::var("ANN_SEARCH").unwrap_or_else(|_| format!("{}:{}", d.ef_search, d.rerank));
    imgdex::index::ann::parse_search_settings(&spec)
}
