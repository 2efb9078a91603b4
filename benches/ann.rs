//! ANN benchmark: HNSW (random projection + exact re-rank) against exact
//! search on seeded clustered synthetic unit vectors (1280-d, like the CNN
//! embeddings). Prints one Markdown table row per size and search setting:
//! build time, query latency p50/p99 (single-threaded queries), recall@10
//! against exact, the all-pairs k-NN pass that `dupes` runs (k = 11, all
//! threads), and memory per vector.
//!
//!     cargo bench --bench ann                  # 10k and 50k
//!     cargo bench --bench ann -- 10000 200000  # chosen sizes
//!
//! Environment: ANN_M, ANN_EFC, ANN_PROJ override the graph parameters;
//! ANN_SEARCH="ef:rerank,ef:rerank" lists search settings tried on each graph
//! (default: HnswParams' own); the dupes pass runs for the first setting
//! only unless ANN_ALLKNN=all.

use std::time::Instant;

use imgdex::index::ann::{recall_at_k, AnnSearch, ExactIndex, HnswIndex, HnswParams, MemoryVectors, SplitMix, Vectors};

const DIM: usize = 1280;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn search_settings(d: &HnswParams) -> Vec<(usize, usize)> {
    let spec = std::env::var("ANN_SEARCH").unwrap_or_else(|_| format!("{}:{}", d.ef_search, d.rerank));
    spec.split(',')
        .filter_map(|s| {
            let (e, r) = s.split_once(':')?;
            Some((e.trim().parse().ok()?, r.trim().parse().ok()?))
        })
        .collect()
}

/// Latencies (ms, sorted) and results of single-threaded queries.
fn timed<F: Fn(&[f32]) -> Vec<(u64, f32)>>(queries: &[Vec<f32>], f: F) -> (Vec<f64>, Vec<Vec<(u64, f32)>>) {
    let (mut lat, mut res) = (Vec::new(), Vec::new());
    for q in queries {
        let t = Instant::now();
        res.push(f(q));
        lat.push(t.elapsed().as_secs_f64() * 1e3);
    }
    lat.sort_by(f64::total_cmp);
    (lat, res)
}

fn main() {
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![10_000, 50_000] } else { sizes };
    let d = HnswParams::default();
    let params = HnswParams {
        m: env_or("ANN_M", d.m),
        ef_construction: env_or("ANN_EFC", d.ef_construction),
        projected_dim: env_or("ANN_PROJ", d.projected_dim),
        exact_below: 0,
        ..d
    };
    let settings = search_settings(&d);
    let all_knn_every = std::env::var("ANN_ALLKNN").is_ok_and(|v| v == "all");
    println!("graph params: {params:?}; threads: {}", rayon::current_num_threads());
    println!("| n | build s | ef | rerank | query p50 ms | query p99 ms | exact p50 ms | recall@10 | all-kNN (dupes) s | graph+proj MB | bytes/vector |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for n in sizes {
        let vectors: MemoryVectors = imgdex::index::ann::clustered_vectors(n, DIM, 42);
        let t = Instant::now();
        let mut hnsw = HnswIndex::build(&vectors, params);
        let build = t.elapsed().as_secs_f64();
        let exact = ExactIndex::new(vectors.clone());
        let mut rng = SplitMix(7);
        let queries: Vec<Vec<f32>> = (0..200).map(|_| vectors.vector(rng.next_u64() % n as u64 + 1).unwrap()).collect();
        let (exact_lat, exact_res) = timed(&queries, |q| exact.search(q, 10, &vectors));
        for (i, &(ef, rerank)) in settings.iter().enumerate() {
            hnsw.set_search_params(ef, rerank);
            let (lat, approx_res) = timed(&queries, |q| hnsw.search(q, 10, &vectors));
            let recall = recall_at_k(&exact_res, &approx_res);
            let all_knn = if i == 0 || all_knn_every {
                let t = Instant::now();
                let all: Vec<&[f32]> = vectors.iter().map(|(_, v)| v).collect();
                let found = hnsw.search_many(&all, 11, &vectors);
                std::hint::black_box(found.iter().map(|h| h.iter().filter(|n| n.1 < 0.1).count()).sum::<usize>());
                format!("{:.1}", t.elapsed().as_secs_f64())
            } else {
                "-".into()
            };
            // Graph: projected f32 vectors + ~2M neighbour ids at layer 0 (u32 + f32 each).
            let graph_bytes = n * (params.projected_dim * 4 + params.m * 2 * 8);
            println!(
                "| {n} | {build:.1} | {ef} | {rerank} | {:.3} | {:.3} | {:.3} | {recall:.4} | {all_knn} | {:.0} | {} |",
                percentile(&lat, 0.5),
                percentile(&lat, 0.99),
                percentile(&exact_lat, 0.5),
                graph_bytes as f64 / 1e6,
                graph_bytes / n + DIM * 2,
            );
        }
    }
}
