#!/usr/bin/env python3
"""Sweep `dupes`' embedding thresholds on the development sets.

Usage: sweep_dupes.py IMGDEX NEARDUP_DB POKEMON_DB [DATA_DIR]
           [--max-cosine 0.01,0.02] [--weak-cosine 0.03,0.05] [--weak-phash 22]

For every (max, weak) pair: pairwise precision and recall on neardup
(scripts/eval_dupes.py), the weakest transform by recall of the pairs
involving its copies and by original-copy recall, and the mixed-Pokémon
groups on pokemon-dev. Prints a Markdown table. Used to re-tune the
defaults when the embedding changed (issue 13). Standard library only.
"""
import argparse
import json
import os
import subprocess

from eval_presets import HERE, score


def dupes(imgdex, db, args):
    out = subprocess.run([imgdex, "--db", db, "-q", "dupes", "--json", *args],
                         check=True, capture_output=True, text=True).stdout
    return out, json.loads(out)["groups"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("imgdex")
    ap.add_argument("nd_db")
    ap.add_argument("pk_db")
    ap.add_argument("data", nargs="?", default=os.path.join(HERE, "..", "..", "shared", "data"))
    ap.add_argument("--max-cosine", default="0.01,0.02,0.03")
    ap.add_argument("--weak-cosine", default="0.03,0.05,0.08")
    ap.add_argument("--weak-phash", default="22")
    a = ap.parse_args()
    print("| max-cosine | weak-cosine | weak-phash | precision | recall | weakest (pairs) | weakest (vs original) | mixed on pokemon-dev | groups / images on pokemon-dev |")
    print("| ---: | ---: | ---: | ---: | ---: | --- | --- | ---: | ---: |")
    for m in a.max_cosine.split(","):
        for w in a.weak_cosine.split(","):
            for p in a.weak_phash.split(","):
                flags = ["--max-cosine", m, "--weak-cosine", w, "--weak-phash", p]
                text, _ = dupes(a.imgdex, a.nd_db, flags)
                r = score(os.path.join(a.data, "neardup"), text)
                pt = min(r["per_transform_recall"].items(), key=lambda kv: kv[1])
                po = min(r["per_transform_recall_vs_original"].items(), key=lambda kv: kv[1])
                _, groups = dupes(a.imgdex, a.pk_db, flags)
                mixed = sum(1 for g in groups
                            if len({os.path.basename(os.path.dirname(x)) for x in g}) > 1)
                print(f"| {m} | {w} | {p} | {r['precision']:.4f} | {r['recall']:.4f} | {pt[0]} {pt[1]:.3f} "
                      f"| {po[0]} {po[1]:.3f} | {mixed} | {len(groups)} / {sum(len(g) for g in groups)} |",
                      flush=True)


if __name__ == "__main__":
    main()
