"""The index folder and its builds: layout, lock, atomic publish behind ``CURRENT``, clean-up, and the manifest checks.

Layout under the index folder::

    CURRENT            name of the live build (replaced atomically)
    builds/<id>/       manifest.json and the build's files (qa/index/store.py lists them)
    cache/             embeddings by content hash (see embed_cache.EmbeddingCache)
    .lock              held while building

A build is written into ``builds/<id>.tmp-<pid>`` and renamed into place, then
``CURRENT`` is replaced with ``os.replace``: a crash at any point leaves the
previous build live and loadable. The manifest lists every file's size and hash
(``file_table``, written by ``publish``); ``verify_files`` checks them on loading,
so a truncated or foreign file is never used.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from ..errors import DiskFullError, IndexBusyError, IndexCorruptError, IndexMissingError

FORMAT_VERSION = 2
"""2: documents carry back_matter spans, and structure found by this version (reference sections, captions)."""
KEEP_BUILDS = 2  # the live build and the one before, so a reader that just opened the old one is not cut off
LOCK_TIMEOUT_S = 1800


def sha256_file(path: str | Path) -> str:
    """The sha256 of a file's bytes, read in 1 MB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def file_table(folder: Path) -> dict[str, dict]:
    """{relative path: {bytes, sha256}} of every file below ``folder`` except the manifest."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != "manifest.json":
            out[path.relative_to(folder).as_posix()] = {"bytes": path.stat().st_size, "sha256": sha256_file(path)}
    return out


@contextmanager
def build_lock(index_dir: Path, timeout: float = LOCK_TIMEOUT_S):
    """Hold the index folder's build lock; a second builder waits, then sees the first's result."""
    from filelock import FileLock, Timeout

    index_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(index_dir / ".lock"))
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise IndexBusyError(
            f"Another process has been building the index in {index_dir} for over {timeout:.0f} s. "
            "Wait for it, or stop it and run `python -m qa index` again."
        ) from None
    try:
        yield
    finally:
        lock.release()


INDEX_MARKS = ("CURRENT", ".lock", "builds")
"""What only an index folder holds: a folder with none of them is not one, and no build writes into it
unless it is new or empty (qa/engine.py)."""


def is_index_dir(path: Path) -> bool:
    """Whether ``path`` is a folder an index was (or is being) built in, or holds an index's embedding cache
    (``cache/<16 hex digits>.npz``, embed_cache.EmbeddingCache) ready for its first build."""
    if any((path / name).exists() for name in INDEX_MARKS):
        return True
    try:
        return any(re.fullmatch(r"[0-9a-f]{16}\.npz", p.name) for p in (path / "cache").iterdir())
    except OSError:
        return False


def new_build_dir(index_dir: Path) -> tuple[Path, str]:
    build_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:8]
    tmp = index_dir / "builds" / f"{build_id}.tmp-{os.getpid()}"
    tmp.mkdir(parents=True)
    return tmp, build_id


def write_json(path: Path, obj) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=1)
        f.flush()
        os.fsync(f.fileno())


def publish(index_dir: Path, tmp: Path, build_id: str, manifest: dict) -> Path:
    """Seal ``tmp`` with its manifest, rename it into place and point CURRENT at it."""
    manifest = dict(manifest, build=build_id, files=file_table(tmp))
    write_json(tmp / "manifest.json", manifest)
    final = tmp.parent / build_id
    os.rename(tmp, final)
    _fsync_dir(final.parent)
    pointer = index_dir / f".CURRENT.{os.getpid()}.tmp"
    with open(pointer, "w") as f:
        f.write(build_id + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(pointer, index_dir / "CURRENT")
    _fsync_dir(index_dir)
    prune(index_dir, keep=build_id)
    return final


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` is running (one of another user's counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OSError, OverflowError):
        return False
    return True


def abandoned_builds(index_dir: Path) -> list[Path]:
    """Unfinished build folders (``<id>.tmp-<pid>``) whose process has ended, or is this one (which, holding the
    lock, is not writing one yet): left by a build that was killed or failed. Another live process's is not listed."""
    builds = index_dir / "builds"
    if not builds.is_dir():
        return []
    out = []
    for p in builds.iterdir():
        pid = p.name.rpartition(".tmp-")[2]
        if ".tmp-" in p.name and (not pid.isdigit() or int(pid) == os.getpid() or not _alive(int(pid))):
            out.append(p)
    return out


