#!/usr/bin/env python3
"""Helpers for scripts/bench (standard library only).

    bench_util.py files DIR            -> {"images": N, "bytes": B} (imgdex's walk rules)
    bench_util.py run TIMEFILE -- CMD  -> runs CMD; writes "wall_s rss_kb user_s sys_s"
                                          (fallback when /usr/bin/time is missing)
    bench_util.py czkawka GROUPS -- CMD -> runs czkawka_cli CMD (its output file GROUPS);
                                          prints {"images", "groups", "grouped_files", "rc"}
    bench_util.py fastdup DIR WORK THREADS -> runs fastdup (run with the venv that has it) on
                                          DIR; prints {"images", "failed", "components"}
    bench_util.py report RUNDIR        -> Markdown report of a scripts/bench run on stdout

Run directory layout (written by scripts/bench):
    meta.tsv                         key<TAB>value lines (machine, commit, settings)
    ds/<k>/dataset.tsv               key<TAB>value: name, path, note
    ds/<k>/files.json                output of `files`
    ds/<k>/<variant>.<rep>.out       stdout of the run (imgdex --json summary, or bench_ort.py JSON)
    ds/<k>/<variant>.<rep>.time      "wall_s rss_kb user_s sys_s load1 bg_busy% steal%"
"""

import glob
import json
import os
import resource
import statistics
import subprocess
import sys
import time

# Kept in step with RASTER_EXTENSIONS in src/walk.rs.
RASTER_EXTENSIONS = {
    "jpg", "jpeg", "jpe", "jfif", "png", "apng", "gif", "webp", "bmp", "dib", "tif", "tiff",
    "ico", "pbm", "pgm", "ppm", "pnm", "pam", "tga", "qoi",
}

VARIANTS = {
    "a": ("a. imgdex index --no-embed", "imgdex --db $TMP/db -q index $DIR --no-embed --json"),
    "b": ("b. imgdex index --no-embed --no-scaled-jpeg",
          "imgdex --db $TMP/db -q index $DIR --no-embed --no-scaled-jpeg --json"),
    "c": ("c. imgdex index (embeddings, float model)",
          "imgdex --db $TMP/db -q index $DIR --json --ort-sessions $OS --ort-threads $OT --model models/efficientnet-lite0.onnx"),
    "i": ("i. imgdex index (embeddings, int8 model: the default)",
          "imgdex --db $TMP/db -q index $DIR --json --ort-sessions $OS --ort-threads $OT --model models/efficientnet-lite0-int8.onnx"),
    "d": ("d. pure ORT, Python, random tensors ¹",
          ".venv/bin/python scripts/bench_ort.py pure models/efficientnet-lite0.onnx --n $N --batch 8 --threads $T --spin $S"),
    "r": ("r. pure ORT, Rust (imgdex's Embedder and session layout), random tensors ¹",
          "target/release/examples/pure_ort $N 8 $OS $OT models/efficientnet-lite0.onnx"),
    "e": ("e. Python pipeline (Pillow + numpy + ORT)",
          ".venv/bin/python scripts/bench_ort.py pipeline models/efficientnet-lite0.onnx $DIR --batch 8 --threads $T --spin $S"),
    "h": ("h. imgdex index (embeddings), ONNX Runtime on one core",
          "imgdex --db $TMP/db -q index $DIR --json --ort-sessions 1 --ort-threads 1 --model models/efficientnet-lite0.onnx"),
    "p": ("p. pure ORT, Rust, one 1-thread session ¹",
          "target/release/examples/pure_ort $N 8 1 1 models/efficientnet-lite0.onnx"),
    "z": ("z. czkawka_cli image (hashing only, cache off)",
          "HOME=$TMP/home bench-out/tools/bin/czkawka_cli image -d $DIR -m 1 -H -f $TMP/groups"),
    "f": ("f. fastdup run (its bundled CNN, embeddings and components)",
          "SENTRY_OPT_OUT=1 bench-out/tools/fastdup/bin/python scripts/bench_util.py fastdup $DIR $TMP/fd $T"),
}
PURE = ("d", "r", "p")


def files(root):
    n = b = 0
    for d, dirs, names in os.walk(root, followlinks=True):
        for f in names:
            p = os.path.join(d, f)
            if f.rsplit(".", 1)[-1].lower() in RASTER_EXTENSIONS and os.path.isfile(p):
                n += 1
                b += os.path.getsize(p)
    print(json.dumps({"images": n, "bytes": b}))


