//! The ANN layer: HNSW against exact search on seeded clustered vectors
//! (recall@10 ≥ 0.95 at the default search parameters), the search filter,
//! and the graph saved beside a real store: persistence round trip, stale
//! graph refreshed after changes, corrupt files detected and rebuilt.

use std::collections::HashSet;

use imgdex::features::embedding::cosine_distance;
use imgdex::paths;
use imgdex::search::ann::{
    recall_at_k, AnnSearch, AnnWrite, ExactIndex, HnswIndex, HnswParams, MemoryVectors, SplitMix,
    Vectors,
};
use imgdex::search::saved::{self, Searcher};
use imgdex::store::record::fingerprint_code;
use imgdex::store::{EmbeddingRecord, ImageRecord, Store, StoreOptions};

use crate::util::Sandbox;

const DIM: usize = 1280;
/// Stated tolerance: HNSW must find at least 95% of the exact top-10.
const MIN_RECALL: f64 = 0.95;

pub(crate) fn clustered(n: usize, seed: u64) -> MemoryVectors {
    imgdex::search::ann::clustered_vectors(n, DIM, seed)
}

fn queries(v: &MemoryVectors, n: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = SplitMix(seed);
    (0..n)
        .map(|_| v.vector(rng.next_u64() % v.len() as u64 + 1).unwrap())
        .collect()
}

fn small_params() -> HnswParams {
    HnswParams {
        exact_below: 100,
        ..HnswParams::default()
    }
}

/// The graph's projection of the whitened space (as many dimensions in as
/// out) is a rotation: every cosine distance kept. The square Gaussian
/// matrix it replaced changed distances by tens of percent, and on real
/// embeddings the true nearest fell outside the re-ranked shortlist.
#[test]
fn projection_is_orthonormal() {
    use imgdex::search::ann::Projection;
    let w = 128;
    let square = Projection::new(w, w, 9);
    let mut rng = SplitMix(4);
    let unit = |rng: &mut SplitMix| {
        let x: Vec<f32> = (0..w).map(|_| rng.gaussian()).collect();
        let n = x.iter().map(|a| a * a).sum::<f32>().sqrt();
        x.into_iter().map(|a| a / n).collect::<Vec<f32>>()
    };
    for _ in 0..50 {
        let (a, b) = (unit(&mut rng), unit(&mut rng));
        let before = cosine_distance(&a, &b);
        let after = cosine_distance(&square.apply(&a), &square.apply(&b));
        assert!((before - after).abs() < 1e-4, "{before} became {after}");
    }
}

#[test]
fn hnsw_recall_against_exact_search() {
    let v = clustered(4000, 11);
    let hnsw = HnswIndex::build(&v, HnswParams::default());
    let exact = ExactIndex::new(v.clone());
    let qs = queries(&v, 100, 5);
    let e: Vec<_> = qs.iter().map(|q| exact.search(q, 10, &v)).collect();
    let a: Vec<_> = qs.iter().map(|q| hnsw.search(q, 10, &v)).collect();
    let recall = recall_at_k(&e, &a);
    assert!(recall >= MIN_RECALL, "recall@10 {recall:.3} < {MIN_RECALL}");
    // Distances are exact (re-ranked with the full vectors), nearest first.
    for (ex, ap) in e.iter().zip(&a) {
        assert_eq!(
            ex[0], ap[0],
            "the nearest neighbour (the query itself) is found exactly"
        );
        assert!(ap.windows(2).all(|w| w[0].1 <= w[1].1));
    }
}

#[test]
fn removed_ids_are_never_returned() {
    let v = clustered(2000, 12);
    let mut hnsw = HnswIndex::build(&v, HnswParams::default());
    let mut exact = ExactIndex::new(v.clone());
    let hidden: HashSet<u64> = (1..=2000).step_by(7).collect();
    for &id in &hidden {
        hnsw.remove(id);
        exact.remove(id);
    }
    assert_eq!(hnsw.len(), 2000 - hidden.len());
    for q in queries(&v, 100, 9) {
        for (id, _) in hnsw
            .search(&q, 10, &v)
            .into_iter()
            .chain(exact.search(&q, 10, &v))
        {
            assert!(!hidden.contains(&id), "hidden id {id} returned");
        }
    }
}