def remove_abandoned(index_dir: Path) -> None:
    """Remove abandoned_builds (call under the lock, before a build: a killed build's folder can be gigabytes)."""
    for p in abandoned_builds(index_dir):
        shutil.rmtree(p, ignore_errors=True)


def prune(index_dir: Path, keep: str) -> None:
    """Remove abandoned builds, stray temporary files and all but the newest KEEP_BUILDS finished builds (call under the lock)."""
    builds = index_dir / "builds"
    if not builds.is_dir():
        return
    finished = sorted(p for p in builds.iterdir() if p.is_dir() and ".tmp-" not in p.name)
    old = [p for p in finished if p.name != keep][: max(0, len(finished) - KEEP_BUILDS)]
    for p in abandoned_builds(index_dir) + old:
        shutil.rmtree(p, ignore_errors=True)
    for p in list(index_dir.glob(".CURRENT.*.tmp")) + list(index_dir.glob("cache/.*.tmp.npz")):
        p.unlink(missing_ok=True)  # left by a process killed while writing them


SHORT_WRITE = re.compile(r"\d+ requested and \d+ written|No space left on device|Disk quota exceeded", re.I)
"""How a full disk shows when it is not an ENOSPC OSError: numpy's short write ("267264 requested and 88000
written") and faiss's write error, which quotes strerror."""


def is_disk_full(e: BaseException) -> bool:
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return isinstance(e, (OSError, RuntimeError)) and bool(SHORT_WRITE.search(str(e)))


@contextmanager
def disk_full_said(index_dir: Path):
    """Turn a full disk, however the writer reports it, into DiskFullError saying so and what to do."""
    try:
        yield
    except (OSError, RuntimeError) as e:
        if not is_disk_full(e):
            raise
        try:
            free = f"{shutil.disk_usage(index_dir).free / 2**20:.0f} MB free"
        except OSError:
            free = "free space unknown"
        raise DiskFullError(
            f"The disk holding {index_dir} is full ({free}): free space and run `python -m qa index` again. "
            "The index in use is unchanged."
        ) from e


def current_build(index_dir: Path) -> Path:
    pointer = index_dir / "CURRENT"
    if not pointer.exists():
        raise IndexMissingError(f"No index in {index_dir}: run `python -m qa index` to build one.")
    name = pointer.read_text().strip()
    path = index_dir / "builds" / name
    if not name or "/" in name or not path.is_dir():
        raise IndexCorruptError(
            f"{pointer} names build {name!r}, which is missing. Run `python -m qa index --force` to rebuild."
        )
    return path


def read_manifest(build: Path) -> dict:
    try:
        manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise IndexCorruptError(f"Index manifest in {build} is unreadable ({e}). Run `python -m qa index --force`.") from None
    if manifest.get("format") != FORMAT_VERSION:
        raise IndexCorruptError(
            f"Index in {build} has format {manifest.get('format')}, this version reads {FORMAT_VERSION}. "
            "Run `python -m qa index --force`."
        )
    return manifest


def verify_files(build: Path, manifest: dict) -> None:
    """Every file the manifest lists is present with the same size and hash, and nothing else is."""
    listed = manifest.get("files") or {}
    found = file_table(build)
    problems = []
    for name, meta in listed.items():
        got = found.get(name)
        if got is None:
            problems.append(f"{name} is missing")
        elif got != meta:
            problems.append(f"{name} differs from the build that wrote the manifest ({got['bytes']} bytes, expected {meta['bytes']})")
    problems += [f"{name} was not written by this build" for name in found if name not in listed]
    if problems:
        raise IndexCorruptError(
            f"Index in {build} does not match its manifest: {'; '.join(problems[:3])}. "
            "Run `python -m qa index --force` to rebuild it."
        )
