"""Type stubs of the native module (see imgdex/__init__.py for the API)."""

from typing import Any, List, Optional, Sequence, Tuple

SHARD_VERSION: int

class ImgdexError(Exception):
    """An error reported by the imgdex library; its message names the file,
    record or setting."""

class ArrowBatches:
    """Record batches offered once through the Arrow C stream interface."""
    def __arrow_c_stream__(self, requested_schema: Optional[Any] = None) -> Any: ...

def analyse(
    paths: Sequence[str],
    embed: bool = True,
    threads: Optional[int] = None,
    roots: Optional[Sequence[str]] = None,
    model: Optional[str] = None,
) -> Tuple[ArrowBatches, List[Tuple[str, str]]]: ...

def _model_loads() -> int:
    """How many times this process has loaded a CNN model (for tests)."""

class Store:
    def __init__(self, path: str) -> None: ...
    @property
    def path(self) -> str: ...
    def info(self) -> str: ...
    def query(self, image: str, k: int = 10, by: str = "auto") -> str: ...
    def dupes(self, preset: str = "default") -> str: ...
    def features(self) -> ArrowBatches: ...
    def ingest(self, shards: Sequence[str], map_prefix: Sequence[Tuple[str, str]] = ...) -> str: ...
    def export_shard(self, out: str) -> int: ...
