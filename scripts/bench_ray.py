#!/usr/bin/env python3
"""`imgdex index` against the Ray Data pipeline plus `imgdex ingest`, on the
same folder and machine: images per second for both, alternated runs.

    python scripts/bench_ray.py [DATA] [--runs 3] [--cpus 2] [--bin target/ci/imgdex]
                                [--actors 1] [--threads 2] [--batch 64]

DATA defaults to ../shared/data/neardup. Run with the venv that has the
imgdex wheel and ray (scripts/setup makes .venv); the binary defaults to
$IMGDEX_BIN, else $CARGO_TARGET_DIR (or target/) /ci/imgdex, the same build
profile as the wheel scripts/setup installs. Each round, in this order:
`index` into a fresh store; `imgdex.analyse` of the folder in one Python
process without Ray (one call, default threads, as `index` lays them out),
written as one shard and ingested (the library's cost past `index`, apart
from Ray's); then `examples/ray_index.py` twice, each into fresh shards
followed by `ingest` of them into a fresh store:

- cold: the script starts a local Ray (`ray.init(num_cpus=CPUS)`) and stops
  it, as a one-off run on a laptop does;
- warm: the script joins a Ray cluster started once before the rounds
  (`ray start --head --num-cpus CPUS`, as the multi-node form runs; its
  start-up is printed, not counted), then stopped.

Every store is checked to hold the rows of `index`'s store (`export shard`,
every column, sorted by path) and to give its `dupes --json` groups (which
can differ by a member when the same rows get their ids in another order). Ray's fixed
cost (start or connect, plan, stop) is measured apart, as the same script on
an empty folder, and Ray's whole cost for this folder as the same pipeline
with a pass-through in place of the analyser (`scripts/ray_passthrough.py`):
no image opened, so no analyser can make the pipeline faster than that. Prints one JSON line per run and a Markdown table of the
medians, with the 1-minute load average before each run (the machine is
shared: the range is printed with the table).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import signal
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


def features(binary: str, db: str, out: str) -> "object":
    """The store's rows as `export shard` writes them, sorted by path."""
    import pyarrow.parquet as pq

    timed([binary, "--db", db, "--quiet", "export", "shard", "--out", out])
    t = pq.read_table(out).sort_by("path")
    os.remove(out)
    return t.replace_schema_metadata(None)


def groups(binary: str, db: str) -> list:
    _, out = timed([binary, "--db", db, "dupes", "--json"])
    return sorted(sorted(g) for g in json.loads(out)["groups"])


def pipeline(data: str, shards: str, ray_args: list[str], script: str = "examples/ray_index.py") -> float:
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    t, _ = timed([sys.executable, os.path.join(ROOT, script), data, shards, *ray_args], env=env)
    return t


def ray_run(binary: str, data: str, work: str, name: str, ray_args: list[str], want) -> dict:
    """The Ray pipeline into fresh shards, `ingest` of them, the fixed cost
    (the script on an empty folder) and the floor (the same pipeline over
    the same folder with a pass-through in place of the analyser)."""
    db, shards = os.path.join(work, f"{name}.db"), os.path.join(work, f"{name}-shards")
    t_ray = pipeline(data, shards, ray_args)
    files = sorted(glob.glob(os.path.join(shards, "*.parquet")))
    t_ingest, out = timed([binary, "--db", db, "--quiet", "ingest", "--json", *files])
    rows = json.loads(out)["rows"]
    same = compare(binary, db, work, name, want)
    empty, empty_out = os.path.join(work, "empty"), os.path.join(work, "empty-out")
    os.makedirs(empty, exist_ok=True)
    t_fixed = pipeline(empty, empty_out, ray_args)
    floor_out = os.path.join(work, "floor-out")
    t_floor = pipeline(data, floor_out, ray_args, script="scripts/ray_passthrough.py")
    for p in (db, shards, empty_out, floor_out):
        shutil.rmtree(p, ignore_errors=True)
    return {"rows": rows, "shards": len(files), "same": same, "ray_s": round(t_ray, 2),
            "ingest_s": round(t_ingest, 2), "fixed_s": round(t_fixed, 2),
            "floor_s": round(t_floor, 2)}


ANALYSE = """import sys, imgdex
t = imgdex.analyse([sys.argv[1]])
imgdex.write_shard(t, sys.argv[2])"""


