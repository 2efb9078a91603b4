//! The commands that analyse one image: `query` (its nearest stored
//! images; the flags become the library's `QueryRequest`, as the HTTP
//! API's query string does) and `inspect` (its features, without a store).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use super::args::{InspectArgs, QueryArgs};
use super::{open, print_json, stored_feature_config};
use imgdex::features::FeatureConfig;
use imgdex::jobs::{inspect, query};

pub(super) fn query(db: &Path, a: QueryArgs, text: &mut String) -> Result<ExitCode> {
    let query::QuerySettings { k, by } = query::QueryRequest {
        k: Some(a.k),
        by: Some(a.by.into()),
        max_k: None,
    }
    .settings()
    // The library names the setting (`k must ...`); its flag is `-k`.
    .map_err(|e| anyhow::anyhow!("-{e}"))?;
    let embed = a.model.embed_config();
    // The model loads while the store opens (both take ~0.1 s on a large
    // store); a hash or histogram query needs no model.
    let model = embed
        .as_ref()
        .filter(|_| by.may_embed())
        .map(query::PendingModel::start);
    let store = open(db, false)?;
    let cfg = query::QueryConfig {
        image: a.image,
        k,
        by,
        embed,
        decode: (&a.decode).into(),
        features: stored_feature_config(&store)?,
    };
    let hits = query::run_with(&store, &cfg, model)?;
    if a.json {
        print_json(text, &hits)?;
    } else {
        out!(text, "{}", header(by));
        for h in &hits {
            out!(text, "{:>8.3}  {}", h.distance, h.path);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What the distance column means: lower is closer, on the scale of `by`.
fn header(by: query::QueryBy) -> String {
    let scale = match by {
        query::QueryBy::Embedding => "CNN cosine distance, 0 (same) to 2",
        query::QueryBy::Hash => "pHash Hamming distance, 0 to 64 bits",
        query::QueryBy::Histogram => "colour histogram Hellinger distance, 0 to 1",
        query::QueryBy::Auto => {
            "CNN cosine distance 0 to 2 when the store has embeddings, else pHash bits 0 to 64"
        }
    };
    format!("# distance (lower is closer; {scale})  path")
}

pub(super) fn inspect(a: InspectArgs, text: &mut String) -> Result<ExitCode> {
    let cfg = inspect::InspectConfig {
        image: a.image,
        plot: a.plot,
        embed: a.model.embed_config(),
        decode: (&a.decode).into(),
        features: FeatureConfig::default(),
    };
    let r = inspect::run(&cfg)?;
    if a.json {
        print_json(text, &r)?;
        return Ok(ExitCode::SUCCESS);
    }
    out!(text, "path:    {}", r.path);
    out!(text, "format:  {} {}x{}", r.format, r.width, r.height);
    out!(text, "blake3:  {}", r.digest);
    out!(text, "phash:   {}", r.hashes.phash);
    out!(text, "dhash:   {}", r.hashes.dhash);
    out!(text, "ahash:   {}", r.hashes.ahash);
    let fmt = |v: &[f32]| {
        v.iter()
            .map(|x| format!("{x:.3}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    out!(text, "hist R:  {}", fmt(&r.histogram.r));
    out!(text, "hist G:  {}", fmt(&r.histogram.g));
    out!(text, "hist B:  {}", fmt(&r.histogram.b));
    if let Some(c) = &r.classes {
        let top: Vec<String> = c
            .iter()
            .map(|c| format!("{} ({:.2})", c.label, c.probability))
            .collect();
        out!(text, "classes: {}", top.join(", "));
    }
    if let Some(note) = &r.embedding_error {
        eprintln!("note: no CNN classes: {note}");
    }
    Ok(ExitCode::SUCCESS)
}