/// A store holding `vectors` as embeddings of model `fp` (no image files
/// needed: the ANN layer only reads embeddings and ids).
pub(crate) fn store_with(sb: &Sandbox, vectors: &MemoryVectors, fp: &str) -> Store {
    let store = Store::open(&sb.db(), &StoreOptions::default()).unwrap();
    store.set_fingerprint("embedding", fp).unwrap();
    for (id, v) in vectors.iter() {
        put(&store, id, v, fp);
    }
    store.flush().unwrap();
    store
}

pub(crate) fn put(store: &Store, id: u64, v: &[f32], fp: &str) {
    let rec = ImageRecord {
        taken: None,
        path: paths::to_bytes(std::path::Path::new(&format!("/synthetic/{id}.png"))),
        size: 0,
        mtime_ns: 0,
        digest: [0; 32],
        width: 1,
        height: 1,
        format: "png".into(),
        hashes: None,
        histogram: None,
    };
    store
        .put_image(
            id,
            &rec,
            Some(&EmbeddingRecord::from_f32(fingerprint_code(fp), v)),
        )
        .unwrap();
}

fn search_ids(searcher: &Searcher, store: &Store, q: &[f32]) -> Vec<u64> {
    searcher
        .search(store, q, 10)
        .into_iter()
        .map(|n| n.0)
        .collect()
}

#[test]
fn saved_graph_round_trip_refresh_and_corruption() {
    let sb = Sandbox::new();
    let v = clustered(1500, 13);
    let fp = "test-model/v1";
    let store = store_with(&sb, &v, fp);
    let params = small_params();

    assert_eq!(saved::refresh(&store, fp, params, &[]).unwrap(), "hnsw");
    let g1 = saved::saved_generation(&store)
        .unwrap()
        .expect("graph saved");
    let qs = queries(&v, 30, 3);
    let ann = saved::open(&store, fp, params).unwrap();
    assert_eq!(ann.kind(), "flat");
    let before: Vec<Vec<u64>> = qs.iter().map(|q| search_ids(&ann, &store, q)).collect();
    assert_eq!(
        saved::saved_generation(&store).unwrap(),
        Some(g1),
        "a valid graph is reused, not rebuilt"
    );

    // Round trip: a reload answers exactly as the saved graph did.
    let again = saved::open(&store, fp, params).unwrap();
    let after: Vec<Vec<u64>> = qs.iter().map(|q| search_ids(&again, &store, q)).collect();
    assert_eq!(before, after);

    // Stale: remove ten images, add one; refresh hides and inserts.
    for id in 1..=10u64 {
        store.remove_image(id).unwrap();
    }
    let new_v = v.vector(500).unwrap();
    put(&store, 99_999, &new_v, fp);
    store.flush().unwrap();
    saved::refresh(&store, fp, params, &[]).unwrap();
    assert!(saved::saved_generation(&store).unwrap() > Some(g1));
    let ann = saved::open(&store, fp, params).unwrap();
    assert_eq!(ann.len(), 1500 - 10 + 1);
    let hits = search_ids(&ann, &store, &new_v);
    assert!(
        hits.contains(&99_999) && hits.contains(&500),
        "new vector found: {hits:?}"
    );
    for q in &qs {
        assert!(
            search_ids(&ann, &store, q).iter().all(|id| *id > 10),
            "removed ids never returned"
        );
    }

    // Corrupt: flip bytes in the graph file; the checksum catches it and
    // opening rebuilds a fresh generation.
    let g2 = saved::saved_generation(&store).unwrap().unwrap();
    let dir = saved::saved_dir(&store).unwrap().unwrap();
    let graph = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with(".hnsw.graph"))
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&graph).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 64] {
        *b ^= 0x5a;
    }
    std::fs::write(&graph, bytes).unwrap();
    let ann = saved::open(&store, fp, params).unwrap();
    assert_eq!(ann.kind(), "flat");
    assert!(
        saved::saved_generation(&store).unwrap() > Some(g2),
        "corrupt graph rebuilt"
    );
    let hits = search_ids(&ann, &store, &v.vector(700).unwrap());
    assert_eq!(hits[0], 700);

    // A different model fingerprint never reuses the graph.
    let other = "other-model/v1";
    store.set_fingerprint("embedding", other).unwrap();
    let ann = saved::open(&store, other, params).unwrap();
    assert!(
        ann.is_empty() || ann.kind() == "exact",
        "no embeddings of the other model"
    );
}

