#!/usr/bin/env python3
"""Checks for the converted EfficientNet-Lite0 model (no pytest needed).

    .venv/bin/python scripts/test_convert.py [-v]

Needs `bash scripts/setup` to have run. Prints one line per check and a last
line "N passed, M failed"; exits non-zero if any check failed.
"""

import hashlib
import json
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
MODEL = MODELS / "efficientnet-lite0.onnx"
SIDECAR = MODELS / "efficientnet-lite0.json"
CLASSES = MODELS / "imagenet_classes.txt"
ORT_LIB = MODELS / "libonnxruntime.so"
FIXTURES = ROOT / "tests" / "fixtures" / "models"
SCRIPTS = ROOT / "scripts"

VERBOSE = "-v" in sys.argv[1:]


# ---- reference preprocessing (what the Rust side must reproduce) ----------

def center_crop_box(width, height, input_size=224, resize_short=256):
    """Square central crop of input_size/resize_short of the short side.

    crop = floor(short * 224 / 256); offsets round up like TF's
    ((dim - crop + 1) // 2). Returns (left, top, right, bottom).
    """
    crop = (min(width, height) * input_size) // resize_short
    left = (width - crop + 1) // 2
    top = (height - crop + 1) // 2
    return left, top, left + crop, top + crop


def preprocess(path, meta):
    """Image file -> float32 [1,3,224,224] per the sidecar recipe."""
    size = meta["input_size"]
    with Image.open(path) as im:
        im = im.convert("RGB")
        box = center_crop_box(im.width, im.height, size, meta["resize_short"])
        assert meta["interpolation"] == "bicubic"
        im = im.resize((size, size), Image.BICUBIC, box=box)
        x = np.asarray(im, dtype=np.float32)
    x = (x - np.asarray(meta["mean"], np.float32)) * np.float32(meta["scale"])
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])  # HWC -> NCHW


def softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


# ---- shared state ----------------------------------------------------------

_cache = {}


def meta():
    if "meta" not in _cache:
        _cache["meta"] = json.loads(SIDECAR.read_text())
    return _cache["meta"]


def session(threads=0):
    key = ("sess", threads)
    if key not in _cache:
        so = ort.SessionOptions()
        if threads:
            so.intra_op_num_threads = threads
        _cache[key] = ort.InferenceSession(str(MODEL), so, providers=["CPUExecutionProvider"])
    return _cache[key]


def run(x):
    emb, logits = session().run(["embedding", "logits"], {"input": x})
    return emb, logits


def class_names():
    if "names" not in _cache:
        _cache["names"] = (CLASSES.read_text(encoding="utf-8").splitlines()
                           if CLASSES.exists() else None)
    return _cache["names"]


def describe_top(probs, k=5):
    names = class_names()
    top = np.argsort(-probs)[:k]
    return ", ".join(f"{i} {names[i] if names else ''} {probs[i]:.4f}".replace("  ", " ")
                     for i in top)


def classify(name):
    x = preprocess(FIXTURES / name, meta())
    emb, logits = run(x)
    return x, emb, logits, softmax(logits[0].astype(np.float64))


# ---- checks ----------------------------------------------------------------

def test_files_present():
    for p in (MODEL, SIDECAR, ORT_LIB, MODEL.with_name(MODEL.name + ".sha256")):
        assert p.is_file(), f"{p} missing: run scripts/setup"
    mb = MODEL.stat().st_size / 1e6
    assert 17.5 < mb < 19.5, f"model is {mb:.1f} MB"


def test_sha256_file_matches():
    recorded = MODEL.with_name(MODEL.name + ".sha256").read_text().split()[0]
    actual = hashlib.sha256(MODEL.read_bytes()).hexdigest()
    assert recorded == actual, f"{recorded} != {actual}"


