//! CNN embeddings through the real ONNX Runtime and the real converted
//! EfficientNet-Lite0 (installed by `scripts/setup`, which the test command
//! runs first): agreement with Python's onnxruntime, ImageNet classes on the
//! shipped CC0 photos, clear errors without the model, and recomputation when
//! the model changes.

use std::path::{Path, PathBuf};
use std::process::Command;

use imgdex::config::DecodeConfig;
use imgdex::decode;
use imgdex::features::embedding::{EmbedConfig, Embedder};

use crate::util::{self, Sandbox};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures/models").join(name)
}

fn working_image(path: &Path) -> image::RgbImage {
    let cfg = DecodeConfig::default();
    let bytes = decode::read_file(path, &cfg).expect("read fixture");
    decode::decode(path, &bytes, &cfg)
        .expect("decode fixture")
        .image
}

fn write_f32(path: &Path, v: &[f32]) {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(path, bytes).expect("write f32 file");
}

fn read_f32(path: &Path) -> Vec<f32> {
    std::fs::read(path)
        .expect("read f32 file")
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[test]
fn rust_embedding_matches_python_onnxruntime() {
    if util::no_model() {
        return;
    }
    matches_python_onnxruntime(&util::models_dir().join("efficientnet-lite0.onnx"));
}

/// The int8 model `scripts/setup` quantises: run by Rust, its embedding
/// equals Python ONNX Runtime's on the same input tensor.
#[test]
fn int8_model_matches_python_onnxruntime() {
    if util::no_model() || util::no_int8_model() {
        return;
    }
    matches_python_onnxruntime(&util::models_dir().join(util::INT8_MODEL));
}

fn matches_python_onnxruntime(model: &Path) {
    let cfg = EmbedConfig {
        model: model.to_path_buf(),
        ..EmbedConfig::in_dir(&util::models_dir())
    };
    let mut embedder = Embedder::load(&cfg).expect("load model");
    let mut input = Vec::new();
    for name in ["chelsea.jpg", "coffee.jpg"] {
        input.extend(embedder.preprocess(&working_image(&fixture(name))));
    }
    let rust = embedder.embed(input.clone(), 2).expect("embed");

    let sb = Sandbox::new();
    let (inp, out) = (sb.root.join("input.f32"), sb.root.join("output.f32"));
    write_f32(&inp, &input);
    let status = Command::new(repo().join(".venv/bin/python"))
        .arg(repo().join("scripts/ort_reference.py"))
        .args([model.to_path_buf(), inp, PathBuf::from("2"), out.clone()])
        .args(["--output", embedder.spec().embedding_output.as_str()])
        .status()
        .expect("run scripts/ort_reference.py");
    assert!(status.success(), "ort_reference.py failed");
    let python = read_f32(&out);
    let dim = embedder.spec().embedding_dim;
    assert_eq!(python.len(), 2 * dim);

    let mut max_diff = 0f32;
    for (i, e) in rust.iter().enumerate() {
        for (j, v) in e.vector.iter().enumerate() {
            let raw = v * e.norm;
            max_diff = max_diff.max((raw - python[i * dim + j]).abs());
        }
    }
    // Same model, same input tensor; the two ONNX Runtime builds may differ
    // in the last bits of float summation order only.
    assert!(
        max_diff < 1e-4,
        "{}: Rust and Python ONNX Runtime outputs differ by {max_diff}",
        model.display()
    );
}

#[test]
fn imagenet_classes_of_the_fixture_photos() {
    if util::no_model() {
        return;
    }
    let sb = Sandbox::new();
    let cat = sb.imgdex([
        "inspect".into(),
        "--json".into(),
        fixture("chelsea.jpg").into_os_string(),
    ]);
    cat.assert_code(0);
    let cat = cat.json();
    let top3: Vec<u64> = cat["classes"].as_array().expect("classes")[..3]
        .iter()
        .map(|c| c["class"].as_u64().unwrap())
        .collect();
    for c in &top3 {
        assert!(
            [281, 282, 285].contains(c),
            "chelsea top-3 {top3:?} should be cat classes 281/282/285"
        );
    }

    let coffee = sb.imgdex([
        "inspect".into(),
        "--json".into(),
        fixture("coffee.jpg").into_os_string(),
    ]);
    coffee.assert_code(0);
    let first = &coffee.json()["classes"][0];
    assert_eq!(
        first["class"].as_u64(),
        Some(967),
        "coffee should be espresso (967): {first}"
    );
    assert!(first["probability"].as_f64().unwrap() > 0.8);
}

fn small_collection(sb: &Sandbox) -> PathBuf {
    let dir = sb.dir("images");
    for seed in 0..3u64 {
        let base = util::scene(seed + 40, 320, 240);
        util::write_png(&dir.join(format!("s{seed}.png")), &base);
        util::write_jpeg(
            &dir.join(format!("s{seed}_small.jpg")),
            &util::resized(&base, 160, 120),
            80,
        );
    }
    dir
}

#[test]
fn missing_ort_library_is_a_clear_error() {
    let sb = Sandbox::new();
    let dir = small_collection(&sb);
    let out = sb.imgdex([
        "index".into(),
        dir.into_os_string(),
        "--ort-lib".into(),
        sb.root.join("nowhere/libonnxruntime.so").into_os_string(),
    ]);
    out.assert_code(2);
    assert!(
        out.stderr.contains("ONNX Runtime library not found"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("scripts/setup") && out.stderr.contains("--no-embed"),
        "{}",
        out.stderr
    );
}

#[test]
fn missing_model_is_a_clear_error() {
    let sb = Sandbox::new();
    let dir = small_collection(&sb);
    if util::no_model() {
        return;
    }
    let lib = util::models_dir().join("libonnxruntime.so");
    let out = sb.imgdex([
        "index".into(),
        dir.into_os_string(),
        "--model".into(),
        sb.root.join("nowhere/model.onnx").into_os_string(),
        "--ort-lib".into(),
        lib.into_os_string(),
    ]);
    out.assert_code(2);
    assert!(
        out.stderr.contains("model file not found"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("nowhere/model.onnx"),
        "error names the path: {}",
        out.stderr
    );
}

#[test]
fn no_embed_needs_no_model() {
    let sb = Sandbox::new();
    let dir = small_collection(&sb);
    let mut cmd = util::command(&sb.db());
    cmd.env("IMGDEX_MODELS", sb.root.join("no-models"));
    let args = vec![
        "index".into(),
        "--json".into(),
        "--no-embed".into(),
        dir.into_os_string(),
    ];
    cmd.args(&args);
    let out = util::run_with_timeout(cmd, args, util::RUN_TIMEOUT);
    out.assert_code(0);
    let info = sb.info();
    assert_eq!(info.images, 6);
    assert_eq!(info.features.embedding, 0);
}

#[test]
fn every_image_gets_an_embedding_and_query_finds_the_copy() {
    if util::no_model() {
        return;
    }
    let sb = Sandbox::new();
    let dir = small_collection(&sb);
    for name in ["chelsea", "coffee"] {
        std::fs::copy(
            fixture(&format!("{name}.jpg")),
            dir.join(format!("{name}.jpg")),
        )
        .unwrap();
    }
    let (out, summary) = sb.index([dir.as_os_str()]);
    out.assert_code(0);
    assert_eq!(summary.indexed, 8);
    let info = sb.info();
    assert_eq!(info.features.embedding, 8);
    // A smaller, recompressed copy of each photo (not in the store) finds
    // its original first, well ahead of the next image.
    for name in ["chelsea", "coffee"] {
        let img = image::open(fixture(&format!("{name}.jpg")))
            .unwrap()
            .to_rgb8();
        let probe = sb.root.join(format!("{name}_copy.jpg"));
        util::write_jpeg(
            &probe,
            &util::resized(&img, img.width() * 3 / 4, img.height() * 3 / 4),
            60,
        );
        let hits = sb.query(&probe, &["--by", "embedding", "-k", "2"]);
        assert_eq!(
            hits[0].path,
            util::disp(&dir.join(format!("{name}.jpg"))),
            "query {name}: {hits:?}"
        );
        assert!(
            hits[0].distance < 0.25 && hits[1].distance > 2.0 * hits[0].distance,
            "{hits:?}"
        );
    }
}

#[test]
fn switching_the_model_recomputes_embeddings() {
    if util::no_model() {
        return;
    }
    let models = util::models_dir();
    let sb = Sandbox::new();
    let dir = small_collection(&sb);
    let (_, first) = sb.index([dir.as_os_str()]);
    assert_eq!(first.indexed, 6);
    let (_, again) = sb.index([dir.as_os_str()]);
    assert_eq!((again.indexed, again.unchanged), (0, 6));

    // The same weights under another sidecar (another preprocessing) count
    // as another model.
    let alt = sb.dir("alt-model");
    std::fs::copy(models.join("efficientnet-lite0.onnx"), alt.join("alt.onnx")).unwrap();
    let sidecar = std::fs::read_to_string(models.join("efficientnet-lite0.json")).unwrap();
    let mut spec: serde_json::Value = serde_json::from_str(&sidecar).unwrap();
    spec["name"] = "efficientnet-lite0-alt".into();
    spec["resize_short"] = 240.into();
    std::fs::write(alt.join("alt.json"), spec.to_string()).unwrap();

    let (out, switched) = sb.index([
        dir.as_os_str(),
        "--model".as_ref(),
        alt.join("alt.onnx").as_os_str(),
        "--ort-lib".as_ref(),
        models.join("libonnxruntime.so").as_os_str(),
    ]);
    out.assert_code(0);
    assert_eq!(
        switched.indexed,
        6,
        "every image is re-embedded: {}",
        out.describe()
    );
    let info = sb.info();
    assert!(
        info.fingerprints["embedding"].starts_with("efficientnet-lite0-alt/"),
        "{:?}",
        info.fingerprints
    );
}

/// A store built with the float model is recomputed by the next `index`
/// with the int8 one, the default (its digest is part of the embedding
/// fingerprint), and back. Until then a query without `--model` embeds
/// with the float model that built the store instead of failing.
#[test]
fn switching_to_the_int8_model_recomputes_embeddings() {
    if util::no_model() || util::no_int8_model() {
        return;
    }
    let models = util::models_dir();
    let sb = Sandbox::new();
    let dir = small_collection(&sb);
    let float = models.join(util::FLOAT_MODEL);
    let with_float = [dir.as_os_str(), "--model".as_ref(), float.as_os_str()];
    let (_, first) = sb.index(with_float);
    assert_eq!(first.indexed, 6);
    assert!(
        first.embedding_changed.is_none(),
        "{:?}",
        first.embedding_changed
    );
    let fp = sb.info().fingerprints["embedding"].clone();
    assert!(fp.starts_with("efficientnet-lite0/"), "{fp}");

    let probe = dir.join("s1.png");
    let hits = sb.query(&probe, &["--by", "embedding", "-k", "3"]);
    let float_arg = float.to_str().unwrap();
    let named = sb.query(
        &probe,
        &["--by", "embedding", "-k", "3", "--model", float_arg],
    );
    assert_eq!(
        format!("{hits:?}"),
        format!("{named:?}"),
        "the float store is queried with the float model"
    );

    let (out, switched) = sb.index([dir.as_os_str()]);
    out.assert_code(0);
    assert_eq!(switched.indexed, 6, "re-embedded: {}", out.describe());
    let fp = sb.info().fingerprints["embedding"].clone();
    assert!(fp.starts_with("efficientnet-lite0-int8/"), "{fp}");
    // The change is announced when the run starts, and in the summary.
    let change = switched
        .embedding_changed
        .expect("the model change is reported");
    let from = change.from.as_deref().unwrap_or_default();
    assert!(from.starts_with("efficientnet-lite0/"), "{change:?}");
    assert_eq!((change.to.as_str(), change.images), (fp.as_str(), 6));
    assert!(
        out.stderr.contains("embeddings are from efficientnet-lite0 and this run embeds with efficientnet-lite0-int8: 6 images embedded again"),
        "{}",
        out.stderr
    );
    let (_, again) = sb.index([dir.as_os_str()]);
    assert_eq!((again.indexed, again.unchanged), (0, 6));
    assert!(again.embedding_changed.is_none());
    let hits = sb.query(&probe, &["--by", "embedding", "-k", "3"]);
    assert_eq!(hits.len(), 3, "{hits:?}");

    // A named model is used as named: the query fails on the int8 store.
    let out = sb.imgdex([
        "query".as_ref(),
        probe.as_os_str(),
        "--by".as_ref(),
        "embedding".as_ref(),
        "--model".as_ref(),
        float.as_os_str(),
    ]);
    assert_ne!(out.code, Some(0), "{}", out.describe());
    assert!(
        out.stderr
            .contains("no embeddings from model efficientnet-lite0;"),
        "{}",
        out.stderr
    );

    let (_, back) = sb.index(with_float);
    assert_eq!(back.indexed, 6, "the float model recomputes them again");
}

/// A models directory from before the int8 model (the float model only):
/// a float store is still queried without `--model`. The query's early
/// load of the missing default model fails, and that failure is not the
/// query's.
#[test]
fn a_float_store_is_queried_from_a_models_directory_without_the_default() {
    if util::no_model() {
        return;
    }
    let models = util::models_dir();
    let sb = Sandbox::new();
    let dir = small_collection(&sb);
    let old = sb.dir("old-models");
    for f in [
        util::FLOAT_MODEL,
        "efficientnet-lite0.json",
        "libonnxruntime.so",
    ] {
        std::fs::copy(models.join(f), old.join(f)).unwrap();
    }
    let float = old.join(util::FLOAT_MODEL);
    let (out, first) = sb.index([dir.as_os_str(), "--model".as_ref(), float.as_os_str()]);
    out.assert_code(0);
    assert_eq!(first.indexed, 6);
    let probe = dir.join("s1.png");
    let env = [("IMGDEX_MODELS", old.to_str().unwrap())];
    let plain = [
        "query".as_ref(),
        "--json".as_ref(),
        probe.as_os_str(),
        "--by".as_ref(),
        "embedding".as_ref(),
    ];
    let out = util::imgdex_env(&sb.db(), &env, &plain);
    out.assert_code(0);
    let named = sb.query(
        &probe,
        &["--by", "embedding", "--model", float.to_str().unwrap()],
    );
    assert_eq!(out.parse::<Vec<util::Hit>>(), named);
}

/// Path → stored embedding, from `export features --feature embedding`.
fn exported_embeddings(sb: &Sandbox, root: &Path) -> std::collections::BTreeMap<String, Vec<f32>> {
    let out_file = sb.root.join("emb.csv");
    sb.imgdex(
        [
            "export",
            "features",
            "--feature",
            "embedding",
            "--format",
            "csv",
            "--out",
        ]
        .map(Into::into)
        .into_iter()
        .chain([out_file.clone().into_os_string()]),
    )
    .assert_code(0);
    let text = std::fs::read_to_string(&out_file).unwrap();
    text.lines()
        .skip(1)
        .map(|line| {
            let mut cells = line.split(',');
            let path = cells.next().unwrap().trim_matches('"');
            let rel = Path::new(path)
                .strip_prefix(root)
                .unwrap()
                .display()
                .to_string();
            (rel, cells.map(|c| c.parse::<f32>().unwrap()).collect())
        })
        .collect()
}

#[test]
fn several_sessions_embed_like_one() {
    if util::no_model() {
        return;
    }
    let stores: Vec<_> = [
        ["--ort-sessions", "1", "--batch", "8"],
        ["--ort-sessions", "3", "--batch", "2"],
    ]
    .iter()
    .map(|layout| {
        let sb = Sandbox::new();
        let dir = small_collection(&sb);
        let mut args: Vec<std::ffi::OsString> = vec![
            dir.clone().into_os_string(),
            "--ort-threads".into(),
            "1".into(),
        ];
        args.extend(layout.iter().map(Into::into));
        let (out, summary) = sb.index(args);
        out.assert_code(0);
        assert_eq!(summary.indexed, 6, "{}", out.describe());
        let emb = exported_embeddings(&sb, &dir);
        (sb, emb)
    })
    .collect();
    let (one, three) = (&stores[0].1, &stores[1].1);
    assert_eq!(one.len(), 6);
    assert_eq!(
        one.keys().collect::<Vec<_>>(),
        three.keys().collect::<Vec<_>>()
    );
    for (path, a) in one {
        let b = &three[path];
        assert_eq!(a.len(), b.len());
        let diff = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(
            diff < 1e-3,
            "{path}: embeddings differ by {diff} between session layouts"
        );
    }
}