#[test]
fn query_path_uses_the_saved_graph_only_while_no_index_run_changed_embeddings() {
    let sb = Sandbox::new();
    let v = clustered(1200, 17);
    let fp = "test-model/v1";
    let store = store_with(&sb, &v, fp);
    let params = small_params();
    saved::refresh(&store, fp, params, &[]).unwrap();
    let g1 = saved::saved_generation(&store).unwrap();
    let qs = queries(&v, 20, 5);

    // Clean graph: the query path answers from it, re-ranking from the store,
    // exactly as the fully checked path does.
    let fast = saved::open_for_query(&store, fp, params).unwrap();
    let full = saved::open(&store, fp, params).unwrap();
    assert_eq!(fast.kind(), "flat", "the query path searches the flat file");
    assert_eq!(
        fast.rerank_source(),
        "store",
        "and loads no vectors up front"
    );
    for q in &qs {
        assert_eq!(search_ids(&fast, &store, q), search_ids(&full, &store, q));
    }
    drop(fast);

    // An index run that removes images but dies before refreshing the graph:
    // the marker makes the query path check every id and rebuild.
    saved::mark_dirty(&store).unwrap();
    for id in 1..=50u64 {
        store.remove_image(id).unwrap();
    }
    store.flush().unwrap();
    let ann = saved::open_for_query(&store, fp, params).unwrap();
    assert_eq!(ann.len(), 1200 - 50);
    assert!(
        saved::saved_generation(&store).unwrap() > g1,
        "stale graph rebuilt"
    );
    for q in &qs {
        let hits = ann.search(&store, q, 10);
        assert!(
            hits.iter().all(|n| n.0 > 50),
            "removed ids never returned: {hits:?}"
        );
    }
}

/// `dupes` reads each point's neighbours off the graph instead of searching.
/// Planted near copies (cosine distance 0.01..0.1) among clustered vectors:
/// the lists hold >= 98% of the planted pairs (seeded data; tolerance for
/// the parallel build's nondeterminism), and every listed distance is exact.
#[test]
fn graph_neighbour_lists_hold_planted_near_copies() {
    let mut v = clustered(3000, 21);
    let planted = imgdex::search::ann::plant_near_copies(&mut v, 300, 5);
    let hnsw = HnswIndex::build(&v, small_params());
    let lists = hnsw.edge_knn(10, &v);
    assert_eq!(lists.len(), 3300);
    for (id, near) in lists.iter().take(200) {
        let q = v.vector(*id).unwrap();
        for (other, d) in near {
            assert!(other != id);
            assert!((d - cosine_distance(&q, &v.vector(*other).unwrap())).abs() < 1e-6);
        }
    }
    let recall = imgdex::search::ann::pair_recall(&planted, &lists);
    eprintln!("planted pair recall: {recall:.4}");
    assert!(recall >= 0.98, "planted pair recall {recall}");
}

