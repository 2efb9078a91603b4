#!/usr/bin/env python3
"""Run imagededup's PHash duplicate finder (the peer tool) on a dataset and
write its result as `imgdex dupes --json`-style groups, for eval_dupes.py.

Usage: peer_imagededup.py DATASET_DIR OUT.json [--threshold T]

imagededup's package __init__s import torch (for its CNN method), which the
hashing method does not need; the two packages are registered empty so that
only imagededup.methods.hashing and the modules it imports are loaded.
Threshold default: 10, imagededup's own default for find_duplicates.
"""
import json
import os
import sys
import time
import types

import imagededup

ROOT = os.path.dirname(imagededup.__file__)
for sub in ("methods", "utils"):
    pkg = types.ModuleType(f"imagededup.{sub}")
    pkg.__path__ = [os.path.join(ROOT, sub)]
    sys.modules[f"imagededup.{sub}"] = pkg

from imagededup.methods.hashing import PHash  # noqa: E402


def groups_from(dupes):
    parent = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, bs in dupes.items():
        for b in bs:
            parent[find(a)] = find(b)
    members = {}
    for x in parent:
        members.setdefault(find(x), []).append(x)
    return sorted(sorted(g) for g in members.values() if len(g) > 1)


def main():
    args = sys.argv[1:]
    threshold = 10
    if "--threshold" in args:
        i = args.index("--threshold")
        threshold = int(args[i + 1])
        del args[i : i + 2]
    if len(args) != 2:
        sys.exit(__doc__)
    root, out = os.path.abspath(args[0]), args[1]
    start = time.perf_counter()
    dupes = PHash(verbose=False).find_duplicates(
        image_dir=root, max_distance_threshold=threshold, recursive=True, num_enc_workers=os.cpu_count(), num_dist_workers=os.cpu_count()
    )
    wall = time.perf_counter() - start
    # Keys are paths relative to image_dir: make them absolute like imgdex's.
    absolute = {os.path.join(root, k): [os.path.join(root, v) for v in vs] for k, vs in dupes.items()}
    with open(out, "w") as f:
        json.dump({"groups": groups_from(absolute), "method": f"imagededup PHash threshold {threshold}"}, f)
    print(f"imagededup PHash (threshold {threshold}): {len(dupes)} files encoded, {wall:.1f} s wall", file=sys.stderr)


if __name__ == "__main__":
    main()
