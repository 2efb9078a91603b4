//! In-process latency and recall@10 of a store's saved graph, searched the
//! way `imgdex serve` searches it (the mapped flat graph and re-rank file
//! of `saved::open_resident`), against an exact scan of the same store's
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
//! ones `imgdex` uses), one table row each. `ANN_BUILD="m:efc"` searches a
//! graph built in memory with those parameters over the same vectors (f32
//! re-rank) instead of the saved one: to compare data sets under one
//! deliberately weak graph, or to try a wider graph without rebuilding the
//! store's.
//!
//! Before the table it prints how hard the data is for any neighbour index,
//! from the exact answers of the stored queries (the query itself left
//! out): the local intrinsic dimension (maximum-likelihood estimate over
//! the 20 nearest, Levina & Bickel 2004) and the relative contrast (mean
//! distance to random stored vectors over the distance to the nearest), the
//! two measures ann-benchmarks reports per data set. A higher LID and a
//! lower contrast make a search harder at the same size.

use std::collections::HashSet;
use std::time::Instant;

use imgdex::search::ann::{
    recall_at_k, AnnSearch, ExactIndex, HnswIndex, HnswParams, MemoryVectors, Neighbour, SplitMix,
    Vectors,
};
use imgdex::search::{saved, space};
use imgdex::store::{Store, StoreOptions};
use rayon::prelude::*;

const K: usize = 10;
/// Cosine-distance slack of the tie-aware recall (ann-benchmarks' epsilon).
const TIE_EPS: f32 = 1e-3;
/// Neighbours the local intrinsic dimension is estimated from.
const LID_K: usize = 20;

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

