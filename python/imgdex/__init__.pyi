"""Type stubs of the imgdex package."""

import os
from typing import Any, Dict, Iterable, List, Optional, Sequence, Union

import pyarrow as pa

from ._imgdex import ImgdexError as ImgdexError

SHARD_VERSION: int
PathLike = Union[str, os.PathLike[str]]

def analyse(
    paths: Union[PathLike, Sequence[PathLike]],
    embed: bool = True,
    threads: Optional[int] = None,
    *,
    roots: Optional[Sequence[PathLike]] = None,
    model: Optional[PathLike] = None,
) -> pa.Table: ...
def write_shard(table: pa.Table, path: PathLike) -> None: ...

class Store:
    def __init__(self, path: PathLike) -> None: ...
    @property
    def path(self) -> str: ...
    def info(self) -> Dict[str, Any]: ...
    def query(self, image: Union[PathLike, bytes], k: int = 10, by: str = "auto") -> List[Dict[str, Any]]: ...
    def dupes(self, preset: str = "default") -> Dict[str, Any]: ...
    def features(self, columns: Optional[Sequence[str]] = None) -> pa.Table: ...
    def ingest(
        self,
        tables_or_paths: Iterable[Union[pa.Table, PathLike]],
        map_prefix: Optional[Dict[str, str]] = None,
    ) -> Dict[str, Any]: ...
    def export_shard(self, out: PathLike) -> int: ...
