//! ANN benchmark: HNSW (random projection + exact re-rank) against exact
//! search on seeded clustered synthetic unit vectors (1280-d, like the CNN
//! embeddings). Prints one Markdown table row per size: build time, query
//! latency p50/p99 (single-threaded queries), recall@10 against exact, the
//! all-pairs k-NN pass that `dupes` runs, and memory per vector.
//!
//!     cargo bench --bench ann                  # 10k and 50k
//!     cargo bench --bench ann -- 10000 200000  # chosen sizes
//!
//! Environment: ANN_M, ANN_EFC, ANN_EF, ANN_PROJ, ANN_RERANK override HnswParams.

use std::time::Instant;

use imgdex::index::ann::{recall_at_k, AnnSearch, ExactIndex, HnswIndex, HnswParams, MemoryVectors, SplitMix};

const DIM: usize = 1280;

fn clustered(n: usize, seed: u64) -> MemoryVectors {
    imgdex::index::ann::clustered_vectors(n, DIM, seed)
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![10_000, 50_000] } else { sizes };
    let d = HnswParams::default();
    let params = HnswParams {
        m: env_or("ANN_M", d.m),
        ef_construction: env_or("ANN_EFC", d.ef_construction),
        ef_search: env_or("ANN_EF", d.ef_search),
        projected_dim: env_or("ANN_PROJ", d.projected_dim),
        rerank: env_or("ANN_RERANK", d.rerank),
        seed: d.seed,
        exact_below: 0,
    };
    println!("params: {params:?}; threads: {}", rayon::current_num_threads());
    println!("| n | build s | query p50 ms | query p99 ms | exact p50 ms | recall@10 | all-kNN (dupes) s | graph+proj MB | bytes/vector |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for n in sizes {
        let vectors = clustered(n, 42);
        let t = Instant::now();
        let hnsw = HnswIndex::build(&vectors, params);
        let build = t.elapsed().as_secs_f64();
        let exact = ExactIndex::new(vectors.clone());
        let mut rng = SplitMix(7);
        let queries: Vec<Vec<f32>> = (0..200).map(|_| {
            let id = rng.next_u64() % n as u64 + 1;
            imgdex::index::ann::Vectors::vector(&vectors, id).unwrap()
        }).collect();
        let (mut lat, mut exact_lat) = (Vec::new(), Vec::new());
        let (mut approx_res, mut exact_res) = (Vec::new(), Vec::new());
        for q in &queries {
            let t = Instant::now();
            approx_res.push(hnsw.search(q, 10, &vectors));
            lat.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            exact_res.push(exact.search(q, 10, &vectors));
            exact_lat.push(t.elapsed().as_secs_f64() * 1e3);
        }
        lat.sort_by(f64::total_cmp);
        exact_lat.sort_by(f64::total_cmp);
        let recall = recall_at_k(&exact_res, &approx_res);
        let t = Instant::now();
        use rayon::prelude::*;
        let pairs: usize = vectors
            .iter()
            .collect::<Vec<_>>()
            .par_iter()
            .map(|(_, v)| hnsw.search(v, 10, &vectors).iter().filter(|n| n.1 < 0.1).count())
            .sum();
        let all_knn = t.elapsed().as_secs_f64();
        std::hint::black_box(pairs);
        // Graph: projected f32 vectors + ~2M neighbour ids at layer 0 (u32 + f32 each).
        let graph_bytes = n * (params.projected_dim * 4 + params.m * 2 * 8);
        println!(
            "| {n} | {build:.1} | {:.3} | {:.3} | {:.3} | {recall:.4} | {all_knn:.1} | {:.0} | {} |",
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
            percentile(&exact_lat, 0.5),
            graph_bytes as f64 / 1e6,
            graph_bytes / n + DIM * 2,
        );
    }
}
