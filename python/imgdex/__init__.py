"""imgdex from Python: analyse images into Arrow tables, and query, dedupe
and fill imgdex stores.

The heavy lifting is the Rust library (the same code as the ``imgdex``
command line); this layer turns its JSON reports into Python objects and its
record batches into ``pyarrow`` tables (zero-copy, through the Arrow C
stream interface).

>>> import imgdex
>>> t = imgdex.analyse(["photos/"])            # one row per image, shard schema
>>> store = imgdex.Store("imgdex.db")
>>> store.ingest([t])                           # or shard files
>>> store.dupes()["groups"]
>>> store.query("photos/cat.jpg", k=5)

Errors from the library are raised as :class:`ImgdexError` with the
library's message.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union
import json

import pyarrow as pa
import pyarrow.parquet as pq

from . import _imgdex
from ._imgdex import ImgdexError

__all__ = ["analyse", "Store", "ImgdexError", "SHARD_VERSION", "write_shard"]

#: The shard format version this build writes and reads.
SHARD_VERSION: int = _imgdex.SHARD_VERSION

PathLike = Union[str, "os.PathLike[str]"]


def _table(batches: Any) -> pa.Table:
    return pa.RecordBatchReader.from_stream(batches).read_all()


def analyse(
    paths: Union[PathLike, Sequence[PathLike]],
    embed: bool = True,
    threads: Optional[int] = None,
    *,
    roots: Optional[Sequence[PathLike]] = None,
    model: Optional[PathLike] = None,
) -> pa.Table:
    """Analyse image files (and folders, walked like ``imgdex index`` walks
    them) into a ``pyarrow.Table`` in the shard schema: one row per image
    with path, digest, size, dimensions, format, the three perceptual hashes,
    the colour histogram and (``embed=True``) the CNN embedding as the store
    keeps it (f16 values), plus the feature fingerprints in the schema
    metadata. ``imgdex ingest`` / :meth:`Store.ingest` turn such tables into
    a store.

    The model is loaded on the first call and reused by later calls in the
    same process (with the same ``embed``, ``threads`` and ``model``).
    Files are decoded on worker threads while the CNN embeds earlier ones
    in batches, as ``imgdex index`` does; ``threads`` is the cores to use:
    that many decode workers, and ONNX Runtime sessions laid out as
    ``index`` lays them out on that many cores (one single-threaded session
    per core, at most 4 sessions). Default: this machine's cores. ``roots`` are the folders recorded for the rows (default: the
    inputs). Files that cannot be read or decoded are left out, each with a
    ``RuntimeWarning`` naming it and the reason.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    batches, failed = _imgdex.analyse(
        [os.fspath(p) for p in paths],
        embed=embed,
        threads=threads,
        roots=None if roots is None else [os.fspath(r) for r in roots],
        model=None if model is None else os.fspath(model),
    )
    for path, reason in failed:
        warnings.warn(f"imgdex: {path}: {reason}", RuntimeWarning, stacklevel=2)
    return _table(batches)


def write_shard(table: pa.Table, path: PathLike) -> None:
    """Write a table from :func:`analyse` (or :meth:`Store.features`) as a
    shard file, keeping its metadata (format version, fingerprints)."""
    pq.write_table(table, os.fspath(path), compression="snappy")


class Store:
    """An imgdex store directory (``--db`` of the command line).

    The store is opened for each call and closed after it, so the command
    line (or another process) can use it between calls.
    """

    def __init__(self, path: PathLike) -> None:
        self._store = _imgdex.Store(os.fspath(path))

    @property
    def path(self) -> str:
        """The store directory."""
        return os.fspath(self._store.path)

    def __repr__(self) -> str:
        return f"imgdex.Store({self.path!r})"

    def info(self) -> Dict[str, Any]:
        """What ``imgdex info --json`` prints: image count, schema version,
        fingerprints, feature counts."""
        return json.loads(self._store.info())

    def query(
        self, image: Union[PathLike, bytes], k: int = 10, by: str = "auto"
    ) -> List[Dict[str, Any]]:
        """The ``k`` stored images nearest to ``image`` (a path, or the
        bytes of an image file), as ``imgdex query --json`` lists them:
        dicts with ``id``, ``path`` and ``distance``. ``by`` is ``auto``,
        ``hash``, ``histogram`` or ``embedding``."""
        if isinstance(image, (bytes, bytearray, memoryview)):
            with tempfile.TemporaryDirectory(prefix="imgdex-query-") as d:
                p = os.path.join(d, "query")
                with open(p, "wb") as f:
                    f.write(bytes(image))
                return json.loads(self._store.query(p, k=k, by=by))
        return json.loads(self._store.query(os.fspath(image), k=k, by=by))

    def dupes(self, preset: str = "default") -> Dict[str, Any]:
        """Near-duplicate groups, as ``imgdex dupes --json --preset PRESET``
        reports them (``exact``, ``strict``, ``default`` or ``loose``)."""
        return json.loads(self._store.dupes(preset))

    def features(self, columns: Optional[Sequence[str]] = None) -> pa.Table:
        """Every stored image in the shard schema (zero-copy from the
        library's Arrow batches); ``columns`` selects some of them."""
        t = _table(self._store.features())
        return t if columns is None else t.select(list(columns))

    def ingest(
        self,
        tables_or_paths: Iterable[Union[pa.Table, PathLike]],
        map_prefix: Optional[Dict[str, str]] = None,
    ) -> Dict[str, Any]:
        """Add shards (tables from :func:`analyse`, or shard files) to the
        store, as ``imgdex ingest`` does: fingerprints checked first (a
        mismatch raises and leaves the store untouched), rows upserted by
        path (newer mtime wins), whitening and graph refreshed. Returns the
        summary ``imgdex ingest --json`` prints."""
        pairs: List[Tuple[str, str]] = list((map_prefix or {}).items())
        with tempfile.TemporaryDirectory(prefix="imgdex-ingest-") as d:
            files = []
            for i, item in enumerate(tables_or_paths):
                if isinstance(item, pa.Table):
                    p = os.path.join(d, f"shard-{i:05d}.parquet")
                    write_shard(item, p)
                    files.append(p)
                else:
                    files.append(os.fspath(item))
            return json.loads(self._store.ingest(files, pairs))

    def export_shard(self, out: PathLike) -> int:
        """Write every stored image as a shard file (``imgdex export shard``);
        returns the number of rows."""
        return self._store.export_shard(os.fspath(out))
