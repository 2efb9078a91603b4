#!/usr/bin/env python3
"""Feature extraction on Ray Data, merged into one imgdex store.

    python examples/ray_index.py SOURCE OUT_DIR [--cpus 2] [--db imgdex.db]

SOURCE is a folder (walked for image files) or a manifest: a Parquet or CSV
file with a ``path`` column. ``ray.data`` reads the paths, ``map_batches``
runs them through a class that keeps one ``imgdex`` analyser (and so one
loaded CNN) per actor and calls ``imgdex.analyse`` on each batch, and
``write_parquet`` writes the rows as shards to OUT_DIR. Then, on the machine
that serves the store:

    imgdex --db imgdex.db ingest OUT_DIR/*.parquet [--map-prefix /worker/path=/local/path]

(``--db`` does that step here, through the Python package.)

Without ``--address`` this starts a local Ray with ``--cpus`` CPUs. On a
cluster, start Ray on every node (``ray start --head`` on one,
``ray start --address HEAD:6379`` on the others) and submit this script with
``ray job submit --address http://HEAD:8265 --working-dir . -- python
examples/ray_index.py /shared/photos /shared/shards --address auto``; each
node needs the ``imgdex`` wheel, the model (``$IMGDEX_MODELS``) and the files
under the same path (or map the paths at ingest).
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import time

import pyarrow as pa

# What `imgdex index` walks (src/walk.rs); anything else is left out here.
EXTENSIONS = {
    ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".apng", ".gif", ".webp", ".bmp", ".dib",
    ".tif", ".tiff", ".ico", ".pbm", ".pgm", ".ppm", ".pnm", ".pam", ".tga", ".qoi",
    ".heic", ".heif", ".hif", ".avif",
}


def list_folder(folder: str) -> list[str]:
    """Image files under ``folder`` (absolute, sorted; hidden entries skipped)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(os.path.abspath(folder)):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in EXTENSIONS:
                out.append(os.path.join(dirpath, name))
    return sorted(out)


class Analyse:
    """One per actor: imports imgdex (whose analyser keeps the model loaded
    across calls) and analyses each batch of paths into shard rows."""

    def __init__(self, roots: list[str], threads: int) -> None:
        import imgdex

        self.imgdex = imgdex
        self.roots = roots
        self.threads = threads

    def __call__(self, batch: pa.Table) -> pa.Table:
        paths = batch.column("path").to_pylist()
        return self.imgdex.analyse(paths, threads=self.threads, roots=self.roots)


def node_cpus(ray) -> int:
    """The CPUs of the cluster's smallest live node (at least 1)."""
    sizes = [int(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n.get("Alive")]
    return max(1, min((c for c in sizes if c > 0), default=1))


def dataset(source: str):
    import ray

    if os.path.isdir(source):
        return ray.data.from_items([{"path": p} for p in list_folder(source)]), [os.path.abspath(source)]
    # The manifest is read here, not by `ray.data.read_*` tasks: the actors
    # hold every CPU from the start, and a read task waiting for one never
    # ran (Ray 2.60, 2 CPUs). A list of paths is small next to its images.
    if source.endswith(".parquet"):
        import pyarrow.parquet as pq

        return ray.data.from_arrow(pq.read_table(source, columns=["path"])), []
    if source.endswith(".csv"):
        import pyarrow.csv as pcsv

        opts = pcsv.ConvertOptions(include_columns=["path"], column_types={"path": pa.string()})
        return ray.data.from_arrow(pcsv.read_csv(source, convert_options=opts)), []
    sys.exit(f"ray_index: {source}: not a folder, .parquet or .csv manifest")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source", help="folder of images, or a Parquet/CSV manifest with a `path` column")
    ap.add_argument("out_dir", help="where the shards (Parquet) go")
    ap.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray (default 2)")
    ap.add_argument("--address", help="an existing Ray cluster (e.g. auto) instead of a local one")
    ap.add_argument("--actors", type=int, help="analyser actors (default: CPUs / threads)")
    ap.add_argument("--threads", type=int,
                    help="cores per actor for decoding and the CNN (default: the smallest "
                         "node's CPUs, so one actor per node)")
    ap.add_argument("--batch", type=int, default=64, help="paths per analyse call")
    ap.add_argument("--db", help="ingest the shards into this store when done")
    a = ap.parse_args(argv)

    import ray

    t0 = time.perf_counter()
    if a.address:
        ray.init(address=a.address)
    else:
        ray.init(num_cpus=a.cpus, include_dashboard=False, log_to_driver=False)
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    # One actor per node using all its cores overlaps decoding with the CNN
    # inside imgdex (as `index` does) and pays Ray's per-actor costs (a
    # worker process, imports, the model) once per node: on 2 cores, a cold
    # run of the neardup folder took 27 s against 36 s for 2 actors x 1
    # thread; warm, the two were within noise (README, "Ray's cost, measured").
    threads = a.threads or node_cpus(ray)
    actors = a.actors or max(1, cpus // threads)
    t_init = time.perf_counter()
    ds, roots = dataset(a.source)
    rows = ds.map_batches(
        Analyse,
        fn_constructor_kwargs={"roots": roots, "threads": threads},
        batch_size=a.batch,
        batch_format="pyarrow",
        concurrency=actors,
        num_cpus=min(threads, cpus / actors),  # actor x threads <= CPUs: no oversubscription
    )
    os.makedirs(a.out_dir, exist_ok=True)
    # The actors hold every CPU until the last batch; write tasks asking for
    # a CPU (Ray's default) would all wait for that and then for worker
    # processes to start (~6 s here). Writing a shard takes a few ms of CPU.
    rows.write_parquet(a.out_dir, ray_remote_args={"num_cpus": 0})
    shards = sorted(glob.glob(os.path.join(a.out_dir, "*.parquet")))
    t1 = time.perf_counter()
    print(f"ray_index: {len(shards)} shards in {a.out_dir} ({t1 - t0:.1f} s, of which "
          f"{t_init - t0:.1f} s connecting to Ray)", file=sys.stderr)
    if a.db:
        import imgdex

        s = imgdex.Store(a.db).ingest(shards)
        print(f"ray_index: ingested {s['rows']} rows into {a.db} ({time.perf_counter() - t1:.1f} s)",
              file=sys.stderr)
    ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
