#!/usr/bin/env python3
"""Browser test of `imgdex serve`'s web UI in headless Chromium (selenium).

Builds a store from generated images under photos/ and ref/ (six unrelated
scenes; copies: a half-size JPEG of s0, a brighter s1, a mirrored s3, a
half-size and a low-quality JPEG of s5 (with an EXIF capture date), and a double-size s4 whose original
is under the reference folder ref/), starts the real server with
`--reference ref` on an ephemeral port, then in the browser:

- search: uploads a resized copy of scene 2 and expects s2.png first;
- duplicates: bytes to reclaim shown; the ref/ file is the keeper (locked);
  "Not duplicates" on the s1 group; a new keeper (s5-half.jpg) by click,
  whose evidence the other cards then describe; s5-q.jpg unticked (a "keep"
  decision in the store), s5.png unticked and ticked again; with the
  keyboard, j to the next group and n on it; `?` shows the keys;
- after a reload (with the browser's localStorage cleared: nothing is kept
  there): the two not-duplicate groups stay gone, the keeper and the
  untick stay, s5.png is ticked;
- the dry run (all groups, move) excludes the unticked and the reference
  file and says what it frees; the apply moves the rest, and the groups
  recomputed from the store no longer list the moved files (no `index`);
- Re-index (POST /api/index) reports its summary (nothing left to analyse);
- after the server stops, `imgdex dupes --json` lists neither not-duplicate
  group, and `imgdex decide list --json` has the keep decision of s5-q.jpg.

Saves screenshots. Run by scripts/test_browser (which scripts/test calls):

    .venv-browser/bin/python tests/browser/test_ui.py --bin target/release/imgdex [--shots DIR]
"""

import argparse
import json
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
from selenium.common.exceptions import StaleElementReferenceException
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
    photos, ref = root / "photos", root / "ref"
    photos.mkdir()
    ref.mkdir()
    for s in (0, 1, 2, 3, 5):
        scene(s).save(photos / f"s{s}.png")
    scene(4).save(ref / "s4.png")
    scene(0).resize((160, 120), Image.BILINEAR).save(photos / "s0-small.jpg", quality=90)
    brighter(scene(1), 1.15).save(photos / "s1-bright.png")
    scene(3).transpose(Image.FLIP_LEFT_RIGHT).save(photos / "s3-mirror.png")
    scene(5).resize((160, 120), Image.BILINEAR).save(photos / "s5-half.jpg", quality=92)
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = "2019:05:01 12:34:56"  # DateTimeOriginal
    scene(5).save(photos / "s5-q.jpg", quality=40, exif=exif)
    scene(4).resize((640, 480), Image.BICUBIC).save(photos / "s4-big.png")
    query = root / "query.jpg"
    scene(2).resize((200, 150), Image.BILINEAR).save(query, quality=85)
    return photos, ref, query


