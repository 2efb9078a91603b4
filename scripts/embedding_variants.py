#!/usr/bin/env python3
"""Prototype measurements for issue 13: how preprocessing, pooling layer and
a store-fitted PCA-whitening change same-subject precision@5 of embedding
search on a labelled folder set (default ../shared/data/pokemon-dev).

Usage: .venv/bin/python scripts/embedding_variants.py [DATASET] [--threads 2]

Runs the project's converted model (models/efficientnet-lite0.onnx) with
onnxruntime from the project's venv, with extra outputs added to the graph
for the intermediate stages. Preprocessing variants: `crop` (what imgdex
does today: alpha over white, short side to 256, centre 224 square) and
`pad` (alpha over white, padded to a square with a 10% white margin, resized
to 224: nothing of the subject is cut). Pooling: global mean (GAP), GeM
(p = 3) and max of a stage's activations. Post-processing: none, or
PCA-whitening to d dimensions (shrinkage: variance + mean variance) fitted
on the same images (the store), and, as a check against fitting to the
evaluation set, fitted on 50 other Pokémon and evaluated on the held-out 50.
Exact cosine search; the query itself excluded. Prints a Markdown table.
"""
import argparse
import glob
import os

import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STAGES = {"head (today's embedding, 1280)": "_conv_head_relu6",
          "block 15 expand (1152)": "_blocks_15__expand_conv_relu6",
          "block 14 (192)": "_blocks_14_add"}


def flatten(im):
    im = im.convert("RGBA")
    bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
    bg.alpha_composite(im)
    return bg.convert("RGB")


def prep(path, mode):
    rgb = flatten(Image.open(path))
    w, h = rgb.size
    if mode == "crop":
        s = 256 / min(w, h)
        rgb = rgb.resize((max(1, round(w * s)), max(1, round(h * s))), Image.BICUBIC)
        w, h = rgb.size
        x0, y0 = (w - 224 + 1) // 2, (h - 224 + 1) // 2
        return np.asarray(rgb.crop((x0, y0, x0 + 224, y0 + 224)))
    side = int(round(max(w, h) * 1.1))
    canvas = Image.new("RGB", (side, side), (255, 255, 255))
    canvas.paste(rgb, ((side - w) // 2, (side - h) // 2))
    return np.asarray(canvas.resize((224, 224), Image.BICUBIC))


def run(session, arrays):
    outs = list(STAGES.values())
    maps = {o: [] for o in outs}
    for i in range(0, len(arrays), 32):
        b = np.stack([((a.astype(np.float32) - 127.0) / 128.0).transpose(2, 0, 1) for a in arrays[i:i + 32]])
        for o, v in zip(outs, session.run(outs, {"input": b})):
            maps[o].append(v)
    return {o: np.concatenate(v) for o, v in maps.items()}


def pooled(m, how):
    if how == "gap":
        return m.mean((2, 3))
    if how == "gem3":
        return (np.maximum(m, 1e-6) ** 3).mean((2, 3)) ** (1 / 3)
    return m.max((2, 3))


def l2(e):
    return e / np.linalg.norm(e, axis=1, keepdims=True)


def fit_whitening(e, d):
    x = l2(e)
    mu = x.mean(0)
    _, s, vt = np.linalg.svd(x - mu, full_matrices=False)
    var = s[:d] ** 2 / len(x)
    w = 1 / np.sqrt(var + var.mean())
    return lambda y: l2((l2(y) - mu) @ vt[:d].T * w)


def p_at_5(e, labels, queries, subset):
    idx = np.where(subset)[0]
    x = l2(e[idx])
    s = x @ x.T
    np.fill_diagonal(s, -9)
    lab = labels[idx]
    scores = [(lab[np.argsort(-s[j])[:5]] == lab[j]).mean() for j, i in enumerate(idx) if queries[i]]
    return float(np.mean(scores))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset", nargs="?", default=os.path.join(ROOT, "..", "shared", "data", "pokemon-dev"))
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    files = sorted(glob.glob(os.path.join(a.dataset, "images", "*", "*.png")))
    labels = np.array([f.split(os.sep)[-2] for f in files])
    front = np.array([os.path.basename(f) == "front.png" for f in files])
    every = np.ones(len(files), bool)
    classes = sorted(set(labels))
    np.random.default_rng(0).shuffle(classes)
    part_a = np.isin(labels, classes[: len(classes) // 2])
    part_b = ~part_a
    model = onnx.load(os.path.join(ROOT, "models", "efficientnet-lite0.onnx"))
    for o in STAGES.values():
        model.graph.output.append(onnx.helper.make_empty_tensor_value_info(o))
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    session = ort.InferenceSession(model.SerializeToString(), so)
    print(f"precision@5 (same folder), {len(files)} images; whole set front/all, then held-out half front/all\n")
    print("| preprocessing | stage | pooling | post | front | all views | held-out front | held-out all |")
    print("|---|---|---|---|---:|---:|---:|---:|")
    for mode in ("crop", "pad"):
        maps = run(session, [prep(f, mode) for f in files])
        for stage, out in STAGES.items():
            for how in ("gap", "gem3", "max"):
                e = pooled(maps[out], how)
                rows = [("none", e, e)]
                for d in (64, 128):
                    on_b = fit_whitening(e[part_b], d)(e)   # fitted on the evaluated half
                    on_a = fit_whitening(e[part_a], d)(e)   # fitted on the other half
                    rows.append((f"whiten d={d} (fit on set)", fit_whitening(e, d)(e), on_b))
                    rows.append((f"whiten d={d} (fit on other half)", None, on_a))
                for post, whole, half in rows:
                    f_all = "—" if whole is None else f"{p_at_5(whole, labels, front, every):.3f}"
                    a_all = "—" if whole is None else f"{p_at_5(whole, labels, every, every):.3f}"
                    print(f"| {mode} | {stage} | {how} | {post} | {f_all} | {a_all} "
                          f"| {p_at_5(half, labels, front, part_b):.3f} | {p_at_5(half, labels, every, part_b):.3f} |",
                          flush=True)


if __name__ == "__main__":
    main()
