#!/usr/bin/env python3
"""Reference EfficientNet-Lite0 inference with Python onnxruntime (CPU).

    ort_reference.py MODEL.onnx INPUT.f32 N OUTPUT.f32 [--output gem|embedding|logits]
                     [--threads T]

INPUT.f32 holds raw little-endian float32 of shape [N,3,224,224] (NCHW, RGB,
already normalised (x-127)/128).  OUTPUT.f32 receives the raw little-endian
float32 `embedding` output, shape [N,1280] (or `logits`, [N,1000], with
--output logits, or `gem`, [N,1152], the embedding imgdex stores).  Used by the Rust tests to compare the Rust ORT results with
Python's.  Run it with the project's venv: .venv/bin/python.
"""

import argparse
import os
import sys

import numpy as np
import onnxruntime as ort

INPUT_SHAPE = (3, 224, 224)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("input")
    ap.add_argument("n", type=int)
    ap.add_argument("output")
    ap.add_argument("--output", dest="output_name", default="embedding",
                    choices=["gem", "embedding", "logits"])
    ap.add_argument("--threads", type=int, default=0,
                    help="intra-op threads (0 = onnxruntime default)")
    args = ap.parse_args(argv)

    if args.n < 1:
        ap.error("N must be >= 1")
    want = args.n * int(np.prod(INPUT_SHAPE)) * 4
    got = os.path.getsize(args.input)
    if got != want:
        sys.exit(f"ort_reference: {args.input} has {got} bytes, expected {want} "
                 f"for [{args.n},3,224,224] float32")
    x = np.fromfile(args.input, dtype="<f4").astype(np.float32).reshape(args.n, *INPUT_SHAPE)

    so = ort.SessionOptions()
    if args.threads:
        so.intra_op_num_threads = args.threads
    sess = ort.InferenceSession(args.model, so, providers=["CPUExecutionProvider"])
    (y,) = sess.run([args.output_name], {"input": x})
    tmp = args.output + ".tmp"
    np.ascontiguousarray(y, dtype="<f4").tofile(tmp)
    os.replace(tmp, args.output)


if __name__ == "__main__":
    main()