def compare(binary: str, db: str, work: str, name: str, want) -> dict:
    """Whether the store at `db` holds `index`'s rows (every shard column,
    embeddings as stored) and gives its `dupes --json` groups."""
    want_rows, want_groups = want
    got = groups(binary, db)
    same = {"rows": features(binary, db, os.path.join(work, f"{name}-check.parquet")).equals(want_rows),
            "groups": got == want_groups}
    if not same["groups"]:  # which groups differ, for the notes
        print(json.dumps({"differ": name, "only_here": [g for g in got if g not in want_groups],
                          "only_index": [g for g in want_groups if g not in got]}),
              file=sys.stderr, flush=True)
    return same


def analyse_run(binary: str, data: str, work: str, want) -> dict:
    """`imgdex.analyse` in one process, no Ray: one shard, then `ingest`."""
    db, shard = os.path.join(work, "analyse.db"), os.path.join(work, "analyse.parquet")
    t, _ = timed([sys.executable, "-c", ANALYSE, data, shard])
    t_ingest, out = timed([binary, "--db", db, "--quiet", "ingest", "--json", shard])
    rows = json.loads(out)["rows"]
    same = compare(binary, db, work, "analyse", want)
    shutil.rmtree(db, ignore_errors=True)
    os.remove(shard)
    return {"rows": rows, "same": same, "analyse_s": round(t, 2),
            "ingest_s": round(t_ingest, 2), "fixed_s": 0.0}


def load() -> float:
    return round(os.getloadavg()[0], 2)


def one_round(binary: str, data: str, a, work: str, address: str | None) -> dict:
    db_i = os.path.join(work, "index.db")
    loads = {"index": load()}
    t_index, out = timed([binary, "--db", db_i, "--quiet", "index", "--json", data])
    n = json.loads(out)["indexed"]
    want = (features(binary, db_i, os.path.join(work, "index-check.parquet")), groups(binary, db_i))
    shutil.rmtree(db_i, ignore_errors=True)
    common = ["--threads", str(a.threads), "--batch", str(a.batch), "--actors", str(a.actors)]
    r = {"images": n, "index_s": round(t_index, 2), "index_img_s": round(n / t_index, 1),
         "load_1m": loads}
    if not a.no_analyse:
        loads["analyse"] = load()
        m = analyse_run(binary, data, work, want)
        total = m["analyse_s"] + m["ingest_s"]
        m["img_s"] = round(m["rows"] / total, 1)
        m["overhead"] = round(total / t_index - 1, 3)
        r["analyse"] = m
    modes = {"cold": ["--cpus", str(a.cpus)], "warm": ["--address", address]}
    modes = {m: v for m, v in modes.items() if not (m == "cold" and a.no_cold) and (m == "cold" or address)}
    for mode, extra in modes.items():
        loads[mode] = load()
        m = ray_run(binary, data, work, mode, extra + common, want)
        total = m["ray_s"] + m["ingest_s"]
        m["img_s"] = round(m["rows"] / total, 1)
        m["overhead"] = round(total / t_index - 1, 3)
        m["overhead_past_fixed"] = round((total - m["fixed_s"]) / t_index - 1, 3)
        m["floor_vs_index"] = round(m["floor_s"] / t_index, 3)
        r[mode] = m
    return r


def start_cluster(cpus: int, temp: str, port: int) -> tuple[str, float]:
    """`ray start --head` with its own temp dir and port; returns its address."""
    t = time.perf_counter()
    p = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ray"), "start", "--head",
                        "--num-cpus", str(cpus), "--port", str(port), "--temp-dir", temp,
                        "--include-dashboard", "false", "--disable-usage-stats"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"bench_ray: ray start failed:\n{p.stderr[-3000:]}")
    return f"127.0.0.1:{port}", time.perf_counter() - t


