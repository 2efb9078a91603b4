"""Colour measures tried for issue 31's normal/shiny sprites, outside the
pipeline: each one on the normal/shiny view pairs of a pokemon-dev-style
folder and on sprite copies generated from it (JPEG q40/q90, brightness
1.3, contrast 0.7, saturation 1.5 over white, 2x nearest and 3x bicubic
upscales). A measure is worth building into the signature only if the
shiny pairs sit apart from every kind of copy. None of the three here
does (README, "Copies and series"); the script is kept so the next idea
is measured on the same pairs.

    .venv/bin/python scripts/shiny_probes.py ../shared/data/pokemon-dev/images OUT

OUT receives the generated copies and `pairs.txt` (a, b, kind per line).
Needs Pillow and numpy (the project's .venv has both). The check that
landed (`src/jobs/dupes/palette.rs`, matching colours by pixel count) is
measured in the pipeline on the same pairs:

    imgdex --db OUT.db index --no-embed ../shared/data/pokemon-dev/images OUT
    cargo run --profile ci --example verify_pairs -- OUT.db $(cut -d' ' -f1,2 OUT/pairs.txt)

(its fifth column: `recol`, `tone` or `-`, no verdict)."""
import collections
import math
import os
import sys

import numpy as np
from PIL import Image, ImageEnhance

EDITS = {
    "jpeg40": lambda flat, im, p: flat.save(p, quality=40),
    "jpeg90": lambda flat, im, p: flat.save(p, quality=90),
    "bright130": lambda flat, im, p: ImageEnhance.Brightness(flat).enhance(1.3).save(p),
    "contrast70": lambda flat, im, p: ImageEnhance.Contrast(flat).enhance(0.7).save(p),
    "sat150": lambda flat, im, p: ImageEnhance.Color(flat).enhance(1.5).save(p),
    "up2": lambda flat, im, p: im.resize((im.width * 2, im.height * 2), Image.NEAREST).save(p),
    "up3bic": lambda flat, im, p: flat.resize((im.width * 3, im.height * 3), Image.BICUBIC).save(p),
    "gray": lambda flat, im, p: flat.convert("L").save(p),
}


def make_pairs(src, out):
    """(a, b, kind) for every copy and every normal/shiny view pair."""
    pairs = []
    for mon in sorted(os.listdir(src)):
        os.makedirs(f"{out}/{mon}", exist_ok=True)
        for view in ["front", "back", "front_shiny", "back_shiny"]:
            path = f"{src}/{mon}/{view}.png"
            if not os.path.exists(path):
                continue
            im = Image.open(path).convert("RGBA")
            flat = Image.new("RGB", im.size, (255, 255, 255))
            flat.paste(im, mask=im.split()[3])
            for kind, edit in EDITS.items():
                ext = "jpg" if kind.startswith("jpeg") else "png"
                copy = f"{out}/{mon}/{view}__{kind}.{ext}"
                if not os.path.exists(copy):
                    edit(flat, im, copy)
                pairs.append((path, copy, kind))
        for view in ["front", "back"]:
            a, b = f"{src}/{mon}/{view}.png", f"{src}/{mon}/{view}_shiny.png"
            if os.path.exists(a) and os.path.exists(b):
                pairs.append((a, b, "shiny"))
    return pairs


def load(path):
    """RGB over white, the near-white frame trimmed (the content view)."""
    im = Image.open(path).convert("RGBA")
    flat = Image.new("RGB", im.size, (255, 255, 255))
    flat.paste(im, mask=im.split()[3])
    a = np.asarray(flat).astype(np.float32)
    ys, xs = np.nonzero(np.abs(a - 255).max(axis=2) > 24)
    return a[ys.min():ys.max() + 1, xs.min():xs.max() + 1] if len(ys) else a