def run(timefile, cmd):
    t = time.perf_counter()
    rc = subprocess.call(cmd)
    wall = time.perf_counter() - t
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(timefile, "w") as f:
        f.write(f"{wall:.3f} {ru.ru_maxrss} {ru.ru_utime:.2f} {ru.ru_stime:.2f}\n")
    sys.exit(rc)


def czkawka(groups_path, cmd):
    """Run czkawka_cli and summarise its result file. It exits 11 when it
    found something, 0 when not; both are a finished scan."""
    rc = subprocess.call(cmd, stdout=sys.stderr)
    d = cmd[cmd.index("-d") + 1]
    n = 0
    for _, _, names in os.walk(d, followlinks=True):
        n += sum(1 for f in names if f.rsplit(".", 1)[-1].lower() in RASTER_EXTENSIONS)
    groups = grouped = 0
    try:
        with open(groups_path, errors="replace") as f:
            text = f.read()
    except OSError:
        text = ""
    # One block per group: a header line, then one file per line, blank line between.
    for block in text.split("\n\n"):
        paths = [l for l in block.splitlines() if l.strip().startswith(("/", '"/'))]
        if len(paths) > 1:
            groups += 1
            grouped += len(paths)
    print(json.dumps({"images": n, "groups": groups, "grouped_files": grouped, "rc": rc}))
    sys.exit(0 if rc in (0, 11) else rc)


def fastdup_run(data, work, threads):
    """fastdup's full analysis of DATA (its own CNN embeddings, k-NN and
    connected components at its default 0.9 similarity), offline: PyPI's
    wheel bundles the model; SENTRY_OPT_OUT=1 turns its telemetry off."""
    # fastdup prints banners and progress on standard output, from Python
    # and from its C++ core: send file descriptor 1 to stderr while it runs,
    # so stdout holds only the JSON summary.
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        import fastdup  # only in the bench's own venv (bench-out/tools/fastdup)

        fd = fastdup.create(work_dir=work, input_dir=data)
        rc = fd.run(overwrite=True, num_threads=int(threads), ccthreshold=0.9)
        failed = len(fd.invalid_instances()) if hasattr(fd, "invalid_instances") else 0
        comps = fd.connected_components()
    finally:
        sys.stdout.flush()
        import ctypes  # the C library's buffered stdout, written by fastdup's core

        ctypes.CDLL(None).fflush(None)
        os.dup2(saved, 1)
        os.close(saved)
    n = 0
    for _, _, names in os.walk(data, followlinks=True):
        n += sum(1 for f in names if f.rsplit(".", 1)[-1].lower() in RASTER_EXTENSIONS)
    comps = comps[0] if isinstance(comps, tuple) else comps
    n_comps = int(comps["component_id"].nunique()) if "component_id" in getattr(comps, "columns", ()) else -1
    print(json.dumps({"images": n, "failed": failed, "components": n_comps, "rc": str(rc)}))
    sys.exit(0)


def read_tsv(path):
    out = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if "\t" in line:
                    k, v = line.rstrip("\n").split("\t", 1)
                    out[k] = v
    return out


def parse_run(variant, out_path, time_path, ds_bytes):
    """One run as a flat dict, or None if it produced no usable output."""
    try:
        with open(out_path) as f:
            j = json.load(f)
        with open(time_path) as f:
            fields = f.read().split()
    except (OSError, ValueError):
        return None
    wall, rss_kb, user, sys_ = (float(x) for x in fields[:4])
    r = {"wall": wall, "rss_mib": rss_kb / 1024.0, "cpu_pct": 100.0 * (user + sys_) / wall if wall else 0.0,
         "cpu_s": user + sys_,
         "load1": float(fields[4]) if len(fields) > 4 else float("nan"),
         "bg": float(fields[5]) if len(fields) > 5 else float("nan"),
         "steal": float(fields[6]) if len(fields) > 6 else float("nan")}
    if variant in ("a", "b", "c", "i", "h"):
        t = j.get("timings", {})
        r["images"] = j.get("indexed", 0)
        r["failed"] = len(j.get("failed", []))
        r["embedded"] = j.get("embedded", 0)
        for k in ("wall_s", "decode_s", "features_s", "inference_s"):
            r[k] = t.get(k, float("nan"))
        r["bytes"] = ds_bytes
    elif variant in ("z", "f"):
        r["images"] = j["images"]
        r["failed"] = j.get("failed", 0) if variant == "f" else 0
        for k in ("wall_s", "decode_s", "features_s", "inference_s"):
            r[k] = float("nan")
        r["bytes"] = ds_bytes
        r["groups"] = j.get("groups", 0)
    else:
        r["images"] = j["images"]
        r["failed"] = j.get("failed", 0)
        for k in ("wall_s", "decode_s", "features_s", "inference_s"):
            r[k] = j[k]
        r["bytes"] = j.get("bytes", 0)
        r["load_s"] = j.get("load_s", float("nan"))
    # Pure ORT is a ceiling: its rate is the timed inference loop alone.
    denom = r["wall_s"] if variant in PURE else wall
    r["ips"] = r["images"] / denom if denom else 0.0
    r["mbps"] = r["bytes"] / 1e6 / wall if (wall and r["bytes"]) else float("nan")
    # Less sensitive to other load than images/s (but counts ORT's spin-waiting).
    r["ipcs"] = r["images"] / r["cpu_s"] if (r["cpu_s"] and variant not in PURE) else float("nan")
    return r