def test_onnx_graph_signature():
    m = onnx.load(str(MODEL))
    onnx.checker.check_model(m, full_check=True)
    assert [o.version for o in m.opset_import if o.domain in ("", "ai.onnx")] == [17]

    def sig(vi):
        dims = [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]
        return vi.name, vi.type.tensor_type.elem_type, dims

    F = onnx.TensorProto.FLOAT
    assert [sig(i) for i in m.graph.input] == [("input", F, ["N", 3, 224, 224])]
    assert [sig(o) for o in m.graph.output] == [("embedding", F, ["N", 1280]),
                                                ("logits", F, ["N", 1000]),
                                                ("gem", F, ["N", 1152])]
    ops = {n.op_type for n in m.graph.node}
    assert ops == {"Conv", "Clip", "Add", "GlobalAveragePool", "Flatten", "Gemm",
                   "Max", "Pow", "ReduceMean"}, ops
    nparams = sum(int(np.prod(t.dims)) for t in m.graph.initializer)
    assert 4.5e6 < nparams < 4.8e6, nparams  # EfficientNet-Lite0: ~4.65M


def test_sidecar_fields():
    s = meta()
    expect = {"name": "efficientnet-lite0", "input": "input", "input_size": 224,
              "resize_short": 256, "interpolation": "bicubic", "scale": 1 / 128,
              "fit": "auto", "pad_margin": 0.1, "dupe_output": "embedding", "dupe_dim": 1280,
              "mean": [127, 127, 127], "layout": "NCHW", "channel_order": "RGB",
              "embedding_output": "gem", "logits_output": "logits",
              "embedding_dim": 1152, "classes": 1000,
              "model_file": MODEL.name, "runtime_library": ORT_LIB.name}
    for k, v in expect.items():
        assert s.get(k) == v, f"sidecar {k}={s.get(k)!r}, expected {v!r}"


def test_class_names():
    names = class_names()
    assert names is not None, f"{CLASSES} missing"
    assert len(names) == 1000 and all(n.strip() for n in names)
    assert names[967] == "espresso" and names[281] == "tabby cat", (names[967], names[281])


def test_chelsea_is_a_cat():
    _, emb, logits, p = classify("chelsea.jpg")
    print(f"    chelsea top-5: {describe_top(p)}")
    top3 = set(np.argsort(-p)[:3].tolist())
    assert top3 == {281, 282, 285}, f"top-3 {sorted(top3)}"  # tabby, tiger cat, Egyptian cat


def test_coffee_is_espresso():
    _, emb, logits, p = classify("coffee.jpg")
    print(f"    coffee  top-5: {describe_top(p)}")
    top1 = int(np.argmax(p))
    assert top1 == 967, f"top-1 {top1}"
    assert p[967] > 0.8, f"p(espresso) = {p[967]:.4f}"


def test_embedding_shape_and_range():
    for name in ("chelsea.jpg", "coffee.jpg"):
        _, emb, logits, _ = classify(name)
        assert emb.shape == (1, 1280) and emb.dtype == np.float32, (emb.shape, emb.dtype)
        assert logits.shape == (1, 1000) and logits.dtype == np.float32
        assert np.isfinite(emb).all() and np.isfinite(logits).all()
        assert emb.min() >= 0.0 and emb.max() <= 6.0, (emb.min(), emb.max())  # mean of ReLU6
        assert (emb > 0).mean() > 0.3, "embedding is mostly zero"