/// The server's re-rank file: written with each saved graph, its distances
/// equal the store's (same f16 bits), a damaged or missing file is written
/// again from the store, and after embeddings change behind the graph's
/// back (an `index` run stopped part way) it is rewritten too.
#[test]
fn resident_rerank_file_matches_the_store_and_is_rewritten_when_damaged() {
    use imgdex::search::rerank;
    let sb = Sandbox::new();
    let v = clustered(1200, 19);
    let fp = "test-model/v1";
    let store = store_with(&sb, &v, fp);
    let params = small_params();
    saved::refresh(&store, fp, params, &[]).unwrap();
    let file = saved::saved_dir(&store)
        .unwrap()
        .unwrap()
        .join(rerank::FILE_NAME);
    assert!(file.exists(), "saving a graph writes its re-rank file");
    let qs = queries(&v, 20, 7);
    // The same graph re-ranking from store records.
    let from_store = saved::open_for_query(&store, fp, params).unwrap();
    assert_eq!(from_store.rerank_source(), "store");
    let check = |ann: &Searcher| {
        assert_eq!(ann.rerank_source(), "file", "re-ranks from the file");
        for q in &qs {
            let a = ann.search(&store, q, 10);
            let b = from_store.search(&store, q, 10);
            assert_eq!(a, b, "same neighbours and bit-equal distances");
        }
    };
    let ann = saved::open_resident(&store, fp, params).unwrap();
    check(&ann);
    drop(ann);

    // One flipped byte in a vector: the checksum fails, the file is written
    // again from the store.
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 3;
    bytes[last] ^= 0x40;
    std::fs::write(&file, &bytes).unwrap();
    let ann = saved::open_resident(&store, fp, params).unwrap();
    check(&ann);
    assert_ne!(
        std::fs::read(&file).unwrap(),
        bytes,
        "damaged file replaced"
    );

    // Missing: written again.
    std::fs::remove_file(&file).unwrap();
    let ann = saved::open_resident(&store, fp, params).unwrap();
    assert!(ann.rerank_source() == "file" && file.exists());

    // Embedding 1 changes while the graph is marked dirty: the file must
    // serve the new vector, not the one it was written with.
    saved::mark_dirty(&store).unwrap();
    let other = v.vector(600).unwrap();
    put(&store, 1, &other, fp);
    store.flush().unwrap();
    // A one-shot query first: it finds the same ids, keeps the graph and
    // clears the marker, so the server's open must not trust the file.
    drop(saved::open_for_query(&store, fp, params).unwrap());
    let ann = saved::open_resident(&store, fp, params).unwrap();
    assert_eq!(ann.rerank_source(), "file");
    // Every image listed (k = all): 1's re-ranked distance must be to its
    // new vector, not 0 as its old row would say.
    let old = v.vector(1).unwrap();
    let hits = ann.search(&store, &old, 1200);
    let want = cosine_distance(&old, &other);
    assert!(want > 0.01, "the two vectors differ");
    for (id, d) in &hits {
        if *id == 1 {
            assert!(
                (d - want).abs() < 1e-3,
                "re-rank file holds the changed embedding: {hits:?}"
            );
        }
    }
    assert!(hits.iter().any(|h| h.0 == 1), "1 reached: {hits:?}");
}

