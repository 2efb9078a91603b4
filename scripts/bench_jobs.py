#!/usr/bin/env python3
"""Helpers for scripts/bench_jobs (run from its throwaway venv with numpy and
scikit-learn).

  bench_jobs.py gen DIR --n N --dim D --clusters C --seed S
      synthetic embeddings: DIR/X.npy (float32, L2-normalised rows) and
      DIR/y.txt (the planted cluster of each row, one per line)
  bench_jobs.py labels PATHS.txt Y.txt
      class index per row from each path's parent folder name
  bench_jobs.py sklearn X.npy Y.txt K LO..HI
      scikit-learn timings, same work as examples/bench_jobs.rs, as JSON,
      with its thread pools (BLAS, OpenMP) limited to BENCH_THREADS
      (default 2) through threadpoolctl
  bench_jobs.py report NAME IMGDEX.jsonl SKLEARN.jsonl [BASELINE.jsonl]
      Markdown table of the medians over the runs (one JSON object a line)
"""

import json
import os
import sys
import time


def gen(out, n, dim, clusters, seed, noise=2.0):
    import numpy as np

    rng = np.random.default_rng(seed)
    # Non-negative, sparse-ish means like pooled CNN features, then
    # per-image noise; rows L2-normalised like the stored embeddings.
    means = np.abs(rng.standard_normal((clusters, dim))) * (rng.random((clusters, dim)) < 0.3)
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    y = rng.integers(0, clusters, n)
    x = means[y] + rng.standard_normal((n, dim)) * (noise / np.sqrt(dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    os.makedirs(out, exist_ok=True)
    np.save(os.path.join(out, "X.npy"), x.astype(np.float32))
    with open(os.path.join(out, "y.txt"), "w") as f:
        f.writelines(f"{v}\n" for v in y)


def labels(paths_txt, y_txt):
    names = [os.path.basename(os.path.dirname(p.rstrip("\n"))) for p in open(paths_txt)]
    index = {n: i for i, n in enumerate(sorted(set(names)))}
    with open(y_txt, "w") as f:
        f.writelines(f"{index[n]}\n" for n in names)


def timed(fn):
    t = time.perf_counter()
    r = fn()
    return r, time.perf_counter() - t


def sklearn(x_npy, y_txt, k, rng_text):
    import numpy as np
    import sklearn as sk
    from sklearn.cluster import KMeans, MiniBatchKMeans
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import normalized_mutual_info_score, silhouette_score
    from sklearn.model_selection import train_test_split
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.preprocessing import StandardScaler

    from threadpoolctl import threadpool_info, threadpool_limits

    threads = int(os.environ.get("BENCH_THREADS", "2"))
    with threadpool_limits(threads):
        out = _sklearn(x_npy, y_txt, k, rng_text)
        out["threadpools"] = "; ".join(
            f"{p['internal_api']} {p.get('architecture') or ''} ×{p['num_threads']}".replace("  ", " ")
            for p in threadpool_info()
        )
    print(json.dumps(out))


def _sklearn(x_npy, y_txt, k, rng_text):
    import numpy as np
    import sklearn as sk
    from sklearn.cluster import KMeans, MiniBatchKMeans
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import normalized_mutual_info_score, silhouette_score
    from sklearn.model_selection import train_test_split
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.preprocessing import StandardScaler

    x = np.load(x_npy)
    y = np.loadtxt(y_txt, dtype=np.int64)
    lo, hi = (int(v) for v in rng_text.split(".."))
    out = {"rows": int(x.shape[0]), "dim": int(x.shape[1]), "sklearn": sk.__version__}

    def km(kk, mini):
        # scikit-learn's own defaults (greedy k-means++, 300 iterations,
        # tol 1e-4, Lloyd; mini-batch of 1024) with one start, like imgdex.
        if mini:
            return MiniBatchKMeans(kk, n_init=1, random_state=0)
        return KMeans(kk, n_init=1, random_state=0)

    for name, mini in (("full", False), ("minibatch", True)):
        m, s = timed(lambda: km(k, mini).fit(x))
        out[f"kmeans_{name}_k{k}_s"] = s
        out[f"kmeans_{name}_k{k}_inertia"] = float(m.inertia_)
        out[f"kmeans_{name}_k{k}_nmi"] = float(normalized_mutual_info_score(y, m.labels_))
        seeds = int(os.environ.get("BENCH_QUALITY_SEEDS", "0"))
        if seeds > 0:
            # One start per fit: the mean inertia over seeds is the fair
            # comparison (untimed).
            def one(seed):
                mk = MiniBatchKMeans if mini else KMeans
                return mk(k, n_init=1, random_state=seed).fit(x).inertia_
            out[f"kmeans_{name}_k{k}_inertia_mean{seeds}"] = float(np.mean([one(s) for s in range(seeds)]))

        def search():
            # Like `imgdex cluster --k-range`: fit each k, silhouette on a
            # 2000-row sample for each.
            res = []
            for kk in range(lo, hi + 1):
                mm = km(kk, mini).fit(x)
                sil = silhouette_score(x, mm.labels_, sample_size=min(2000, len(x)), random_state=0)
                res.append((kk, mm.inertia_, sil))
            return res

        _, s = timed(search)
        out[f"kmeans_{name}_range_s"] = s

    val_in = os.environ.get("BENCH_VAL_IN")
    if val_in and os.path.exists(val_in):
        # imgdex's own stratified split (examples/bench_jobs writes it), so
        # both sides train and validate on the same rows.
        va = np.loadtxt(val_in, dtype=np.int64, ndmin=1)
        mask = np.zeros(len(y), dtype=bool)
        mask[va] = True
        xt, xv, yt, yv = x[~mask], x[va], y[~mask], y[va]
        out["split"] = "imgdex's"
    else:
        xt, xv, yt, yv = train_test_split(x, y, test_size=0.2, stratify=y, random_state=0)
        out["split"] = "sklearn's"

    def logistic():
        scaler = StandardScaler().fit(xt)
        clf = LogisticRegression(C=1.0, max_iter=100).fit(scaler.transform(xt), yt)
        return lambda v: clf.predict(scaler.transform(v))

    pred, s = timed(logistic)
    out["train_logistic_s"] = s
    out["train_logistic_val_accuracy"] = float((pred(xv) == yv).mean())
    knn, s = timed(lambda: KNeighborsClassifier(1, metric="cosine", algorithm="brute").fit(xt, yt))
    out["train_knn_s"] = s
    out["train_knn_val_accuracy"] = float((knn.predict(xv) == yv).mean())
    return out


def medians(path):
    import statistics

    runs = [json.loads(l) for l in open(path) if l.strip()]
    out = {}
    for r in runs:  # quality-only keys (mean inertia) come from run 1
        for key, v in r.items():
            out.setdefault(key, v)
    for key in out:
        if key.endswith("_s"):
            out[key] = statistics.median(r[key] for r in runs)
    out["runs"] = len(runs)
    return out


def report(name, rust_jsonl, sk_jsonl, base_jsonl=None):
    r, s = medians(rust_jsonl), medians(sk_jsonl)
    b = medians(base_jsonl) if base_jsonl else None
    print(f"### {name}: {r['rows']} × {r['dim']}\n")
    print(f"scikit-learn {s['sklearn']}, thread pools: {s['threadpools']}; medians of {r['runs']} runs.\n")
    head = "| measure | imgdex | scikit-learn | imgdex / sklearn |"
    rule = "| --- | ---: | ---: | ---: |"
    if b:
        head += " main (before) | main / sklearn |"
        rule += " ---: | ---: |"
    print(head)
    print(rule)
    for key in r:
        if key.endswith("_s") and key in s:
            line = f"| {key[:-2]} (s) | {r[key]:.3f} | {s[key]:.3f} | {r[key] / s[key]:.2f} |"
            if b:
                line += f" {b[key]:.3f} | {b[key] / s[key]:.2f} |" if key in b else " | |"
            print(line)
    for key in r:
        if not key.endswith("_s") and key in s and key not in ("rows", "dim", "runs"):
            line = f"| {key} | {r[key]:.6g} | {s[key]:.6g} | {r[key] / s[key]:.4f} |" if s[key] else f"| {key} | {r[key]:.6g} | {s[key]:.6g} | |"
            if b:
                line += f" {b[key]:.6g} | |" if key in b else " | |"
            print(line)
    extra = {k: v for k, v in r.items() if k not in s}
    if extra:
        print(f"\nimgdex only: {json.dumps(extra)}")
    print()


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "gen":
        opts = dict(zip(args[1::2], args[2::2]))
        gen(args[0], int(opts["--n"]), int(opts["--dim"]), int(opts["--clusters"]), int(opts["--seed"]))
    elif cmd == "labels":
        labels(*args)
    elif cmd == "sklearn":
        sklearn(args[0], args[1], int(args[2]), args[3])
    elif cmd == "report":
        report(*args)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
