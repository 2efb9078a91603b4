//! The saved graph's edge file (`graph.edges`), which `dupes` reads
//! instead of loading the `hnsw_rs` dump: on a seeded store whose graph has
//! hidden positions, it gives exactly the loaded graph's `edge_knn` (the
//! ten nearest and the whole neighbour union), and a missing, damaged or
//! stale file, a dirty store or changed embeddings make `dupes` load the
//! dump instead; the dump's pass writes the file again.

use imgdex::search::ann::{HnswParams, MemoryVectors, Neighbour};
use imgdex::search::edges;
use imgdex::search::saved;
use imgdex::store::Store;

use crate::ann::{clustered, put, store_with};
use crate::util::Sandbox;

const FP: &str = "test-model/v1";

fn params() -> HnswParams {
    HnswParams {
        exact_below: 100,
        ..HnswParams::default()
    }
}

/// Sorted by id, so the two paths' answers compare whole.
fn sorted(mut lists: Vec<(u64, Vec<Neighbour>)>) -> Vec<(u64, Vec<Neighbour>)> {
    lists.sort_by_key(|l| l.0);
    lists
}

/// The loaded `hnsw_rs` graph's `edge_knn(k)`, and that graph's live
/// vectors.
fn loaded_edge_knn(store: &Store, k: usize) -> (Vec<(u64, Vec<Neighbour>)>, MemoryVectors) {
    let live = saved::open(store, FP, params())
        .unwrap()
        .live()
        .unwrap()
        .clone();
    let lists = saved::with_loaded_graph(store, FP, params(), |h| sorted(h.edge_knn(k, &live)))
        .unwrap()
        .expect("a graph is saved for this store");
    (lists, live)
}

fn file_edge_knn(store: &Store, k: usize) -> Option<Vec<(u64, Vec<Neighbour>)>> {
    let (g, live) = saved::open_for_dupes(store, FP, &params()).unwrap()?;
    Some(sorted(g.edge_knn(k, &live)))
}

/// The store's edge file after a save with removed and re-embedded
/// images (so the graph has hidden positions).
fn seeded_store(sb: &Sandbox) -> (Store, std::path::PathBuf) {
    let v = clustered(2500, 31);
    let store = store_with(sb, &v, FP);
    saved::refresh(&store, FP, params(), &[]).unwrap();
    for id in (1..=2500u64).step_by(50) {
        store.remove_image(id).unwrap();
    }
    let other = clustered(2500, 32);
    let changed: Vec<u64> = (2..=2500u64).step_by(97).collect();
    for &id in &changed {
        put(&store, id, other.slice(id).unwrap(), FP);
    }
    store.flush().unwrap();
    saved::refresh(&store, FP, params(), &changed).unwrap();
    let dir = saved::saved_dir(&store).unwrap().unwrap();
    (store, dir.join(edges::FILE_NAME))
}

#[test]
fn edge_file_gives_the_loaded_graphs_neighbours() {
    let sb = Sandbox::new();
    let (store, _) = seeded_store(&sb);
    for k in [10, usize::MAX] {
        let (want, live) = loaded_edge_knn(&store, k);
        assert_eq!(want.len(), live.len(), "every live image has a list");
        let got = file_edge_knn(&store, k).expect("the edge file is used");
        assert_eq!(got, want, "k = {k}");
    }
    // The union reaches further than the ten nearest: the comparison above
    // covers whole lists, not just their heads.
    let (all, _) = loaded_edge_knn(&store, usize::MAX);
    assert!(all.iter().any(|(_, l)| l.len() > 20));
}

#[test]
fn a_missing_damaged_or_stale_edge_file_is_not_used_and_written_again() {
    let sb = Sandbox::new();
    let (store, file) = seeded_store(&sb);
    let good = std::fs::read(&file).unwrap();
    let rewritten = |store: &Store| {
        // The fallback of `dupes`: open, which writes the file again.
        let ann = saved::open(store, FP, params()).unwrap();
        assert_eq!(ann.kind(), "flat");
        assert!(file_edge_knn(store, 10).is_some());
        assert_eq!(std::fs::read(&file).unwrap(), good, "same bytes again");
    };
    std::fs::remove_file(&file).unwrap();
    assert!(file_edge_knn(&store, 10).is_none(), "missing");
    rewritten(&store);

    for at in [20, good.len() / 2, good.len() - 3] {
        let mut bad = good.clone();
        bad[at] ^= 0x04;
        std::fs::write(&file, &bad).unwrap();
        assert!(file_edge_knn(&store, 10).is_none(), "byte {at} flipped");
        rewritten(&store);
    }
    std::fs::write(&file, &good[..good.len() - 4]).unwrap();
    assert!(file_edge_knn(&store, 10).is_none(), "truncated");
    rewritten(&store);

    // A store an `index` run may have changed behind the graph's back.
    saved::mark_dirty(&store).unwrap();
    assert!(file_edge_knn(&store, 10).is_none(), "dirty store");
    drop(saved::open(&store, FP, params()).unwrap()); // checks ids, clears
    assert!(file_edge_knn(&store, 10).is_some());
    store.remove_image(7).unwrap();
    assert!(file_edge_knn(&store, 10).is_none(), "ids differ");

    // A new generation's file replaced by the old one's: bound to the old
    // dump, refused.
    saved::refresh(&store, FP, params(), &[]).unwrap();
    let new_file = saved::saved_dir(&store).unwrap().unwrap();
    let new_file = new_file.join(edges::FILE_NAME);
    assert_ne!(new_file, file);
    assert!(file_edge_knn(&store, 10).is_some(), "the new generation's");
    std::fs::write(&new_file, &good).unwrap();
    assert!(file_edge_knn(&store, 10).is_none(), "another dump's file");
}