def box(a, n=64):
    """Box average to n x n (each box at least one pixel)."""
    h, w = a.shape[:2]
    out = np.zeros((n, n, 3), np.float32)
    for by in range(n):
        y0 = min(by * h // n, h - 1)
        y1 = min(max((by + 1) * h // n, y0 + 1), h)
        for bx in range(n):
            x0 = min(bx * w // n, w - 1)
            x1 = min(max((bx + 1) * w // n, x0 + 1), w)
            out[by, bx] = a[y0:y1, x0:x1].reshape(-1, 3).mean(0)
    return out


def cbcr(rgb):
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return (-0.168736 * r - 0.331264 * g + 0.5 * b,
            0.5 * r - 0.418688 * g - 0.081312 * b)


def flat_mask(rgb):
    """Unclipped and within 60 of each 3x3 neighbour (as `colour.rs`)."""
    n = rgb.shape[0]
    ok = (rgb < 250).all(2)
    pad = np.pad(rgb, ((1, 1), (1, 1), (0, 0)), mode="edge")
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            ok &= (np.abs(pad[1 + dy:1 + dy + n, 1 + dx:1 + dx + n] - rgb) < 60).all(2)
    return ok


def hue_turn_64(A, B):
    """Measure 1: `colour.rs`'s flat-pixel mean hue turn, on a 64x64 grid."""
    (ba, ra), (bb, rb) = cbcr(A), cbcr(B)
    t = np.abs(np.degrees(np.arctan2(ra, ba)) - np.degrees(np.arctan2(rb, bb)))
    t = np.minimum(t, 360 - t)
    w = np.minimum(np.hypot(ba, ra), np.hypot(bb, rb))
    m = flat_mask(A) & flat_mask(B) & (w >= 20)
    return float((t[m] * w[m]).sum() / w[m].sum()) if m.sum() >= 6 else math.nan


def region_fit(A, B, q=6, min_pixels=4):
    """Measure 2: A's colours binned (q levels a channel, flat pixels);
    each bin's mean Cb/Cr in A and in B; B fitted as one saturation gain
    and one cast of A; the worst bin's residual. Min over both directions
    (either may be the original)."""
    def one_way(X, Y):
        m = flat_mask(X) & flat_mask(Y)
        (bx, rx), (by, ry) = cbcr(X), cbcr(Y)
        k = np.clip((X / 256 * q).astype(int), 0, q - 1) @ np.array([q * q, q, 1])
        rows = [(s.sum(), bx[s].mean(), rx[s].mean(), by[s].mean(), ry[s].mean())
                for s in (m & (k == v) for v in np.unique(k[m])) if s.sum() >= min_pixels]
        if len(rows) < 2:
            return math.nan
        r = np.array(rows)
        n = len(r)
        X_ = np.zeros((2 * n, 3))
        X_[:n, 0], X_[:n, 1], X_[n:, 0], X_[n:, 2] = r[:, 1], 1, r[:, 2], 1
        y = np.concatenate([r[:, 3], r[:, 4]])
        sw = np.sqrt(np.concatenate([r[:, 0], r[:, 0]]))
        p, *_ = np.linalg.lstsq(X_ * sw[:, None], y * sw, rcond=None)
        res = y - X_ @ p
        return float(np.hypot(res[:n], res[n:]).max())
    v = [x for x in (one_way(A, B), one_way(B, A)) if not math.isnan(x)]
    return min(v) if v else math.nan


def palette_swap(a, b, near=4, gone=24):
    """Measure 3 (full resolution, images of 256 colours or fewer): a
    colourful mid-tone colour kept (within `near` a channel, half its
    share or more) while another colour with 2% of the pixels has nothing
    within `gone`. 1 = flagged, 0 = not, NaN = not a palette image."""
    def palette(x):
        keys, counts = np.unique(x.reshape(-1, 3).astype(np.int64), axis=0, return_counts=True)
        return None if len(keys) > 256 else (keys, counts / counts.sum())

    def colourful(c):
        cb, cr = cbcr(c.astype(np.float32))
        return math.hypot(cb, cr) >= 20 and c.min() >= 1 and c.max() <= 254

    pa, pb = palette(a), palette(b)
    if pa is None or pb is None:
        return math.nan

    def one(p, q):
        d = np.abs(p[0][:, None, :] - q[0][None, :, :]).max(axis=2)
        kept = any(p[1][i] >= 0.01 and colourful(p[0][i])
                   and q[1][d[i] <= near].sum() >= 0.5 * p[1][i] for i in range(len(p[0])))
        lost = any(p[1][i] >= 0.02 and not (d[i] <= gone).any() for i in range(len(p[0])))
        return kept, lost
    (k1, l1), (k2, l2) = one(pa, pb), one(pb, pa)
    return float((k1 or k2) and (l1 or l2))


def main():
    src, out = sys.argv[1], sys.argv[2]
    rows = collections.defaultdict(list)
    pairs = make_pairs(src, out)
    with open(f"{out}/pairs.txt", "w") as f:
        f.writelines(f"{a} {b} {kind}\n" for a, b, kind in pairs)
    for a, b, kind in pairs:
        A, B = load(a), load(b)
        GA, GB = box(A), box(B)
        rows[kind].append((hue_turn_64(GA, GB), region_fit(GA, GB), palette_swap(A, B), a))
    names = ["hue turn 64x64", "region fit", "palette swap flagged"]
    for j, name in enumerate(names):
        print(f"## {name}")
        for kind, r in rows.items():
            v = sorted(x[j] for x in r if not math.isnan(x[j]))
            if not v:
                print(f"{kind:11} n=0")
                continue
            if j == 2:
                print(f"{kind:11} {int(sum(v))} of {len(v)} palette pairs flagged")
                continue
            pick = lambda f: v[min(int(f * len(v)), len(v) - 1)]
            print(f"{kind:11} n={len(v):4} p50 {pick(.5):7.2f} p95 {pick(.95):7.2f} max {v[-1]:7.2f}")
    print("## shiny pairs, one by one: hue turn, region fit, palette flag")
    for h, f, p, a in rows["shiny"]:
        print(f"{h:7.2f} {f:7.2f} {p:4.0f}  {a}")


if __name__ == "__main__":
    main()
