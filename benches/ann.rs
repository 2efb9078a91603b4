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
//! (default: HnswParams' own). n/20 near copies (cosine distance
//! 0.01..0.1) are planted among the n vectors; the "planted pairs" rows give
//! the fraction of them found by the all-pairs pass of `dupes`, done either
//! with one search per vector (`DUPES_SEARCH`) or from the graph's own
//! neighbour lists (the default); the all-kNN column is that pass's time.

use std::time::Instant;

use imgdex::search::ann::{
    pair_recall, plant_near_copies, recall_at_k, AnnSearch, ExactIndex, HnswIndex, HnswParams,
    MemoryVectors, SplitMix, Vectors, DUPES_SEARCH,
};

const DIM: usize = 1280;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn search_settings(d: &HnswParams) -> Vec<(usize, usize)> {
    let spec =
        std::env::var("ANN_SEARCH").unwrap_or_else(|_| format!("{}:{}", d.ef_search, d.rerank));
    imgdex::search::ann::parse_search_settings(&spec)
}

/// Latencies (ms, sorted) and results of single-threaded queries.
fn timed<F: Fn(&[f32]) -> Vec<(u64, f32)>>(
    queries: &[Vec<f32>],
    f: F,
) -> (Vec<f64>, Vec<Vec<(u64, f32)>>) {
    let (mut lat, mut res) = (Vec::new(), Vec::new());
    for q in queries {
        let t = Instant::now();
        res.push(f(q));
        lat.push(t.elapsed().as_secs_f64() * 1e3);
    }
    lat.sort_by(f64::total_cmp);
    (lat, res)
}

/// Each id with its neighbours (id, distance).
type Neighbours = Vec<(u64, Vec<(u64, f32)>)>;

/// Seconds for the all-pairs pass `dupes` runs: every vector's 11 nearest
/// at the `DUPES_SEARCH` setting, on all threads.
fn all_knn(hnsw: &HnswIndex, vectors: &MemoryVectors) -> (f64, Neighbours) {
    let t = Instant::now();
    let (ids, all): (Vec<u64>, Vec<&[f32]>) = vectors.iter().unzip();
    let found = hnsw.search_many(&all, 11, vectors);
    (
        t.elapsed().as_secs_f64(),
        ids.into_iter().zip(found).collect(),
    )
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![10_000, 50_000]
    } else {
        sizes
    };
    let d = HnswParams::default();
    let params = HnswParams {
        m: env_or("ANN_M", d.m),
        ef_construction: env_or("ANN_EFC", d.ef_construction),
        projected_dim: env_or("ANN_PROJ", d.projected_dim),
        exact_below: 0,
        ..d
    };
    let settings = search_settings(&d);
    println!(
        "graph params: {params:?}; threads: {}",
        rayon::current_num_threads()
    );
    println!("| n | build s | setting | ef | rerank | query p50 ms | query p99 ms | exact p50 ms | recall@10 | all-kNN (dupes) s | graph+proj MB | bytes/vector |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for n in sizes {
        let mut vectors: MemoryVectors = imgdex::search::ann::clustered_vectors(n, DIM, 42);
        let planted = plant_near_copies(&mut vectors, n / 20, 43);
        let t = Instant::now();
        let mut hnsw = HnswIndex::build(&vectors, params);
        let build = t.elapsed().as_secs_f64();
        let exact = ExactIndex::new(vectors.clone());
        let mut rng = SplitMix(7);
        let queries: Vec<Vec<f32>> = (0..200)
            .map(|_| {
                vectors
                    .vector(rng.next_u64() % vectors.len() as u64 + 1)
                    .unwrap()
            })
            .collect();
        let (exact_lat, exact_res) = timed(&queries, |q| exact.search(q, 10, &vectors));
        let graph_bytes = n * (params.projected_dim * 4 + params.m * 2 * 8);
        let row = |setting: &str,
                   ef: usize,
                   rerank: usize,
                   lat: &[f64],
                   recall: f64,
                   all_knn: &str| {
            println!(
                "| {n} | {build:.1} | {setting} | {ef} | {rerank} | {:.3} | {:.3} | {:.3} | {recall:.4} | {all_knn} | {:.0} | {} |",
                percentile(lat, 0.5),
                percentile(lat, 0.99),
                percentile(&exact_lat, 0.5),
                graph_bytes as f64 / 1e6,
                graph_bytes / n + DIM * 2,
            )
        };
        for &(ef, rerank) in &settings {
            hnsw.set_search_params(ef, rerank);
            let (lat, approx_res) = timed(&queries, |q| hnsw.search(q, 10, &vectors));
            let recall = recall_at_k(&exact_res, &approx_res);
            row("query", ef, rerank, &lat, recall, "-");
        }
        hnsw.set_search_params(DUPES_SEARCH.0, DUPES_SEARCH.1);
        let (secs, searched) = all_knn(&hnsw, &vectors);
        let (lat, res) = timed(&queries, |q| hnsw.search(q, 10, &vectors));
        row(
            "dupes search",
            DUPES_SEARCH.0,
            DUPES_SEARCH.1,
            &lat,
            recall_at_k(&exact_res, &res),
            &format!("{secs:.1}"),
        );
        row(
            "dupes search, planted pairs",
            DUPES_SEARCH.0,
            DUPES_SEARCH.1,
            &[0.0],
            pair_recall(&planted, &searched),
            "-",
        );
        // The graph's own neighbour lists instead of searches (what
        // `dupes` runs); recall here = planted near-copy pairs found.
        let t = Instant::now();
        let lists = hnsw.edge_knn(10, &vectors);
        let secs = t.elapsed().as_secs_f64();
        row(
            "dupes graph, planted pairs",
            0,
            0,
            &[0.0],
            pair_recall(&planted, &lists),
            &format!("{secs:.1}"),
        );
    }
}
