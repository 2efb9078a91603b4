#!/usr/bin/env python3
"""Same-subject precision@k of `query` on a labelled folder set.

Usage: eval_similar.py IMGDEX [DATASET] [--db DIR] [--k 5] [--by embedding,hash,histogram] [--json]

DATASET (default ../shared/data/pokemon-dev) holds one folder per subject
(`images/<label>/<view>.png`: the folder is the label, the file stem the
view). Without --db, the set is indexed (with embeddings) into a fresh
temporary store. Every indexed image is then the query once, through a
resident `imgdex serve` (GET /api/query?path=...&k=K+1&by=..., the same
ranking as the CLI's `query --json`); the query image itself is dropped
from its answer and the first K others are scored: relevant = same folder.
Prints precision@K per view and over all views, for each --by. Standard
library only.
"""
import argparse
import csv
import io
import json
import os
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))


def index(imgdex, db, dataset):
    subprocess.run([imgdex, "--db", db, "-q", "index", dataset, "--json"], check=True,
                   stdout=subprocess.DEVNULL)


def serve(imgdex, db):
    p = subprocess.Popen([imgdex, "--db", db, "-q", "serve", "--addr", "127.0.0.1:0"],
                         stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline().strip()
    if not line.startswith("listening on "):
        p.kill()
        sys.exit(f"eval_similar: serve did not start: {line!r}")
    return p, line[len("listening on "):].split()[0].rstrip("/")


def get(url):
    with urllib.request.urlopen(url, timeout=60) as r:
        return json.load(r)


def label_view(path):
    parts = path.split(os.sep)
    return parts[-2], os.path.splitext(parts[-1])[0]


def evaluate(base, paths, k, by):
    per_view = defaultdict(list)
    for p in paths:
        q = urllib.parse.urlencode({"path": p, "k": k + 1, "by": by})
        hits = [h["path"] for h in get(f"{base}/api/query?{q}") if h["path"] != p][:k]
        label, view = label_view(p)
        per_view[view].append(sum(label_view(h)[0] == label for h in hits) / k)
    out = {v: sum(s) / len(s) for v, s in sorted(per_view.items())}
    every = [x for s in per_view.values() for x in s]
    out["all"] = sum(every) / len(every)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("imgdex")
    ap.add_argument("dataset", nargs="?", default=os.path.join(HERE, "..", "..", "shared", "data", "pokemon-dev"))
    ap.add_argument("--db")
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--by", default="embedding,hash,histogram")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    dataset = os.path.abspath(a.dataset)
    tmp = None
    db = a.db
    if db is None:
        tmp = tempfile.TemporaryDirectory(prefix="imgdex-eval-similar.")
        db = os.path.join(tmp.name, "db")
        index(a.imgdex, db, dataset)
    info = subprocess.run([a.imgdex, "--db", db, "-q", "export", "features", "--format", "csv",
                           "--feature", "hash"], check=True, capture_output=True, text=True).stdout
    paths = [row[0] for row in list(csv.reader(io.StringIO(info)))[1:] if row]
    proc, base = serve(a.imgdex, db)
    try:
        results = {by: evaluate(base, paths, a.k, by) for by in a.by.split(",")}
    finally:
        proc.terminate()
        proc.wait()
    if a.json:
        print(json.dumps({"k": a.k, "images": len(paths), "precision": results}, indent=1))
        return
    views = sorted({v for r in results.values() for v in r if v != "all"})
    print(f"precision@{a.k}, same folder = relevant, {len(paths)} queries ({dataset})\n")
    print("| by | " + " | ".join(views) + " | all views |")
    print("|---|" + "---:|" * (len(views) + 1))
    for by, r in results.items():
        print(f"| {by} | " + " | ".join(f"{r[v]:.3f}" for v in views) + f" | **{r['all']:.3f}** |")


if __name__ == "__main__":
    main()
