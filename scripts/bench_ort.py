#!/usr/bin/env python3
"""Python baselines for scripts/bench (run with the project's .venv/bin/python).

    bench_ort.py pure     MODEL.onnx --n N [--batch 8] [--threads T]
    bench_ort.py pipeline MODEL.onnx DIR [--batch 8] [--threads T]

`pure`: ONNX Runtime alone on N random preprocessed tensors
([N,3,224,224] float32 in [-1, 1), seeded), in batches, after one untimed
warm-up batch: the inference ceiling for the same model and thread count.

`pipeline`: a straightforward Python indexer for the same images:
Pillow decode (full size, convert("RGB")), the model's preprocessing with
numpy (centre square covering 224/256 of the short side, bicubic resize to
224, (x - 127) / 128, NCHW), onnxruntime in batches. Single process, one
decode at a time. The file list follows imgdex's walk (raster extensions,
symlinks followed, sorted).

Both request every model output, as imgdex does, with intra-op threads T
(0 = onnxruntime's default) and intra-op spinning on (onnxruntime's default)
or off (--spin off, as imgdex configures its session), and print one JSON object: images, failed,
bytes, wall_s (the timed loop), load_s (session creation), decode_s,
features_s (preprocessing), inference_s.
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import onnxruntime as ort

SIZE = 224
RESIZE_SHORT = 256
MEAN, SCALE = 127.0, 1.0 / 128.0

# Kept in step with RASTER_EXTENSIONS in src/walk.rs.
RASTER_EXTENSIONS = {
    "jpg", "jpeg", "jpe", "jfif", "png", "apng", "gif", "webp", "bmp", "dib", "tif", "tiff",
    "ico", "pbm", "pgm", "ppm", "pnm", "pam", "tga", "qoi",
}


def image_files(root):
    """Regular files with a raster extension under root, as imgdex walks them."""
    out = []
    for d, dirs, files in os.walk(root, followlinks=True):
        dirs.sort()
        for f in files:
            p = os.path.join(d, f)
            if f.rsplit(".", 1)[-1].lower() in RASTER_EXTENSIONS and os.path.isfile(p):
                out.append(p)
    out.sort()
    return out


def session(model, threads, spin):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        so.intra_op_num_threads = threads
    # onnxruntime's default is to spin idle intra-op threads ("1").
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin == "on" else "0")
    t = time.perf_counter()
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    return sess, time.perf_counter() - t


def pure(args):
    sess, load_s = session(args.model, args.threads, args.spin)
    name = sess.get_inputs()[0].name
    rng = np.random.default_rng(0)
    x = rng.random((args.n, 3, SIZE, SIZE), dtype=np.float32) * 2.0 - 1.0
    sess.run(None, {name: x[: args.batch]})  # warm-up, untimed
    t0 = time.perf_counter()
    for i in range(0, args.n, args.batch):
        sess.run(None, {name: x[i : i + args.batch]})
    wall = time.perf_counter() - t0
    return {"images": args.n, "failed": 0, "bytes": 0, "wall_s": wall, "load_s": load_s,
            "decode_s": 0.0, "features_s": 0.0, "inference_s": wall}


def preprocess(im):
    from PIL import Image

    w, h = im.size
    side = max(1, min(w, h) * SIZE // RESIZE_SHORT)
    left, top = (w - side + 1) // 2, (h - side + 1) // 2
    sq = im.crop((left, top, left + side, top + side)).resize((SIZE, SIZE), Image.BICUBIC)
    x = (np.asarray(sq, dtype=np.float32) - MEAN) * SCALE
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def pipeline(args):
    from PIL import Image

    files = image_files(args.dir)
    sess, load_s = session(args.model, args.threads, args.spin)
    name = sess.get_inputs()[0].name
    dec = feat = inf = 0.0
    done = failed = nbytes = 0
    batch = []

    def flush():
        nonlocal inf, done
        t = time.perf_counter()
        sess.run(None, {name: np.stack(batch)})
        inf += time.perf_counter() - t
        done += len(batch)
        batch.clear()

    t0 = time.perf_counter()
    for p in files:
        t = time.perf_counter()
        try:
            with Image.open(p) as im:
                rgb = im.convert("RGB")
            nbytes += os.path.getsize(p)
        except Exception as e:  # noqa: BLE001 - a broken file must not stop the run
            print(f"bench_ort: skipped {p}: {e}", file=sys.stderr)
            failed += 1
            continue
        t1 = time.perf_counter()
        batch.append(preprocess(rgb))
        t2 = time.perf_counter()
        dec += t1 - t
        feat += t2 - t1
        if len(batch) == args.batch:
            flush()
    if batch:
        flush()
    wall = time.perf_counter() - t0
    return {"images": done, "failed": failed, "bytes": nbytes, "wall_s": wall, "load_s": load_s,
            "decode_s": dec, "features_s": feat, "inference_s": inf}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("pure")
    p.add_argument("model")
    p.add_argument("--n", type=int, default=256)
    q = sub.add_parser("pipeline")
    q.add_argument("model")
    q.add_argument("dir")
    for s in (p, q):
        s.add_argument("--batch", type=int, default=8)
        s.add_argument("--threads", type=int, default=0)
        s.add_argument("--spin", choices=["on", "off"], default="on",
                       help="let idle intra-op threads spin (onnxruntime's default: on)")
    args = ap.parse_args(argv)
    result = pure(args) if args.mode == "pure" else pipeline(args)
    result.update(mode=args.mode, batch=args.batch, threads=args.threads, spin=args.spin,
                  onnxruntime=ort.__version__)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
