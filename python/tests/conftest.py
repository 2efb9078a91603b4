"""Shared fixtures of the Python package's tests: generated images (a few
scenes, each with near-duplicate copies), the imgdex binary the same build
made (``IMGDEX_BIN``, else ``$CARGO_TARGET_DIR/ci/imgdex``, else
``target/ci/imgdex``) and helpers that run it and parse ``--json``."""

import json
import os
import random
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[2]


def binary() -> Path:
    env = os.environ.get("IMGDEX_BIN")
    if env:
        return Path(env)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    for profile in ("ci", "release", "debug"):
        p = target / profile / "imgdex"
        if p.is_file():
            return p
    raise RuntimeError(f"no imgdex binary under {target}; run cargo build --profile ci first")


def run(db, *args, check=True):
    """Run ``imgdex --db DB ARGS``; returns the completed process."""
    p = subprocess.run(
        [str(binary()), "--db", str(db), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check and p.returncode != 0:
        raise AssertionError(f"imgdex {args} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
    return p


def run_json(db, *args):
    return json.loads(run(db, *args).stdout)


def strip_ids(v):
    """A report without the store-assigned image ids (two stores built in a
    different order number the same images differently)."""
    if isinstance(v, dict):
        return {k: strip_ids(x) for k, x in v.items() if k != "id"}
    if isinstance(v, list):
        return [strip_ids(x) for x in v]
    return v


def scene(seed: int, w: int = 160, h: int = 120) -> Image.Image:
    rnd = random.Random(seed)
    img = Image.new("RGB", (w, h), tuple(rnd.randrange(256) for _ in range(3)))
    d = ImageDraw.Draw(img)
    for _ in range(8):
        x0, y0 = rnd.randrange(w), rnd.randrange(h)
        x1, y1 = x0 + rnd.randrange(10, w // 2), y0 + rnd.randrange(10, h // 2)
        fill = tuple(rnd.randrange(256) for _ in range(3))
        (d.ellipse if rnd.random() < 0.5 else d.rectangle)([x0, y0, x1, y1], fill=fill)
    return img


def make_images(folder: Path, families: int = 4) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(families):
        img = scene(1000 + i)
        img.save(folder / f"s{i}.png")
        img.resize((120, 90)).save(folder / f"s{i}-small.jpg", quality=90)
        img.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(folder / f"s{i}-flip.png")
    return folder


@pytest.fixture(scope="session")
def images(tmp_path_factory) -> Path:
    return make_images(tmp_path_factory.mktemp("images") / "lib")


@pytest.fixture(scope="session")
def indexed(images, tmp_path_factory) -> Path:
    """A store made by ``imgdex index`` over ``images``."""
    db = tmp_path_factory.mktemp("indexed") / "db"
    run(db, "index", "--json", images)
    return db
