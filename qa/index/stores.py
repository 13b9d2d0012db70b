"""Where the live build is kept: one ``Store`` per kind, and ``open_store``, the one place that names the kinds.

Every build is made in the index folder first (qa/build/builder.py writes it there, with its caches); a store
is where the build that answers is kept and searched. The Engine asks a store five things: what to call it in
a message (``where``), its live build (``load``), that build's manifest alone, cheaply, to tell whether it is
stale (``live_manifest``), to make a fresh local build its live one (``publish_from``), and where the local
build folder of a loaded build lies (``build_folder``: Milvus keeps no character boxes). The page's
LiveIndex polls ``pointer`` to notice a build another process published.

``LocalStore`` keeps the builds themselves (qa/index/store.py, qa/index/build_dirs.py): publishing one is already
done when it is built. ``MilvusStore`` writes the local build to Milvus collections (qa/index/milvus_store.py),
imported only when a Milvus store is opened, so the local path never imports pymilvus.
tests/index/test_store_contract.py holds both to one contract.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Protocol

from ..config import StoreSettings
from ..errors import IndexCorruptError, IndexMissingError
from . import build_dirs, store
from .store import LoadedIndex


class Store(Protocol):
    where: str
    """The store in a message: "No index in {where} yet"."""

    def load(self) -> LoadedIndex:
        """The live build, checked. Raises IndexMissingError or IndexCorruptError."""

    def live_manifest(self) -> dict | None:
        """The live build's manifest without loading the build (None: no readable live build)."""

    def publish_from(self, local: LoadedIndex, progress: Callable | None = None, rewrite: bool = False) -> LoadedIndex:
        """Make ``local``, a loaded build of the index folder, the store's live build; return that build loaded.
        ``rewrite`` (``qa index --force``): write everything again, even what the store says it holds already, so
        that a damaged copy is replaced."""

    def pointer(self) -> Hashable:
        """A cheap token that changes when another build goes live (QAError when the store cannot be asked)."""

    def owns(self, path: Path) -> bool:
        """Whether ``path``, found in the index folder, is the store's own file rather than a sign of a foreign folder."""

    def build_folder(self, index: LoadedIndex) -> Path:
        """The index folder's build that ``index`` was loaded or published from (its character boxes are there)."""


class LocalStore:
    """The builds in the index folder: ``CURRENT`` names the live one."""

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = Path(index_dir)
        self.where = str(self.index_dir)

    def load(self) -> LoadedIndex:
        return store.load(self.index_dir)

    def live_manifest(self) -> dict | None:
        try:
            return build_dirs.read_manifest(build_dirs.current_build(self.index_dir))
        except (IndexMissingError, IndexCorruptError):
            return None

    def publish_from(self, local: LoadedIndex, progress: Callable | None = None, rewrite: bool = False) -> LoadedIndex:
        return local  # the builder published it: it is live already (a forced build wrote every file anew)

    def pointer(self) -> tuple:
        """``CURRENT``'s text, modification time and size (no reading of the build)."""
        path = self.index_dir / "CURRENT"
        try:
            st = path.stat()
            return (path.read_text(encoding="utf-8", errors="replace").strip(), st.st_mtime_ns, st.st_size)
        except OSError:
            return ("", 0, 0)

    def owns(self, path: Path) -> bool:
        return False

    def build_folder(self, index: LoadedIndex) -> Path:
        return Path(index.path)


class MilvusStore:
    """The builds written to Milvus from the index folder: its ``current`` record names the live one."""

    def __init__(self, settings: StoreSettings, index_dir: Path) -> None:
        self.settings, self.index_dir = settings, Path(index_dir)
        self.where = f"Milvus at {settings.milvus_uri}"

    def load(self) -> LoadedIndex:
        from . import milvus_store

        return milvus_store.load(self.settings)

    def live_manifest(self) -> dict | None:
        from . import milvus_store

        return milvus_store.live_manifest(self.settings)  # loading all of it only to learn it is stale costs seconds

    def publish_from(self, local: LoadedIndex, progress: Callable | None = None, rewrite: bool = False) -> LoadedIndex:
        from . import milvus_store

        if progress:
            progress("writing to Milvus", 0, 1)
        milvus_store.publish(self.settings, local, rewrite=rewrite)
        return milvus_store.load(self.settings)

    def pointer(self) -> str | None:
        """The ``current`` record (one small query), so a page follows builds published from other machines."""
        from . import milvus_store

        return milvus_store.pointer(self.settings)

    def owns(self, path: Path) -> bool:
        return Path(path).resolve() == Path(self.settings.milvus_uri).resolve()  # a Milvus Lite file kept there

    def build_folder(self, index: LoadedIndex) -> Path:
        return self.index_dir / "builds" / str((index.manifest or {}).get("build") or "none")


def open_store(settings: StoreSettings, index_dir: Path) -> Store:
    """The store ``settings`` name, over the builds of ``index_dir``: the one place that knows the kinds
    (their names are config.STORES, which StoreSettings checks)."""
    if settings.kind == "milvus":
        return MilvusStore(settings, index_dir)
    return LocalStore(index_dir)
