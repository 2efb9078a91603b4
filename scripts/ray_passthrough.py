#!/usr/bin/env python3
"""Ray Data's own cost in `examples/ray_index.py`: the same script, the same
pipeline (paths → `map_batches` on one actor pool → `write_parquet`), with
the analyser replaced by a pass-through that returns its batch of paths.

    python scripts/ray_passthrough.py SOURCE OUT_DIR [ray_index.py options]

No image is opened and imgdex is not imported, so its wall time is what
Ray alone costs for this folder on this machine: the floor under any
analyser run through it. `scripts/bench_ray.py` runs it beside the real
pipeline.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples"))

import ray_index  # noqa: E402


class PassThrough:
    """Takes the analyser's constructor arguments and returns each batch as is."""

    def __init__(self, roots: list[str], threads: int) -> None:
        del roots, threads

    def __call__(self, batch):
        return batch


if __name__ == "__main__":
    if "--db" in sys.argv:
        sys.exit("ray_passthrough: no --db: the pass-through writes paths, not shards")
    ray_index.Analyse = PassThrough
    sys.exit(ray_index.main())
