"""The Ray Data pipeline (examples/ray_index.py) on a local Ray with two
CPUs: its shards, ingested with the CLI, give the same duplicate groups and
the same info as ``imgdex index`` of the same folder."""

import glob
import os
import subprocess
import sys

from conftest import ROOT, run, run_json, strip_ids


def test_ray_pipeline_then_ingest_equals_index(images, indexed, tmp_path):
    out = tmp_path / "shards"
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", RAY_DISABLE_DOCKER_CPU_WARNING="1")
    p = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "ray_index.py"), str(images), str(out),
         "--cpus", "2", "--batch", "4"],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert p.returncode == 0, p.stderr[-4000:]
    shards = sorted(glob.glob(str(out / "*.parquet")))
    assert shards, p.stderr[-2000:]
    db = tmp_path / "db"
    s = run_json(db, "ingest", "--json", *shards)
    assert (s["rows"], s["added"], s["embedded"]) == (12, 12, 12), s
    for preset in ("default", "loose", "exact"):
        want = run_json(indexed, "dupes", "--json", "--preset", preset)
        got = run_json(db, "dupes", "--json", "--preset", preset)
        assert strip_ids(got) == strip_ids(want), preset
    drop = lambda i: {k: v for k, v in i.items() if k != "store_bytes"}
    assert drop(run_json(db, "info", "--json")) == drop(run_json(indexed, "info", "--json"))
    q = images / "s3.png"
    assert strip_ids(run_json(db, "query", "--json", q)) == strip_ids(run_json(indexed, "query", "--json", q))
