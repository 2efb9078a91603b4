#!/usr/bin/env python3
"""`imgdex index` against the Ray Data pipeline plus `imgdex ingest`, on the
same folder and machine: images per second for both, alternated runs.

    python scripts/bench_ray.py [DATA] [--runs 2] [--cpus 2] [--bin target/ci/imgdex]

DATA defaults to ../shared/data/neardup. Run with the venv that has the
imgdex wheel and ray (scripts/setup makes .venv); the binary defaults to
$IMGDEX_BIN, else $CARGO_TARGET_DIR (or target/) /ci/imgdex, the same build
profile as the wheel scripts/setup installs. Each round: `index` into a fresh
store, then `examples/ray_index.py` (local Ray with --cpus CPUs, one actor
per CPU, startup included) into fresh shards and `ingest` of them into a
fresh store; both stores are checked to give the same `dupes --json`
groups. Ray's fixed cost (start, plan, stop) is measured apart, as the same
script on an empty folder. Prints one JSON line per run and a Markdown table of the medians.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def default_bin() -> str:
    if os.environ.get("IMGDEX_BIN"):
        return os.environ["IMGDEX_BIN"]
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    return os.path.join(target, "ci", "imgdex")


def timed(cmd: list[str], env=None) -> tuple[float, str]:
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t
    if p.returncode not in (0, 1):  # 1: some files failed, still a run
        sys.exit(f"bench_ray: {' '.join(cmd)} exited {p.returncode}:\n{p.stderr[-3000:]}")
    return dt, p.stdout


def groups(binary: str, db: str) -> list:
    _, out = timed([binary, "--db", db, "dupes", "--json"])
    return sorted(sorted(g) for g in json.loads(out)["groups"])


def one_round(binary: str, data: str, cpus: int, work: str) -> dict:
    db_i, db_r, shards = (os.path.join(work, n) for n in ("index.db", "ray.db", "shards"))
    t_index, out = timed([binary, "--db", db_i, "--quiet", "index", "--json", data])
    s = json.loads(out)
    n = s["indexed"]
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    t_ray, _ = timed([sys.executable, os.path.join(ROOT, "examples", "ray_index.py"), data, shards,
                      "--cpus", str(cpus)], env=env)
    files = sorted(glob.glob(os.path.join(shards, "*.parquet")))
    # Ray's fixed cost: the same script on an empty folder (start, plan, stop).
    empty = os.path.join(work, "empty")
    os.makedirs(empty, exist_ok=True)
    t_fixed, _ = timed([sys.executable, os.path.join(ROOT, "examples", "ray_index.py"), empty,
                        os.path.join(work, "empty-out"), "--cpus", str(cpus)], env=env)
    shutil.rmtree(os.path.join(work, "empty-out"), ignore_errors=True)
    t_ingest, out = timed([binary, "--db", db_r, "--quiet", "ingest", "--json", *files])
    rows = json.loads(out)["rows"]
    same = groups(binary, db_i) == groups(binary, db_r)
    for p in (db_i, db_r, shards):
        shutil.rmtree(p, ignore_errors=True)
    total = t_ray + t_ingest
    return {
        "images": n, "rows": rows, "shards": len(files), "same_groups": same,
        "index_s": round(t_index, 2), "ray_s": round(t_ray, 2), "ingest_s": round(t_ingest, 2),
        "ray_fixed_s": round(t_fixed, 2),
        "index_img_s": round(n / t_index, 1), "ray_ingest_img_s": round(rows / total, 1),
        "overhead": round(total / t_index - 1, 3),
        "overhead_past_startup": round((total - t_fixed) / t_index - 1, 3),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", nargs="?", default=os.path.join(ROOT, "..", "shared", "data", "neardup"))
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--bin", default=default_bin())
    a = ap.parse_args()
    runs = []
    with tempfile.TemporaryDirectory(prefix="imgdex-bench-ray-") as work:
        for _ in range(a.runs):
            r = one_round(a.bin, os.path.abspath(a.data), a.cpus, work)
            print(json.dumps(r), flush=True)
            runs.append(r)
    med = lambda k: statistics.median(r[k] for r in runs)
    print(f"\n| pipeline | wall s | images/s |\n| --- | --- | --- |")
    print(f"| `imgdex index` | {med('index_s'):.1f} | {med('index_img_s'):.1f} |")
    print(f"| Ray ({a.cpus} CPUs) + `ingest` | {med('ray_s'):.1f} + {med('ingest_s'):.1f} "
          f"| {med('ray_ingest_img_s'):.1f} |")
    print(f"\nmedian of {len(runs)}: Ray + ingest takes {100 * med('overhead'):+.0f}% more wall time than "
          f"index; {100 * med('overhead_past_startup'):+.0f}% past Ray's fixed cost "
          f"({med('ray_fixed_s'):.1f} s: the same script on an empty folder); "
          f"same dupes groups: {all(r['same_groups'] for r in runs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