def stop_cluster(temp: str) -> None:
    """Stop the processes of the cluster `start_cluster` made (the ones
    naming its temp dir, and their children), not every Ray on the machine
    as `ray stop` would."""
    procs = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        procs[int(pid)] = (ppid, temp.encode() in cmd)
    me, ancestors = os.getpid(), set()
    while me in procs or me == os.getpid():  # never this process or its callers
        ancestors.add(me)
        me = procs.get(me, (0, False))[0]
        if me <= 1:
            break
    doomed = {p for p, (_, mine) in procs.items() if mine} - ancestors
    grown = True
    while grown:
        kids = {p for p, (pp, _) in procs.items() if pp in doomed} - doomed - ancestors
        grown = bool(kids)
        doomed |= kids
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for p in doomed:
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass
        time.sleep(3)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", nargs="?", default=os.path.join(ROOT, "..", "shared", "data", "neardup"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--threads", type=int, help="cores per Ray actor (ray_index.py --threads; default: CPUS)")
    ap.add_argument("--batch", type=int, default=64, help="paths per analyse call (ray_index.py --batch)")
    ap.add_argument("--actors", type=int, help="analyser actors (default: CPUS / threads)")
    ap.add_argument("--no-warm", action="store_true", help="no warm-cluster runs")
    ap.add_argument("--no-cold", action="store_true", help="no cold runs")
    ap.add_argument("--no-analyse", action="store_true", help="no imgdex.analyse run without Ray")
    ap.add_argument("--port", type=int, default=6391, help="GCS port of the warm cluster")
    ap.add_argument("--worker-niceness", type=int, default=0,
                    help="nice value of Ray's worker processes (Ray's default is 15; index runs at 0)")
    ap.add_argument("--bin", default=default_bin())
    a = ap.parse_args()
    a.threads = a.threads or a.cpus
    a.actors = a.actors or max(1, a.cpus // a.threads)
    # Token authentication for the warm cluster and the scripts joining it
    # (what `ray start` and a local `ray.init` choose by default in Ray 2.60
    # once ~/.ray/auth_token exists; explicit so both sides agree).
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    # Ray runs its worker processes (the analyser actors) at nice 15 by
    # default; on a machine shared with other work they then lose the CPU
    # that `index`, at nice 0, keeps. Both sides at the same priority:
    os.environ["RAY_worker_niceness"] = str(a.worker_niceness)
    runs = []
    with tempfile.TemporaryDirectory(prefix="imgdex-bench-ray-") as work:
        # Ray's socket paths must stay short: its own short temp dir.
        temp = tempfile.mkdtemp(prefix="ibr-", dir="/tmp")
        address = None
        try:
            if not a.no_warm:
                address, t_start = start_cluster(a.cpus, temp, a.port)
                print(f"warm cluster at {address}: `ray start --head` took {t_start:.1f} s (not counted)",
                      flush=True)
            for _ in range(a.runs):
                r = one_round(a.bin, os.path.abspath(a.data), a, work, address)
                print(json.dumps(r), flush=True)
                runs.append(r)
        finally:
            if address:
                stop_cluster(temp)
            shutil.rmtree(temp, ignore_errors=True)
    med = lambda f: statistics.median(f(r) for r in runs)
    n = runs[0]["images"]
    loads = [v for r in runs for v in r["load_1m"].values()]
    print(f"\n{n} images, {a.cpus} CPUs, Ray actors x threads = {a.actors} x {a.threads}, "
          f"batch {a.batch}, Ray workers at nice {a.worker_niceness}; median of {len(runs)} alternated "
          f"rounds; 1-minute load average {min(loads):.1f}-{max(loads):.1f} before the runs, "
          f"{load():.1f} at the end\n")
    print("| pipeline | wall s | images/s | vs `index` | Ray's fixed cost s | Ray alone s (pass-through) |\n"
          "| --- | ---: | ---: | ---: | ---: | ---: |")
    print(f"| `imgdex index` | {med(lambda r: r['index_s']):.1f} | {med(lambda r: r['index_img_s']):.1f} | | | |")
    if "analyse" in runs[0]:
        print(f"| `imgdex.analyse`, no Ray (one call) + `ingest` | {med(lambda r: r['analyse']['analyse_s']):.1f}"
              f" + {med(lambda r: r['analyse']['ingest_s']):.1f} | {med(lambda r: r['analyse']['img_s']):.1f} | "
              f"{100 * med(lambda r: r['analyse']['overhead']):+.0f}% | | |")
    for mode in ("cold", "warm"):
        if mode not in runs[0]:
            continue
        label = {"cold": "Ray, cold (script starts Ray)", "warm": "Ray, warm cluster"}[mode]
        print(f"| {label} + `ingest` | {med(lambda r: r[mode]['ray_s']):.1f} + "
              f"{med(lambda r: r[mode]['ingest_s']):.1f} | {med(lambda r: r[mode]['img_s']):.1f} | "
              f"{100 * med(lambda r: r[mode]['overhead']):+.0f}% | {med(lambda r: r[mode]['fixed_s']):.1f} | "
              f"{med(lambda r: r[mode]['floor_s']):.1f} ({100 * med(lambda r: r[mode]['floor_vs_index']):.0f}% of `index`) |")
    checked = [r[m]["same"] for r in runs for m in ("analyse", "cold", "warm") if m in r]
    print(f"\nsame rows as index's store (every shard column) in {sum(c['rows'] for c in checked)} "
          f"of {len(checked)} pipeline runs; same dupes groups in {sum(c['groups'] for c in checked)} "
          f"of {len(checked)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