def med(runs, key):
    vals = [r[key] for r in runs if r.get(key) == r.get(key)]  # drop NaN
    return statistics.median(vals) if vals else float("nan")


def fmt(x, nd=2):
    if x != x:  # NaN
        return "—"
    return f"{x:.{nd}f}"


def report(rundir):
    meta = read_tsv(os.path.join(rundir, "meta.tsv"))
    lines = []
    w = lines.append
    w(f"# imgdex benchmark {meta.get('timestamp', '')}")
    w("")
    w(f"- commit: `{meta.get('commit', '?')}`{meta.get('dirty', '')}")
    w(f"- machine: {meta.get('nproc', '?')} CPUs ({meta.get('cpu', '?')}), {meta.get('mem', '?')} RAM; "
      f"{meta.get('os', '')}")
    w(f"- loadavg (1/5/15 min): start {meta.get('load_start', '?')}, end {meta.get('load_end', '?')}")
    w(f"- settings: ONNX Runtime {meta.get('ort', '?')}, intra-op threads T={meta.get('threads', '?')} "
      f"(Python `intra_op_num_threads=T`, Python intra-op spinning {meta.get('py_spin', 'on')}); "
      f"imgdex ONNX Runtime: {meta.get('imgdex_ort', '?')} (no spinning); imgdex decode workers = one per core, "
      f"batch 8; {meta.get('reps', '?')} repetitions per run, variants alternated, **medians** shown; "
      f"fresh store in /tmp per run; page cache warmed before timing; peak RSS via {meta.get('rss_tool', '?')}")
    w(f"- binary: `{meta.get('binary', '?')}` ({meta.get('profile', 'release')})")
    bgs, steals = [], []
    for t in glob.glob(os.path.join(rundir, "ds", "*", "*.time")):
        with open(t) as f:
            fields = f.read().split()
        if len(fields) > 6:
            bgs.append(float(fields[5]))
            steals.append(float(fields[6]))
    if bgs:
        w(f"- background CPU in the second before each run (other processes / hypervisor steal, % of all CPUs): "
          f"median {statistics.median(bgs):.0f}% / {statistics.median(steals):.0f}%, "
          f"max {max(bgs):.0f}% / {max(steals):.0f}%")
        if statistics.median(bgs) > 20 or statistics.median(steals) > 5:
            w("- **warning: busy machine** — something else was using the CPUs between runs; throughput figures "
              "and ratios are contention-bound (see the min–max spread); rerun on a quiet machine")
    w("")
    for dsdir in sorted(glob.glob(os.path.join(rundir, "ds", "*"))):
        ds = read_tsv(os.path.join(dsdir, "dataset.tsv"))
        try:
            with open(os.path.join(dsdir, "files.json")) as f:
                fj = json.load(f)
        except (OSError, ValueError):
            fj = {"images": 0, "bytes": 0}
        w(f"## {ds.get('name', os.path.basename(dsdir))}: {fj['images']} images, {fj['bytes'] / 1e6:.1f} MB")
        w("")
        w(f"`{ds.get('path', '')}`{(' — ' + ds['note']) if ds.get('note') else ''}")
        w("")
        w("| run | images | wall s | images/s | images/s min–max | MB/s | peak RSS MiB | CPU % | images/CPU-s ³ "
          "| timings wall_s | decode_s ² | features_s ² | inference_s | bg % |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        medians = {}
        problems = []
        for v, (label, _) in VARIANTS.items():
            paths = sorted(glob.glob(os.path.join(dsdir, f"{v}.*.out")))
            if not paths:
                continue
            runs = []
            for p in paths:
                r = parse_run(v, p, p[:-4] + ".time", fj["bytes"])
                if r is None:
                    problems.append(f"{os.path.basename(p)}: no usable output (see {p[:-4]}.err)")
                else:
                    runs.append(r)
                    if r["failed"]:
                        problems.append(f"{os.path.basename(p)}: {r['failed']} files failed")
            if not runs:
                w(f"| {label} | failed | | | | | | | | | | | | |")
                continue
            m = {k: med(runs, k) for k in runs[0]}
            medians[v] = m
            ips = [r["ips"] for r in runs]
            w(f"| {label} | {int(m['images'])} | {fmt(m['wall'])} | **{fmt(m['ips'], 1)}** "
              f"| {fmt(min(ips), 1)}–{fmt(max(ips), 1)} | {fmt(m['mbps'], 1)} | {fmt(m['rss_mib'], 0)} "
              f"| {fmt(m['cpu_pct'], 0)} | {fmt(m['ipcs'], 1)} | {fmt(m['wall_s'])} | {fmt(m['decode_s'])} | {fmt(m['features_s'])} "
              f"| {fmt(m['inference_s'])} | {fmt(m['bg'], 0)} |")
        w("")

        def ratio(x, y):
            if x in medians and y in medians and medians[y]["ips"]:
                return medians[x]["ips"] / medians[y]["ips"]
            return None

        derived = [
            ("c", "d", "(c) ÷ (d) share of pure-ORT throughput (Python onnxruntime, one session)", "{:.0%}"),
            ("c", "r", "(c) ÷ (r) share of pure-ORT throughput (imgdex's own session layout)", "{:.0%}"),
            ("r", "d", "(r) ÷ (d) imgdex's session layout vs one Python session, pure ORT", "{:.2f}×"),
            ("c", "e", "(c) ÷ (e) speed-up vs the Python pipeline", "{:.2f}×"),
            ("h", "p", "(h) ÷ (p) share of pure-ORT throughput with inference on one core (decode on the other)",
             "{:.0%}"),
            ("a", "b", "(a) ÷ (b) scaled vs full JPEG decode (no embeddings)", "{:.2f}×"),
            ("a", "c", "(a) ÷ (c) cost of embeddings (no-embed vs embed throughput)", "{:.2f}×"),
            ("a", "z", "(a) ÷ (z) imgdex hashing-only index vs czkawka's image scan (goal ≥ 2×)", "{:.2f}×"),
            ("i", "c", "(i) ÷ (c) int8 vs float model, full index (issue 33's goal ≥ 1.8×)", "{:.2f}×"),
            ("i", "f", "(i) ÷ (f) imgdex full index (int8) vs fastdup's run (issue 33's goal ≥ 3×)", "{:.2f}×"),
            ("c", "f", "(c) ÷ (f) imgdex full index (float) vs fastdup's run", "{:.2f}×"),
        ]
        for x, y, text, f in derived:
            r = ratio(x, y)
            if r is not None:
                w(f"- {text}: **{f.format(r)}**")
        for p in problems:
            w(f"- note: {p}")
        w("")
    w("¹ (d, r, p) images/s = N ÷ the timed inference loop (after a warm-up batch; excludes interpreter start and "
      "session load); every other images/s and MB/s = images ÷ process wall time (start to exit: model load, "
      "walk, decode, features, inference, store writes).")
    w("² imgdex's decode_s/features_s are CPU seconds summed over worker threads; for (e) they are the "
      "single thread's time in Pillow decode+convert and numpy preprocessing. `timings wall_s` is imgdex's own "
      "wall clock (from the --json summary) or the Python script's timed loop.")
    w("³ images ÷ (user + system CPU seconds of the process), a load-robust efficiency figure; "
      "ONNX Runtime's spin-waiting counts as CPU time. CPU % near 100 on a 2-core machine means the run got "
      "about one core: compare bg % (CPU busy with other work in the second before the run, median).")
    w("")
    w("Commands ($DIR = dataset, $TMP = fresh temp dir, $T = Python threads, $OS/$OT = imgdex sessions/threads per session (0 = automatic), $N = pure-ORT tensors, $S = Python spinning):")
    w("")
    for _, (label, cmd) in VARIANTS.items():
        w(f"- {label.rstrip(' ¹')}: `{cmd}`")
    print("\n".join(lines))


def main(argv):
    if len(argv) >= 2 and argv[0] == "files":
        files(argv[1])
    elif len(argv) >= 4 and argv[0] == "run" and argv[2] == "--":
        run(argv[1], argv[3:])
    elif len(argv) >= 4 and argv[0] == "czkawka" and argv[2] == "--":
        czkawka(argv[1], argv[3:])
    elif len(argv) == 4 and argv[0] == "fastdup":
        fastdup_run(*argv[1:])
    elif len(argv) == 2 and argv[0] == "report":
        report(argv[1])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
