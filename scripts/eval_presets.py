#!/usr/bin/env python3
"""Measure every `dupes --preset` on the development sets.

Usage: eval_presets.py IMGDEX NEARDUP_DB POKEMON_DB [DATA_DIR] [SERIES_DB]

NEARDUP_DB, POKEMON_DB and SERIES_DB are stores made by `imgdex index` (with
embeddings) of DATA_DIR/neardup, DATA_DIR/pokemon-dev and DATA_DIR/series
(DATA_DIR defaults to ../shared/data). Prints a Markdown table: pairwise
precision and recall on neardup (scripts/eval_dupes.py), the weakest
transform's recall of original-copy pairs and that of the
re-encode/resize/blur transforms, keeper accuracy on neardup; on series
(when SERIES_DB is given) precision, recall, groups holding two captures
and keeper accuracy; and on pokemon-dev the groups mixing two Pokémon
folders, the groups holding a normal and a shiny view of one Pokémon, and
the groups / images grouped. Standard library only.
"""
import json
import os
import subprocess
import sys
import tempfile

SIMPLE = ["png", "jpeg_q30", "resize50", "blur2"]
HERE = os.path.dirname(os.path.abspath(__file__))


def dupes(imgdex, db, preset):
    out = subprocess.run([imgdex, "--db", db, "-q", "dupes", "--json", "--preset", preset],
                         check=True, capture_output=True, text=True).stdout
    return out, json.loads(out)["groups"]


def score(dataset, doc_text):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        f.write(doc_text)
    try:
        out = subprocess.run([sys.executable, os.path.join(HERE, "eval_dupes.py"), dataset, f.name, "--json"],
                             check=True, capture_output=True, text=True).stdout
    finally:
        os.unlink(f.name)
    return json.loads(out)


def shiny_groups(groups):
    """Groups holding a normal and a shiny view of one Pokémon."""
    n = 0
    for g in groups:
        views = {}
        for p in g:
            views.setdefault(os.path.dirname(p), set()).add(os.path.basename(p))
        n += sum(1 for v in views.values()
                 if any("shiny" in x for x in v) and any("shiny" not in x for x in v))
    return n


def keeper(r):
    return "-" if r["keeper_accuracy"] is None else f"{r['keeper_accuracy']:.2f}"


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    imgdex, nd_db, pk_db = sys.argv[1:4]
    data = sys.argv[4] if len(sys.argv) > 4 else os.path.join(HERE, "..", "..", "shared", "data")
    se_db = sys.argv[5] if len(sys.argv) > 5 else None
    print("| preset | precision | recall | weakest transform (original-copy recall) | png / jpeg_q30 / resize50 / blur2 "
          "| keeper | series precision / recall | captures chained | series keeper "
          "| mixed groups on pokemon-dev | normal+shiny groups | groups / images grouped on pokemon-dev |")
    print("| --- | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for preset in ["exact", "strict", "default", "loose"]:
        text, _ = dupes(imgdex, nd_db, preset)
        r = score(os.path.join(data, "neardup"), text)
        direct = r["per_transform_recall_vs_original"]
        weakest = min(direct.items(), key=lambda kv: kv[1]) if direct else ("-", 0.0)
        se = ("-", "-", "-")
        if se_db:
            stext, _ = dupes(imgdex, se_db, preset)
            s = score(os.path.join(data, "series"), stext)
            se = (f"{s['precision']:.3f} / {s['recall']:.3f}", s["originals_chained"], keeper(s))
        _, groups = dupes(imgdex, pk_db, preset)
        mixed = sum(1 for g in groups if len({os.path.basename(os.path.dirname(p)) for p in g}) > 1)
        images = sum(len(g) for g in groups)
        print(f"| {preset} | {r['precision']:.4f} | {r['recall']:.4f} | {weakest[0]} {weakest[1]:.2f} "
              f"| {' / '.join(f'{direct.get(t, 0.0):.2f}' for t in SIMPLE)} | {keeper(r)} "
              f"| {se[0]} | {se[1]} | {se[2]} | {mixed} | {shiny_groups(groups)} | {len(groups)} / {images} |")


if __name__ == "__main__":
    main()
