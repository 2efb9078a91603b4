#!/usr/bin/env python3
"""Quantise the converted EfficientNet-Lite0 to int8 with ONNX Runtime's tooling.

    quantize_model.py --float models/efficientnet-lite0.onnx
        --out models/efficientnet-lite0-int8.onnx
        [--sidecar models/efficientnet-lite0-int8.json]

Static quantisation in QDQ format: per-channel symmetric int8 weights,
uint8 activations, ranges by MinMax calibration. The calibration photos
come from a registry package, never from the network at run time: the
colour and greyscale sample images shipped inside the pinned scikit-image
wheel (`skimage/data/*.png|jpg`, installed with `--no-deps` by
scripts/setup, as data only: skimage itself is never imported), each used
as it is, mirrored, and as its centre crop (half the width and height).
They are preprocessed as scripts/bench_ort.py does (centre square covering
224/256 of the short side, bicubic to 224, (x - 127) / 128), which is close
to imgdex's own preprocessing; calibration only needs activation ranges.

The result is deterministic: the same float model, package versions and
photos give the same bytes (MinMax ranges are order-independent; checked by
running it twice). The sidecar is the float model's with the model file,
its name and a `quantization` note; the model's digest is part of the
embedding fingerprint, so a store built with one model is recomputed by the
other.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_ort import preprocess  # noqa: E402

CALIBRATION_PACKAGE = "skimage"
BATCH = 6


def calibration_files() -> list[Path]:
    spec = importlib.util.find_spec(CALIBRATION_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        sys.exit("quantize_model: scikit-image's data files are not installed "
                 "(scripts/setup installs them from requirements.txt)")
    data = Path(list(spec.submodule_search_locations)[0]) / "data"
    files = sorted(p for p in data.iterdir() if p.suffix.lower() in (".png", ".jpg"))
    if len(files) < 10:
        sys.exit(f"quantize_model: only {len(files)} sample images in {data}")
    return files


def calibration_images(files: list[Path]) -> list[Image.Image]:
    out = []
    for f in files:
        im = Image.open(io.BytesIO(f.read_bytes())).convert("RGB")
        if min(im.size) < 64:
            continue
        w, h = im.size
        out += [im, im.transpose(Image.FLIP_LEFT_RIGHT),
                im.crop((w // 4, h // 4, 3 * w // 4, 3 * h // 4))]
    return out


def batches(images: list[Image.Image]) -> list[np.ndarray]:
    arr = np.stack([preprocess(im) for im in images]).astype(np.float32)
    # Whole batches only (the calibrators stack per-batch outputs).
    n = len(arr) // BATCH * BATCH
    return [arr[i:i + BATCH] for i in range(0, n, BATCH)]


def quantise(float_model: Path, out: Path, input_name: str) -> int:
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod,
                                          QuantFormat, QuantType, quantize_static)

    data = batches(calibration_images(calibration_files()))

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(data)

        def get_next(self):
            b = next(self.it, None)
            return None if b is None else {input_name: b}

    tmp = out.with_suffix(".tmp.onnx")
    quantize_static(str(float_model), str(tmp), Reader(), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax)
    tmp.replace(out)
    return sum(len(b) for b in data)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--float", dest="float_model", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--sidecar", type=Path)
    args = ap.parse_args(argv)
    sidecar = json.loads(args.float_model.with_suffix(".json").read_text())
    n = quantise(args.float_model, args.out, sidecar["input"])
    sidecar.update({
        "name": sidecar["name"] + "-int8",
        "model_file": args.out.name,
        "quantization": (f"static QDQ, per-channel int8 weights, uint8 activations, MinMax "
                         f"ranges over {n} scikit-image sample photos (as they are, mirrored, "
                         f"centre crops); from {args.float_model.name}"),
    })
    out_sidecar = args.sidecar or args.out.with_suffix(".json")
    out_sidecar.write_text(json.dumps(sidecar, indent=2) + "\n")
    print(f"quantize_model: {args.out} ({n} calibration tensors)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