/// Hits per query as ann-benchmarks counts recall: an answer is a hit when
/// its exact distance to the query is within [`TIE_EPS`] of the exact 10th
/// nearest, so of several equally near images (exact copies, common in a
/// real collection) any is right. In query order.
fn tie_hits(
    exact: &[Vec<(u64, f32)>],
    approx: &[Vec<(u64, f32)>],
    queries: &[Vec<f32>],
    vectors: &MemoryVectors,
) -> Vec<usize> {
    exact
        .iter()
        .zip(approx)
        .zip(queries)
        .map(|((e, a), q)| {
            let limit = e.last().map_or(f32::INFINITY, |n| n.1) + TIE_EPS;
            a.iter()
                .filter(|n| vectors.distance(n.0, q).is_some_and(|d| d <= limit))
                .count()
        })
        .collect()
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
    let mut exact: Vec<Vec<(u64, f32)>> = queries
        .par_iter()
        .map(|q| exact_index.search(q, LID_K + 1, none))
        .collect();
    eprintln!("exact answers in {:.1} s", t.elapsed().as_secs_f64());
    let (lid, contrast) = hardness(&pick(&exact, true), exact_index.vectors(), &ids, &mut rng);
    let distinct: HashSet<Vec<u32>> = exact_index
        .vectors()
        .iter()
        .map(|(_, v)| v.iter().map(|x| x.to_bits()).collect())
        .collect();
    println!(
        "{} vectors ({} distinct) of {} dimensions: LID@{LID_K} median {lid:.1}, relative contrast median {contrast:.2}\n",
        ids.len(),
        distinct.len(),
        exact_index.vectors().dim
    );
    exact.iter_mut().for_each(|e| e.truncate(K));

    let mut built = std::env::var("ANN_BUILD").ok().map(|spec| {
        let (m, efc) = spec.split_once(':').expect("ANN_BUILD=m:efc");
        let params = HnswParams {
            m: m.parse().expect("ANN_BUILD m"),
            ef_construction: efc.parse().expect("ANN_BUILD efc"),
            ..HnswParams::default()
        };
        let t = Instant::now();
        let index = HnswIndex::build(exact_index.vectors(), params);
        eprintln!(
            "built m {m} efc {efc} in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        index
    });

    println!("| images | queries | graph | ef | rerank | p50 ms | p90 ms | p99 ms | recall@10 stored | recall@10 perturbed | tie-aware stored | tie-aware perturbed |");
    println!(
        "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for (ef_search, rerank) in settings() {
        let params = HnswParams {
            ef_search,
            rerank,
            ..HnswParams::default()
        };
        let (label, lat, approx) = match &mut built {
            Some(index) => {
                index.set_search_params(ef_search, rerank);
                let p = index.params();
                let label = format!("m{} efc{}", p.m, p.ef_construction);
                let vectors = exact_index.vectors();
                let (lat, approx) = timed(&|q| index.search(q, K, vectors), &queries);
                (label, lat, approx)
            }
            None => {
                let searcher = saved::open_resident(&store, &fp, params)?;
                if searcher.rerank_source() != "file" {
                    return Err("no saved graph: fewer images than the exact-search limit?".into());
                }
                // The queries are in the search space already.
                let search = |q: &[f32]| searcher.search_in_space(&store, q, K);
                let (lat, approx) = timed(&search, &queries);
                ("saved".to_string(), lat, approx)
            }
        };
        let ties = tie_hits(&exact, &approx, &queries, exact_index.vectors());
        let tie_recall = |stored: bool| {
            let hits: usize = ties.iter().skip(usize::from(stored)).step_by(2).sum();
            hits as f64 / (K * queries.len() / 2) as f64
        };
        println!(
            "| {} | {} | {label} | {ef_search} | {rerank} | {:.3} | {:.3} | {:.3} | {:.4} | {:.4} | {:.4} | {:.4} |",
            ids.len(),
            queries.len(),
            percentile(&lat, 0.5),
            percentile(&lat, 0.9),
            percentile(&lat, 0.99),
            recall_at_k(&pick(&exact, true), &pick(&approx, true)),
            recall_at_k(&pick(&exact, false), &pick(&approx, false)),
            tie_recall(true),
            tie_recall(false),
        );
    }
    Ok(())
}

/// Single-threaded latencies (ms, sorted) and answers of `queries`, after
/// one untimed pass.
fn timed(
    search: &dyn Fn(&[f32]) -> Vec<Neighbour>,
    queries: &[Vec<f32>],
) -> (Vec<f64>, Vec<Vec<(u64, f32)>>) {
    let _warm: Vec<_> = queries.iter().map(|q| search(q)).collect();
    let mut lat = Vec::with_capacity(queries.len());
    let approx = queries
        .iter()
        .map(|q| {
            let t = Instant::now();
            let r = search(q);
            lat.push(t.elapsed().as_secs_f64() * 1e3);
            r
        })
        .collect();
    lat.sort_by(f64::total_cmp);
    (lat, approx)
}

/// Median LID and median relative contrast over the stored queries, from
/// their exact neighbour lists (first entry: the query itself). Distances
/// are Euclidean between unit vectors, sqrt(2 · cosine distance).
fn hardness(
    exact: &[Vec<(u64, f32)>],
    vectors: &MemoryVectors,
    ids: &[u64],
    rng: &mut SplitMix,
) -> (f64, f64) {
    let euclid = |cos: f32| (2.0 * f64::from(cos.max(0.0))).sqrt();
    let mut lids = Vec::new();
    let mut contrasts = Vec::new();
    for e in exact {
        let d: Vec<f64> = e.iter().skip(1).map(|n| euclid(n.1)).collect();
        let Some(&far) = d.last() else { continue };
        if d[0] <= 0.0 || far <= 0.0 {
            continue; // an exact copy: no estimate
        }
        let mean_log: f64 = d.iter().map(|r| (r / far).ln()).sum::<f64>() / d.len() as f64;
        if mean_log < 0.0 {
            lids.push(-1.0 / mean_log);
        }
        let q = vectors.slice(e[0].0).expect("stored query");
        let random: f64 = (0..200)
            .map(|_| {
                let id = ids[(rng.next_u64() % ids.len() as u64) as usize];
                euclid(vectors.distance(id, q).expect("listed id"))
            })
            .sum::<f64>()
            / 200.0;
        contrasts.push(random / d[0]);
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            f64::NAN
        } else {
            v[v.len() / 2]
        }
    };
    (median(lids), median(contrasts))
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
    imgdex::search::ann::parse_search_settings(&spec)
}