def start_server(binary, db, ref):
    proc = subprocess.Popen(
        [binary, "--db", str(db), "serve", "--addr", "127.0.0.1:0", "--reference", str(ref)],
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


class Page:
    """The duplicates view, read through the DOM."""

    def __init__(self, driver):
        self.d = driver
        self.wait = WebDriverWait(driver, 60, ignored_exceptions=[StaleElementReferenceException])

    def info(self, path):
        """A card's class, text, and its evidence text and hover title, read at once."""
        return self.d.execute_script("""
            const m = [...document.querySelectorAll('.member')].find(e => e.dataset.path === arguments[0]);
            if (!m) return null;
            const r = m.querySelector('.reason');
            return {cls: m.className, text: m.innerText, reason: r.textContent, title: r.title};""", path)

    def click(self, path, sel):
        """Click `sel` (CSS, or `xpath:...`) relative to the card of `path`."""
        how = (By.XPATH, sel[6:]) if sel.startswith("xpath:") else (By.CSS_SELECTOR, sel)
        self.wait.until(lambda _: self.card(path).find_element(*how).click() or True)

    def groups(self):
        """{frozenset(paths): group element} of the groups shown."""
        out = {}
        for g in self.d.find_elements(By.CSS_SELECTOR, "#groups .group"):
            paths = [m.get_attribute("data-path") for m in g.find_elements(By.CSS_SELECTOR, ".member")]
            out[frozenset(paths)] = g
        return out

    def group_with(self, path):
        return next((g for ps, g in self.groups().items() if path in ps), None)

    def card(self, path):
        return self.d.find_element(By.CSS_SELECTOR, f'.member[data-path="{path}"]')

    def load(self):
        self.d.execute_script("document.querySelector('#groups').replaceChildren()")
        self.d.find_element(By.ID, "tab-dupes").click()
        self.d.find_element(By.ID, "load-dupes").click()
        self.wait.until(lambda d: "to reclaim" in d.find_element(By.ID, "dupes-status").text)
        self.wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#groups .group")))

    def status(self):
        return self.d.find_element(By.ID, "dupes-status").text


def search(driver, wait, photos, query, shots):
    driver.find_element(By.ID, "file").send_keys(str(query))
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#results figure.hit")))
    hits = driver.find_elements(By.CSS_SELECTOR, "#results figure.hit")
    first = hits[0].get_attribute("data-path")
    check(first == str(photos / "s2.png"), f"nearest neighbour of the upload is s2.png (got {first})")
    wait.until(lambda d: d.execute_script(
        "return [...document.querySelectorAll('#results img')].every(i => i.complete && i.naturalWidth > 0)"))
    check(len(hits) == 12, f"all 12 stored images listed with distances ({len(hits)})")
    driver.save_screenshot(str(shots / "serve-ui-search.png"))


def review(page, photos, ref, shots):
    """Reference keeper, not-duplicates, keeper change, untick, keyboard."""
    d, p = page.d, lambda n: str(photos / n)
    sets = set(page.groups())
    d.set_window_size(1280, 1700)
    d.save_screenshot(str(shots / "serve-ui-dupes.png"))
    d.set_window_size(1280, 900)
    for path in sorted(set().union(*sets)):
        print(f"  {Path(path).name}: {page.info(path)['reason']}")
    print("groups:", *[sorted(Path(x).name for x in g) for g in sets], sep="\n  ")
    check(len(sets) == 5, f"five duplicate groups shown ({len(sets)})")
    total = d.find_element(By.ID, "dupes-total").text
    check(total not in ("", "0 B") and "to reclaim" in page.status(), f"bytes to reclaim shown ({total})")
    check(all("frees" in g.find_element(By.CSS_SELECTOR, ".reclaim").text for g in page.groups().values()),
          "each group says what it frees")
    r4 = str(ref / "s4.png")
    check(r4 in [k.get_attribute("data-path") for k in d.find_elements(By.CSS_SELECTOR, ".member.keeper")],
          "the reference file is its group's keeper")
    check("reference" in page.info(r4)["cls"] and "KEEP · REF" in page.info(r4)["text"] and not page.card(r4).find_elements(By.CSS_SELECTOR, ".act-box"),
          "the reference file is shown locked, with nothing to untick")

    page.click(p("s1.png"), "xpath:ancestor::div[contains(@class,'group')]//button[contains(@class,'not-dup-group')]")
    page.wait.until(lambda _: page.group_with(p("s1.png")) is None)
    check(True, "'Not duplicates' removes the s1 group")

    before = page.info(p("s5-q.jpg"))
    check("taken 2019-05-01" in before["text"] and "modified" not in before["text"],
          "the card of s5-q.jpg shows its EXIF capture date")
    check("modified " in page.info(p("s5.png"))["text"] and "taken" not in page.info(p("s5.png"))["text"],
          "the card of s5.png (no EXIF) shows its modification time")
    check("s5.png" in before["title"], f"evidence is against the keeper s5.png: {before['reason']}")
    page.click(p("s5-half.jpg"), "img")
    page.wait.until(lambda _: "keeper" in page.info(p("s5-half.jpg"))["cls"])
    page.wait.until(lambda _: "s5-half.jpg" in page.info(p("s5.png"))["title"])
    orig = page.info(p("s5.png"))
    print("evidence of s5.png against s5-half.jpg:", orig["reason"], "|", orig["title"].replace("\n", "; "))
    check("against s5-half.jpg" in orig["title"] and "enlarged" in orig["reason"],
          f"after the keeper change the evidence describes s5.png against s5-half.jpg: {orig['reason']}")
    page.click(p("s5-q.jpg"), ".act-box")
    page.wait.until(lambda _: "unticked" in page.info(p("s5-q.jpg"))["cls"])
    check(True, "s5-q.jpg unticked")
    page.click(p("s5.png"), ".act-box")
    page.wait.until(lambda _: "unticked" in page.info(p("s5.png"))["cls"])
    page.click(p("s5.png"), ".act-box")
    page.wait.until(lambda _: "unticked" not in page.info(p("s5.png"))["cls"])
    check(True, "s5.png unticked and ticked again")

    Select(d.find_element(By.ID, "sort")).select_by_value("path")
    body = d.find_element(By.TAG_NAME, "body")
    body.send_keys("?")
    check(d.find_element(By.ID, "keys").is_displayed(), "? shows the keys")
    body.send_keys("?")
    first = d.find_element(By.CSS_SELECTOR, "#groups .group")
    body.send_keys("j")
    page.wait.until(lambda _: d.find_elements(By.CSS_SELECTOR, "#groups .group.current"))
    cur = d.find_element(By.CSS_SELECTOR, "#groups .group.current")
    target = frozenset(m.get_attribute("data-path") for m in cur.find_elements(By.CSS_SELECTOR, ".member"))
    check(cur.get_attribute("data-group") != "0" or first.get_attribute("data-group") != "0",
          f"j moved to the next group: {sorted(Path(x).name for x in target)}")
    body.send_keys("n")
    page.wait.until(lambda _: target not in page.groups())
    check(True, "n marked it not-duplicate: it is gone")
    return target


def after_reload(page, photos, gone):
    p = lambda n: str(photos / n)
    page.d.execute_script("localStorage.clear(); sessionStorage.clear()")
    page.d.refresh()
    page.load()
    shown = set(page.groups())
    check(not any(p("s1.png") in g and p("s1-bright.png") in g for g in shown), "after reload the s1 group stays gone")
    check(gone not in shown and not any(gone <= g for g in shown), "after reload the group marked with n stays gone")
    check("keeper" in page.info(p("s5-half.jpg"))["cls"], "after reload s5-half.jpg is still the keeper")
    orig = page.info(p("s5.png"))
    check("against s5-half.jpg" in orig["title"] and "enlarged" in orig["reason"],
          f"after reload the evidence still refers to s5-half.jpg: {orig['reason']}")
    check("unticked" in page.info(p("s5-q.jpg"))["cls"], "after reload s5-q.jpg is still unticked (from the store)")
    check("unticked" not in page.info(p("s5.png"))["cls"], "after reload s5.png, ticked again, is ticked")
    check(page.d.execute_script("return localStorage.length") == 0, "the page keeps nothing in localStorage")


def dry_run_and_apply(page, photos, ref, moved, shots):
    d, p = page.d, lambda n: str(photos / n)
    Select(d.find_element(By.ID, "action")).select_by_value("move")
    d.find_element(By.ID, "move-dir").send_keys(str(moved))
    Select(d.find_element(By.ID, "scope")).select_by_value("all")
    d.find_element(By.ID, "apply").click()
    page.wait.until(EC.visibility_of_element_located((By.ID, "confirm")))
    plan = [x.text for x in d.find_elements(By.CSS_SELECTOR, "#plan div")]
    print("plan:", *plan, sep="\n  ")
    acted = lambda f: any(line.split(" → ")[0].endswith(" " + f) for line in plan)
    check(not acted(p("s5-q.jpg")), "the dry run leaves out the unticked s5-q.jpg")
    check(not acted(str(ref / "s4.png")) and acted(p("s4-big.png")),
          "the reference file is never in the plan (its copy is)")
    check(acted(p("s5.png")) and not acted(p("s5-half.jpg")), "the chosen keeper s5-half.jpg is kept, s5.png moved")
    summary = d.find_element(By.ID, "confirm-summary").text
    check("frees" in summary and d.find_element(By.ID, "confirm-bytes").text not in ("", "0 B"),
          f"the confirm dialog says what it frees: {summary}")
    d.save_screenshot(str(shots / "serve-ui-plan.png"))
    check(not moved.exists(), "the dry run moved nothing")
    losers = [line.split(" → ")[0].split(" ", 1)[1] for line in plan]
    d.find_element(By.ID, "confirm-go").click()
    page.wait.until(lambda _: "applied" in page.status())
    page.wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#groups")))
    print("after apply:", page.status())
    shown = [x.get_attribute("data-path") for x in d.find_elements(By.CSS_SELECTOR, ".member")]
    check(losers and not any(x in shown for x in losers) and not any(Path(x).exists() for x in losers),
          f"after the apply the {len(losers)} moved files are gone from the groups, without an index")
    check(p("s5-q.jpg") in shown and Path(p("s5-q.jpg")).exists(), "the unticked file is still there, still listed")


def cli_dupes(binary, db, ref):
    out = subprocess.run([binary, "--db", str(db), "--quiet", "dupes", "--json", "--reference", str(ref)],
                         check=True, capture_output=True, text=True).stdout
    return [set(g) for g in json.loads(out)["groups"]]


def run(binary, shots):
    root = Path(tempfile.mkdtemp(prefix="imgdex-ui-")).resolve()
    proc = driver = None
    try:
        photos, ref, query = make_photos(root)
        db = root / "db"
        subprocess.run([binary, "--db", str(db), "--quiet", "index", str(photos), str(ref)], check=True)
        proc, url = start_server(binary, db, ref)
        driver = browser()
        wait = WebDriverWait(driver, 60)
        driver.get(url)
        wait.until(lambda d: "images" in d.find_element(By.ID, "store-info").text)
        check("12 images" in driver.find_element(By.ID, "store-info").text, "store info shows 12 images")
        search(driver, wait, photos, query, shots)
        page = Page(driver)
        page.load()
        gone = review(page, photos, ref, shots)
        after_reload(page, photos, gone)
        dry_run_and_apply(page, photos, ref, root / "moved", shots)
        driver.find_element(By.ID, "reindex").click()
        page.wait.until(lambda d: "re-indexed" in d.find_element(By.ID, "index-status").text)
        check("0 analysed" in driver.find_element(By.ID, "index-status").text,
              f"Re-index: {driver.find_element(By.ID, 'index-status').text}")
        driver.quit()
        driver = None
        proc.terminate()
        proc.wait(60)
        proc = None
        groups = cli_dupes(binary, db, ref)
        print("CLI groups after the server stopped:", *[sorted(Path(x).name for x in g) for g in groups], sep="\n  ")
        check(not any({str(photos / "s1.png"), str(photos / "s1-bright.png")} <= g for g in groups),
              "`imgdex dupes --json` does not list the not-duplicate s1 group")
        check(not any(len(gone & g) >= 2 for g in groups), "nor the group marked with n")
        out = subprocess.run([binary, "--db", str(db), "--quiet", "decide", "list", "--json"],
                             check=True, capture_output=True, text=True).stdout
        keeps = [d["paths"] for d in json.loads(out)["decisions"] if d["kind"] == "keep"]
        check(keeps == [[str(photos / "s5-q.jpg")]], f"`imgdex decide list --json` has the keep of s5-q.jpg: {keeps}")
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