/// The one-shot query path searches the flat graph file in place: recall
/// against exact search at the stated tolerance with exact distances; a
/// damaged file, or one from another generation, is not used (the dump is
/// loaded instead) and answers stay right.
#[test]
fn flat_graph_file_recall_corruption_and_staleness() {
    use imgdex::search::flatgraph;
    let sb = Sandbox::new();
    let v = clustered(3000, 23);
    let fp = "test-model/v1";
    let store = store_with(&sb, &v, fp);
    let params = small_params();
    saved::refresh(&store, fp, params, &[]).unwrap();
    let exact = ExactIndex::new(v.clone());
    let qs = queries(&v, 100, 3);
    let truth: Vec<_> = qs.iter().map(|q| exact.search(q, 10, &v)).collect();
    let ann = saved::open_for_query(&store, fp, params).unwrap();
    assert!(ann.kind() == "flat", "the flat file is used");
    let got: Vec<_> = qs.iter().map(|q| ann.search(&store, q, 10)).collect();
    let recall = recall_at_k(&truth, &got);
    assert!(
        recall >= MIN_RECALL,
        "flat graph recall@10 {recall:.3} < {MIN_RECALL}"
    );
    for (q, hits) in qs.iter().zip(&got) {
        for (id, d) in hits {
            let want = cosine_distance(q, &v.vector(*id).unwrap());
            assert!((d - want).abs() < 1e-3, "exact re-rank distance for {id}");
        }
    }
    drop(ann);

    // One flipped byte in a neighbour list: refused, and written again
    // from the dump (the same bytes).
    let dir = saved::saved_dir(&store).unwrap().unwrap();
    let file = dir.join(flatgraph::FILE_NAME);
    let good = std::fs::read(&file).unwrap();
    let mut bad = good.clone();
    bad[good.len() / 3] ^= 0x10;
    std::fs::write(&file, &bad).unwrap();
    let ann = saved::open_for_query(&store, fp, params).unwrap();
    assert!(ann.kind() == "flat", "the flat file is searched");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        good,
        "a damaged flat file is written again"
    );
    let first = ann.search(&store, &qs[0], 10)[0];
    assert_eq!(
        first.0, truth[0][0].0,
        "the nearest (the query itself) is found"
    );
    drop(ann);

    // A new generation (images removed) gets its own file; the old file
    // copied over it is bound to the old dump and is refused.
    for id in 1..=400u64 {
        store.remove_image(id).unwrap();
    }
    store.flush().unwrap();
    saved::refresh(&store, fp, params, &[]).unwrap();
    let new_dir = saved::saved_dir(&store).unwrap().unwrap();
    assert_ne!(new_dir, dir);
    let ann = saved::open_for_query(&store, fp, params).unwrap();
    assert!(ann.kind() == "flat", "the new generation has its flat file");
    drop(ann);
    std::fs::write(new_dir.join(flatgraph::FILE_NAME), &good).unwrap();
    let ann = saved::open_for_query(&store, fp, params).unwrap();
    assert!(ann.kind() == "flat");
    assert_ne!(
        std::fs::read(new_dir.join(flatgraph::FILE_NAME)).unwrap(),
        good,
        "a stale flat file is written again for its generation"
    );
    let hits = ann.search(&store, &qs[0], 10);
    assert!(hits.iter().all(|n| n.0 > 400), "removed ids never returned");
}

// ---------------------------------------------------------------------------
// The store-fitted PCA-whitening (the search space)
// ---------------------------------------------------------------------------

use imgdex::search::whiten::{self, Whitening, MIN_FIT, WHITEN_DIM};

#[test]
fn whitening_fit_is_deterministic_and_its_output_unit_length() {
    let v = clustered(MIN_FIT + 44, 21);
    let rows: Vec<&[f32]> = v.iter().map(|(_, r)| r).collect();
    let a = Whitening::fit("m", &rows).expect("enough rows");
    let b = Whitening::fit("m", &rows).expect("enough rows");
    assert_eq!(a, b, "the same rows must give the same transform");
    assert_eq!(a.fingerprint(), b.fingerprint());
    assert_eq!((a.dim as usize, a.out_dim as usize), (DIM, WHITEN_DIM));
    let many = a.apply_many(&rows);
    for (row, w) in rows.iter().zip(&many) {
        let one = a.apply(row);
        assert_eq!(one.len(), WHITEN_DIM);
        let norm: f32 = one.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
        let diff = one
            .iter()
            .zip(w)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(diff < 1e-4, "apply and apply_many differ by {diff}");
    }
    // Each image stays its own nearest neighbour in the whitened space.
    let white = |i: usize| &many[i];
    for i in (0..rows.len()).step_by(37) {
        let best = (0..rows.len())
            .max_by(|&x, &y| {
                let dx = imgdex::vecmath::dot(white(i), white(x));
                dx.total_cmp(&imgdex::vecmath::dot(white(i), white(y)))
            })
            .unwrap();
        assert_eq!(best, i);
    }
    assert!(Whitening::fit("m", &rows[..MIN_FIT - 1]).is_none());
    let other = Whitening::fit("m", &rows[1..]).unwrap();
    assert_ne!(a.fingerprint(), other.fingerprint());
}

