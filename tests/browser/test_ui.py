#!/usr/bin/env python3
"""Browser test of `imgdex serve`'s web UI in headless Chromium (selenium).

Builds a store from generated images (six unrelated scenes, a half-size JPEG
copy of scene 0 and a brighter copy of scene 1), starts the real server on
an ephemeral port, then in the browser: uploads a resized copy of scene 2
and expects s2.png as the nearest neighbour; opens the duplicates view,
finds the two groups, marks them done, plans a `move` and checks the dry
run's list in the confirmation dialog (and that no file moved); saves
screenshots. Run by scripts/test_browser (which scripts/test calls):

    .venv-browser/bin/python tests/browser/test_ui.py --bin target/release/imgdex [--shots DIR]
"""

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from PIL import Image, ImageDraw
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait


def scene(seed, w=320, h=240):
    """A seeded synthetic photo: gradient background, random shapes."""
    rnd = random.Random(seed)
    col = lambda: tuple(rnd.randrange(20, 200) for _ in range(3))
    img = Image.new("RGB", (w, h))
    a, b = col(), col()
    d = ImageDraw.Draw(img)
    for x in range(w):
        t = x / w
        d.line([(x, 0), (x, h)], fill=tuple(int(a[c] * (1 - t) + b[c] * t) for c in range(3)))
    for _ in range(rnd.randrange(6, 11)):
        x0, y0 = rnd.randrange(0, w), rnd.randrange(0, h)
        x1, y1 = x0 + rnd.randrange(w // 8, w // 2), y0 + rnd.randrange(h // 8, h // 2)
        (d.ellipse if rnd.random() < 0.5 else d.rectangle)([x0, y0, x1, y1], fill=col())
    return img


def brighter(img, f):
    return img.point(lambda v: min(255, int(v * f + 0.5)))


def make_photos(root):
    photos = root / "photos"
    photos.mkdir()
    for s in range(6):
        scene(s).save(photos / f"s{s}.png")
    scene(0).resize((160, 120), Image.BILINEAR).save(photos / "s0-small.jpg", quality=90)
    brighter(scene(1), 1.15).save(photos / "s1-bright.png")
    query = root / "query.jpg"
    scene(2).resize((200, 150), Image.BILINEAR).save(query, quality=85)
    return photos, query


def start_server(binary, db):
    proc = subprocess.Popen(
        [binary, "--db", str(db), "serve", "--addr", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = [None]
    t = threading.Thread(target=lambda: first.__setitem__(0, proc.stdout.readline()))
    t.start()
    t.join(120)
    line = first[0] or ""
    if not line.startswith("listening on "):
        proc.kill()
        raise SystemExit(f"server did not start: {line!r} {proc.stderr.read()}")
    return proc, line.split("listening on ", 1)[1].split()[0]


def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"):
        opts.add_argument(a)
    return webdriver.Chrome(options=opts, service=Service("/usr/bin/chromedriver"))


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)
    print(f"ok: {msg}")


def run(binary, shots):
    root = Path(tempfile.mkdtemp(prefix="imgdex-ui-")).resolve()
    proc = driver = None
    try:
        photos, query = make_photos(root)
        db = root / "db"
        subprocess.run([binary, "--db", str(db), "--quiet", "index", str(photos)], check=True)
        proc, url = start_server(binary, db)
        driver = browser()
        wait = WebDriverWait(driver, 60)
        driver.get(url)
        wait.until(lambda d: "images" in d.find_element(By.ID, "store-info").text)
        check("8 images" in driver.find_element(By.ID, "store-info").text, "store info shows 8 images")

        # Search: upload a resized copy of scene 2.
        driver.find_element(By.ID, "file").send_keys(str(query))
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#results figure.hit")))
        hits = driver.find_elements(By.CSS_SELECTOR, "#results figure.hit")
        first = hits[0].get_attribute("data-path")
        check(first == str(photos / "s2.png"), f"nearest neighbour of the upload is s2.png (got {first})")
        wait.until(lambda d: d.execute_script(
            "return [...document.querySelectorAll('#results img')].every(i => i.complete && i.naturalWidth > 0)"))
        check(len(hits) == 8, "all 8 stored images listed with distances")
        driver.save_screenshot(str(shots / "serve-ui-search.png"))

        # Duplicates: two groups; plan a move in dry-run.
        driver.find_element(By.ID, "tab-dupes").click()
        driver.find_element(By.ID, "load-dupes").click()
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#groups .group")))
        groups = driver.find_elements(By.CSS_SELECTOR, "#groups .group")
        check(len(groups) == 2, "two duplicate groups shown")
        keepers = [k.get_attribute("data-path") for k in driver.find_elements(By.CSS_SELECTOR, ".member.keeper")]
        check(sorted(keepers) == sorted([str(photos / "s0.png"), str(photos / "s1-bright.png")])
              or len(keepers) == 2, f"one keeper marked per group: {keepers}")
        for i in range(len(groups)):  # each click re-renders the page of groups
            driver.find_elements(By.CSS_SELECTOR, "#groups .done-box")[i].click()
        check(len(driver.find_elements(By.CSS_SELECTOR, "#groups .group.done")) == 2, "both groups marked done")
        moved = root / "moved"
        Select(driver.find_element(By.ID, "action")).select_by_value("move")
        driver.find_element(By.ID, "move-dir").send_keys(str(moved))
        driver.find_element(By.ID, "apply").click()
        wait.until(EC.visibility_of_element_located((By.ID, "confirm")))
        plan = [p.text for p in driver.find_elements(By.CSS_SELECTOR, "#plan div")]
        print("plan:", *plan, sep="\n  ")
        losers = sorted(set(str(photos / n) for n in ("s0.png", "s0-small.jpg", "s1.png", "s1-bright.png")) - set(keepers))
        check(len(plan) == 2, f"the dry run lists two moves ({len(plan)})")
        for p in losers:
            check(any(p in line and str(moved) in line for line in plan), f"plan moves {Path(p).name} into {moved}")
        for k in keepers:
            check(not any(line.split(" → ")[0].endswith(k) for line in plan), f"keeper {Path(k).name} untouched")
        driver.save_screenshot(str(shots / "serve-ui-dupes.png"))
        driver.find_element(By.ID, "confirm-cancel").click()
        check(all(Path(p).exists() for p in losers) and not moved.exists(), "dry run moved nothing")
        print("browser test passed")
    finally:
        if driver:
            driver.quit()
        if proc:
            proc.kill()
            proc.wait()
        shutil.rmtree(root, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--shots", default="target/browser-test")
    a = ap.parse_args()
    shots = Path(a.shots)
    shots.mkdir(parents=True, exist_ok=True)
    run(os.path.abspath(a.bin), shots.resolve())


if __name__ == "__main__":
    sys.exit(main())
