#!/usr/bin/env python3
"""Score `imgdex dupes --json` output against a near-duplicate ground truth.

Usage: eval_dupes.py DATASET_DIR DUPES.json [--json]

DATASET_DIR holds truth.csv, either (copy_path,original_path,transform) as
in neardup/ or (path,capture,role,transform) as in series/ (role capture or
copy), and optionally related.csv (pairs that must NOT be grouped) and
distractors/. A pair of files is a true duplicate pair when one is a copy
of the other or both are copies of the same original (capture). Prints
pairwise precision and recall, overall and per transform (recall of pairs
involving a copy made by that transform); the groups holding two originals
(captures chained); keeper accuracy (groups holding an original whose
suggested keeper is that original or its lossless `png` copy); and the
series reported. Standard library only.
"""
import csv
import itertools
import json
import os
import sys
from collections import defaultdict


def load_copies(root):
    """copy path -> (original path, transform), from either truth layout."""
    copies = {}
    with open(os.path.join(root, "truth.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    if rows and "capture" in rows[0]:
        original = {r["capture"]: r["path"] for r in rows if r["role"] == "capture"}
        for r in rows:
            if r["role"] == "copy":
                copies[r["path"]] = (original[r["capture"]], r["transform"])
    else:
        for r in rows:
            copies[r["copy_path"]] = (r["original_path"], r["transform"])
    return copies


def load_truth(root):
    copies = load_copies(root)
    families = defaultdict(list)  # original -> [(member, transform)]
    for c, (o, t) in copies.items():
        families[o].append((c, t))
    true_pairs = {}  # frozenset pair -> transforms involved
    for o, members in families.items():
        items = [(o, "original")] + members
        for (a, ta), (b, tb) in itertools.combinations(items, 2):
            true_pairs[frozenset((a, b))] = {t for t in (ta, tb) if t != "original"}
    related = set()
    rel = os.path.join(root, "related.csv")
    if os.path.exists(rel):
        with open(rel, newline="") as f:
            r = csv.reader(f)
            next(r, None)
            for row in r:
                if len(row) >= 2:
                    related.add(frozenset((row[0], row[1])))
    return true_pairs, related


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    root, dupes_path = sys.argv[1], sys.argv[2]
    root_abs = os.path.realpath(root)
    true_pairs, related = load_truth(root)
    with open(dupes_path) as f:
        doc = json.load(f)
    groups = doc["groups"]
    copies = load_copies(root)
    family = {c: o for c, (o, _) in copies.items()}
    family.update({o: o for o in family.values()})
    lossless = {c for c, (_, t) in copies.items() if t == "png"}
    rel_of = lambda p: os.path.relpath(os.path.realpath(p), root_abs)
    chained = keeper_ok = keeper_groups = 0
    for d in doc.get("details", []):
        members = [rel_of(m["path"]) for m in d["members"]]
        originals = {family[m] for m in members if m in family}
        chained += len(originals) > 1
        if len(originals) == 1:
            keeper_groups += 1
            k = rel_of(d["keeper"])
            keeper_ok += k in originals or (k in lossless and family[k] in originals)
    found = set()
    for g in groups:
        rel = [os.path.relpath(os.path.realpath(p), root_abs) for p in g]
        rel = [p for p in rel if not p.startswith("..")]
        for a, b in itertools.combinations(sorted(rel), 2):
            found.add(frozenset((a, b)))
    tp = found & set(true_pairs)
    precision = len(tp) / len(found) if found else 1.0
    recall = len(tp) / len(true_pairs) if true_pairs else 1.0
    per = defaultdict(lambda: [0, 0])
    direct = defaultdict(lambda: [0, 0])  # (original, copy) pairs only
    for pair, ts in true_pairs.items():
        if len(ts) == 1:
            t = next(iter(ts))
            direct[t][1] += 1
            if pair in tp:
                direct[t][0] += 1
        for t in ts:
            per[t][1] += 1
            if pair in tp:
                per[t][0] += 1
    report = {
        "pairs_found": len(found),
        "true_pairs": len(true_pairs),
        "true_positives": len(tp),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "related_pairs_grouped": len(found & related),
        "groups": len(groups),
        "originals_chained": chained,
        "keeper_accuracy": round(keeper_ok / keeper_groups, 4) if keeper_groups else None,
        "keeper_groups": keeper_groups,
        "series": len(doc.get("series", [])),
        "per_transform_recall": {t: round(a / b, 4) for t, (a, b) in sorted(per.items())},
        "per_transform_recall_vs_original": {t: round(a / b, 4) for t, (a, b) in sorted(direct.items())},
    }
    if "--json" in sys.argv:
        print(json.dumps(report, indent=2))
        return
    print(f"pairs found {len(found)}, true {len(true_pairs)}, TP {len(tp)}")
    print(f"precision {precision:.4f}  recall {recall:.4f}  related grouped {report['related_pairs_grouped']}")
    print(f"groups {report['groups']}, holding two originals {chained}, keeper accuracy "
          f"{report['keeper_accuracy']} over {keeper_groups}, series {report['series']}")
    print("  transform    all pairs   original-copy pairs")
    for t, r in report["per_transform_recall"].items():
        d = report["per_transform_recall_vs_original"].get(t, float("nan"))
        print(f"  {t:<12} {r:9.4f}   {d:9.4f}")


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:
        pass