def test_gem_output_is_gem_of_block15_expand():
    """`gem` = mean(max(x, 1e-6)^3 over HxW)^(1/3) of block 15's expand
    activations, computed here with numpy from the same graph's tensor."""
    m = onnx.load(str(MODEL))
    node = "_blocks_15__expand_conv_relu6"
    m.graph.output.append(onnx.helper.make_empty_tensor_value_info(node))
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.concatenate([classify("chelsea.jpg")[0], classify("coffee.jpg")[0]])
    gem, act = sess.run(["gem", node], {"input": x})
    assert act.shape == (2, 1152, 7, 7), act.shape
    ref = (np.maximum(act.astype(np.float64), 1e-6) ** 3).mean((2, 3)) ** (1 / 3)
    assert gem.shape == (2, 1152) and gem.dtype == np.float32
    err = np.abs(gem - ref).max()
    assert err < 1e-4, f"gem differs from numpy GeM by {err}"
    assert gem.min() >= 1e-6 * 0.99 and gem.max() <= 6.0, (gem.min(), gem.max())
    cos = float(gem[0] @ gem[1] / np.linalg.norm(gem[0]) / np.linalg.norm(gem[1]))
    assert cos < 0.9, f"cat and coffee GeM vectors too similar (cos {cos:.3f})"


def test_logits_equal_fc_of_embedding():
    m = onnx.load(str(MODEL))
    init = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    w, b = init["fc_W"].astype(np.float64), init["fc_B"].astype(np.float64)
    assert w.shape == (1000, 1280) and b.shape == (1000,)
    for name in ("chelsea.jpg", "coffee.jpg"):
        _, emb, logits, _ = classify(name)
        ref = emb.astype(np.float64) @ w.T + b
        err = np.abs(ref - logits).max()
        assert err < 1e-3, f"{name}: max |logits - fc(embedding)| = {err}"


def test_dynamic_batch_matches_single():
    xs, embs = [], []
    for name in ("chelsea.jpg", "coffee.jpg", "chelsea.jpg"):
        x, emb, _, _ = classify(name)
        xs.append(x)
        embs.append(emb)
    batch_emb, _ = run(np.concatenate(xs))
    assert batch_emb.shape == (3, 1280)
    err = np.abs(batch_emb - np.concatenate(embs)).max()
    assert err < 1e-4, f"batched vs single max abs diff {err}"
    cos = float(embs[0][0] @ embs[1][0] / np.linalg.norm(embs[0]) / np.linalg.norm(embs[1]))
    assert cos < 0.9, f"cat and coffee embeddings too similar (cos {cos:.3f})"


def test_ort_reference_script():
    x = np.concatenate([classify("chelsea.jpg")[0], classify("coffee.jpg")[0]])
    expected, _ = run(x)
    with tempfile.TemporaryDirectory() as d:
        inp, out = Path(d, "in.f32"), Path(d, "out.f32")
        x.astype("<f4").tofile(inp)
        subprocess.run([sys.executable, str(SCRIPTS / "ort_reference.py"), str(MODEL),
                        str(inp), "2", str(out)], check=True)
        got = np.fromfile(out, dtype="<f4").reshape(2, 1280)
    err = np.abs(got - expected).max()
    assert err < 1e-5, f"ort_reference.py differs by {err}"


def test_conversion_is_deterministic():
    with tempfile.TemporaryDirectory() as d:
        out = Path(d, "m.onnx")
        subprocess.run([sys.executable, str(SCRIPTS / "convert_model.py"), "--out", str(out)],
                       check=True, stdout=subprocess.DEVNULL)
        assert out.read_bytes() == MODEL.read_bytes(), "re-conversion gave different bytes"


def test_ort_library_copy():
    import onnxruntime.capi as capi
    src = Path(capi.__file__).parent / f"libonnxruntime.so.{ort.__version__}"
    assert src.is_file(), src
    assert ORT_LIB.read_bytes() == src.read_bytes(), f"{ORT_LIB} differs from {src}"
    assert ort.__version__ == "1.31.1", ort.__version__


def main():
    tests = [(n, f) for n, f in globals().items() if n.startswith("test_") and callable(f)]
    passed = failed = 0
    for name, fn in tests:
        t0 = time.perf_counter()
        try:
            fn()
        except Exception as e:  # noqa: BLE001
            failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}")
            if VERBOSE:
                traceback.print_exc()
        else:
            passed += 1
            print(f"ok   {name} ({time.perf_counter() - t0:.2f}s)")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