#[test]
fn a_store_change_refits_the_whitening_and_rebuilds_the_graph() {
    let sb = Sandbox::new();
    let fp = "whiten-model/v1";
    let params = HnswParams {
        exact_below: 0,
        ..small_params()
    };
    let v = clustered(MIN_FIT + 100, 5);
    let store = store_with(&sb, &v, fp);
    // Below MIN_FIT nothing is fitted; here the first update fits.
    assert!(whiten::update(&store, fp, v.len()).unwrap());
    let w1 = whiten::load(&store, fp).unwrap().expect("fitted");
    assert!(whiten::load(&store, "another-model").unwrap().is_none());
    saved::refresh(&store, fp, params, &[]).unwrap();
    let g1 = saved::saved_generation(&store).unwrap();
    let ann = saved::open(&store, fp, params).unwrap();
    let live = ann.live().unwrap();
    assert_eq!(live.dim, WHITEN_DIM, "the graph indexes whitened vectors");
    // The searcher whitens the raw query itself, as it was whitened for
    // the graph.
    let raw = v.vector(7).unwrap();
    assert_eq!(ann.search(&store, &raw, 1)[0].0, 7);
    let q = w1.apply(&raw);
    assert_eq!(ann.search_in_space(&store, &q, 1)[0].0, 7);
    let fast = saved::open_for_query(&store, fp, params).unwrap();
    assert_eq!(fast.search(&store, &raw, 1)[0].0, 7);
    // A small change (under 10%) keeps the transform and the graph.
    assert!(!whiten::update(&store, fp, 3).unwrap());
    saved::refresh(&store, fp, params, &[]).unwrap();
    assert_eq!(saved::saved_generation(&store).unwrap(), g1);
    // 100 more embeddings: refitted, new fingerprint, graph rebuilt.
    let more = imgdex::search::ann::clustered_vectors(100, DIM, 99);
    for (id, x) in more.iter() {
        put(&store, 10_000 + id, x, fp);
    }
    assert!(whiten::update(&store, fp, 100).unwrap());
    let w2 = whiten::load(&store, fp).unwrap().unwrap();
    assert_ne!(w1.fingerprint(), w2.fingerprint());
    assert_eq!(w2.fitted_on as usize, v.len() + 100);
    saved::refresh(&store, fp, params, &[]).unwrap();
    assert!(saved::saved_generation(&store).unwrap() > g1);
    let ann = saved::open(&store, fp, params).unwrap();
    assert_eq!(ann.len(), v.len() + 100);
    assert_eq!(ann.search(&store, &more.vector(3).unwrap(), 1)[0].0, 10_003);
}

/// A flat graph file that passed a full check once is remembered (its
/// identity in `graph.flat.ok`) and then opened without the full hash; it
/// answers the same, and any write to it brings the full check back, which
/// refuses a damaged file.
#[test]
fn flat_graph_check_is_remembered_until_the_file_changes() {
    use imgdex::search::flatgraph::{self, checked};
    let sb = Sandbox::new();
    let v = clustered(3000, 29);
    let fp = "test-model/v1";
    let store = store_with(&sb, &v, fp);
    let params = small_params();
    saved::refresh(&store, fp, params, &[]).unwrap();
    let dir = saved::saved_dir(&store).unwrap().unwrap();
    let (file, ok) = (dir.join(flatgraph::FILE_NAME), dir.join("graph.flat.ok"));
    let qs = queries(&v, 20, 5);
    let answers = || {
        let ann = saved::open_for_query(&store, fp, params).unwrap();
        assert!(ann.kind() == "flat", "the flat file is used");
        qs.iter()
            .map(|q| ann.search(&store, q, 10))
            .collect::<Vec<_>>()
    };
    let full = answers();
    assert!(!ok.exists(), "a file written just now is not remembered");
    std::thread::sleep(checked::SETTLE + std::time::Duration::from_millis(1100));
    assert_eq!(answers(), full);
    assert!(ok.exists(), "a settled file that checked out is remembered");
    assert_eq!(answers(), full, "the remembered file answers the same");

    let mut bad = std::fs::read(&file).unwrap();
    let at = bad.len() / 3;
    bad[at] ^= 0x10;
    std::fs::write(&file, &bad).unwrap();
    let ann = saved::open_for_query(&store, fp, params).unwrap();
    assert!(ann.kind() == "flat");
    assert_ne!(
        std::fs::read(&file).unwrap(),
        bad,
        "a file changed after it was remembered is checked in full, refused and written again"
    );
}
