//! Why two images were (not) grouped by `dupes`: prints the verification
//! stage's verdict (detail score, hue turn and its limit, and for two
//! graphics whether their palettes were recoloured) for pairs of stored images, so
//! a missed copy or a wrongly joined capture can be looked at directly.
//!
//!     cargo run --release --example verify_pairs -- DB A B [A B ...]
//!
//! With a single path after DB, that image is verified against every
//! other stored image whose path shares its first `PREFIX` argument
//! (`VERIFY_PREFIX`, default: the same directory).

use std::collections::HashMap;
use std::path::Path;

use imgdex::features::signature::fingerprint;
use imgdex::jobs::dupes::verify::verify;
use imgdex::store::{Store, StoreOptions};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (db, rest) = args
        .split_first()
        .ok_or_else(|| anyhow::anyhow!("usage: DB A B [A B ...]"))?;
    let store = Store::open(Path::new(db), &StoreOptions::for_scans())?;
    let fp = fingerprint();
    let mut ids: HashMap<String, u64> = HashMap::new();
    for r in store.iter_images() {
        let (id, rec) = r?;
        ids.insert(String::from_utf8_lossy(&rec.path).into_owned(), id);
    }
    let sig = |p: &str| -> anyhow::Result<_> {
        let id = ids
            .get(p)
            .ok_or_else(|| anyhow::anyhow!("not in the store: {p}"))?;
        store
            .current_signature(*id, &fp)?
            .ok_or_else(|| anyhow::anyhow!("no current signature: {p}"))
    };
    let pairs: Vec<(String, String)> = match rest {
        [one] => {
            let prefix = std::env::var("VERIFY_PREFIX").unwrap_or_default();
            let mut others: Vec<&String> = ids
                .keys()
                .filter(|p| *p != one && p.starts_with(&prefix))
                .collect();
            others.sort();
            others
                .into_iter()
                .map(|o| (one.clone(), o.clone()))
                .collect()
        }
        _ => rest
            .chunks_exact(2)
            .map(|c| (c[0].clone(), c[1].clone()))
            .collect(),
    };
    for (a, b) in pairs {
        let (sa, sb) = (sig(&a)?, sig(&b)?);
        let dims = format!("{}x{} {}x{}", sa.width, sa.height, sb.width, sb.height);
        match verify(&sa, &sb) {
            Some(v) => println!(
                "{:>8} {:>8} {:>5} {:>5} {dims} {a} {b}",
                fmt(v.detail),
                fmt(v.chroma()),
                limit(&v),
                v.recoloured
                    .map_or("-", |r| if r { "recol" } else { "tone" })
            ),
            None => println!("unverifiable {a} {b}"),
        }
    }
    Ok(())
}

/// The hue turn's limit (it depends on how the turn was measured).
fn limit(v: &imgdex::jobs::dupes::verify::Verdict) -> String {
    v.hue.map_or("-".into(), |h| format!("{:.0}", h.limit))
}

fn fmt(v: Option<f32>) -> String {
    v.map_or("-".into(), |x| format!("{x:.3}"))
}
