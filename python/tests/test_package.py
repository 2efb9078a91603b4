"""The Python package against the command line: ``imgdex.analyse`` equals
``export shard`` of an index of the same files; ``Store`` answers ``info``,
``query`` and ``dupes`` as the CLI's ``--json`` does; ``features`` is the
shard; ``ingest`` of analysed tables gives the index's duplicate groups;
library errors are ``ImgdexError`` with the library's message."""

import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import imgdex
from conftest import run, run_json, strip_ids

EXACT = ["path", "path_bytes", "digest", "width", "height", "format", "size", "mtime_ns",
         "phash", "dhash", "ahash", "histogram", "embedding"]


def by_path(t: pa.Table) -> pa.Table:
    return t.sort_by("path")


def test_analyse_equals_export_shard_of_an_index(images, indexed, tmp_path):
    shard = tmp_path / "s.parquet"
    run(indexed, "export", "shard", "--out", shard)
    want = by_path(pq.read_table(shard))
    got = by_path(imgdex.analyse([images]))
    assert got.num_rows == want.num_rows == 12
    for col in EXACT + (["dupe"] if "dupe" in want.column_names else []):
        assert got.column(col).to_pylist() == want.column(col).to_pylist(), col
    meta = lambda t: {k: v for k, v in t.schema.metadata.items() if k.startswith(b"imgdex.")}
    assert meta(got) == meta(want)
    assert meta(got)[b"imgdex.shard.version"] == str(imgdex.SHARD_VERSION).encode()
    # The model stays loaded: a second call gives the same rows.
    again = by_path(imgdex.analyse(images))
    assert again.column("embedding").to_pylist() == got.column("embedding").to_pylist()


def test_analyse_without_embeddings_and_bad_files(images, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.warns(RuntimeWarning, match="broken.png"):
        t = imgdex.analyse([images / "s0.png", bad], embed=False, threads=1)
    assert t.num_rows == 1
    assert "embedding" not in t.column_names
    assert t.column("phash").null_count == 0


def test_store_answers_like_the_cli(images, indexed, tmp_path):
    store = imgdex.Store(indexed)
    info = run_json(indexed, "info", "--json")
    got = store.info()
    assert {k: v for k, v in got.items() if k != "store_bytes"} == \
        {k: v for k, v in info.items() if k != "store_bytes"}
    for by in ("auto", "hash", "histogram", "embedding"):
        q = images / "s1-small.jpg"
        assert store.query(q, k=5, by=by) == run_json(indexed, "query", "--json", "-k", 5, "--by", by, q)
    outside = tmp_path / "copy.jpg"
    shutil.copy(images / "s2-flip.png", outside)
    assert store.query(outside.read_bytes(), k=4) == run_json(indexed, "query", "--json", "-k", 4, outside)
    for preset in ("default", "loose", "exact"):
        assert store.dupes(preset) == run_json(indexed, "dupes", "--json", "--preset", preset)
    assert len(store.dupes()["groups"]) >= 3


def test_features_is_the_shard(indexed, tmp_path):
    shard = tmp_path / "s.parquet"
    run(indexed, "export", "shard", "--out", shard)
    t = imgdex.Store(indexed).features()
    assert t.equals(pq.read_table(shard))
    assert t.schema.metadata[b"imgdex.shard.version"] == b"2"
    sub = imgdex.Store(indexed).features(columns=["path", "phash"])
    assert sub.column_names == ["path", "phash"]


def test_ingest_of_analysed_tables_matches_index(images, indexed, tmp_path):
    first = imgdex.analyse(sorted(images.glob("s[01]*")), roots=[images])
    rest = imgdex.analyse(sorted(images.glob("s[23]*")), roots=[images])
    store = imgdex.Store(tmp_path / "db")
    s = store.ingest([first, rest])
    assert (s["rows"], s["added"], s["embedded"]) == (12, 12, 12)
    for preset in ("default", "loose"):
        assert strip_ids(store.dupes(preset)) == strip_ids(run_json(indexed, "dupes", "--json", "--preset", preset))
    again = store.ingest([first])
    assert (again["added"], again["unchanged"]) == (0, 6)


def test_errors_carry_the_library_message(tmp_path, images, indexed):
    missing = tmp_path / "nowhere"
    with pytest.raises(imgdex.ImgdexError) as e:
        imgdex.Store(missing).info()
    cli = run(missing, "info", "--json", check=False)
    assert cli.returncode != 0
    assert str(e.value) in cli.stderr and "no imgdex store" in str(e.value)
    with pytest.raises(imgdex.ImgdexError, match="preset"):
        imgdex.Store(indexed).dupes("sloppy")
    with pytest.raises(imgdex.ImgdexError, match="nope.png"):
        imgdex.Store(indexed).query(tmp_path / "nope.png")
    # A shard of other settings is refused by name, the store untouched.
    other = imgdex.analyse([images / "s0.png"], embed=False)
    other = other.replace_schema_metadata({**other.schema.metadata, b"imgdex.fingerprint.histogram": b"rgb-16-l1norm-v2/other"})
    before = imgdex.Store(indexed).info()
    with pytest.raises(imgdex.ImgdexError, match="histogram fingerprints differ"):
        imgdex.Store(indexed).ingest([other])
    drop = lambda i: {k: v for k, v in i.items() if k != "store_bytes"}
    assert drop(imgdex.Store(indexed).info()) == drop(before)


def test_store_query_reuses_one_model(images, indexed):
    """``Store.query`` loads the CNN once per process, on the first query
    that needs it, and every later query (from any ``Store``) reuses it; a
    hash query loads none."""
    from imgdex import _imgdex

    q = images / "s1-small.jpg"
    start = _imgdex._model_loads()
    imgdex.Store(indexed).query(q, k=3, by="hash")
    assert _imgdex._model_loads() == start
    first = imgdex.Store(indexed).query(q, k=3, by="embedding")
    loaded = _imgdex._model_loads()
    assert loaded - start <= 1  # 0 if an earlier test's query loaded it
    store = imgdex.Store(indexed)
    for _ in range(3):
        assert store.query(q, k=3, by="embedding") == first
        assert imgdex.Store(indexed).query(q, k=3) == first
    assert _imgdex._model_loads() == loaded
