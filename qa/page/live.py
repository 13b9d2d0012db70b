"""The page follows the index: a document edited or a build published by ``qa index`` is picked up while serving.

:class:`LiveIndex` wraps the page's :class:`~qa.engine.Engine`. At most every
``check_every`` seconds, when a question comes in, it compares a cheap
signature (the published build pointer, and every corpus file's name,
size and modification time: no hashing) with the one it last saw. The pointer
is the store's (``Store.pointer``, qa/index/stores.py): the index folder's
``CURRENT`` for the local store, and for Milvus the store's ``current`` record
(one small query), so a page follows builds that builders on other machines
publish to a shared Milvus server; while that server does not answer, the
pointer counts as unchanged. On a change
it opens the index again in a background thread (``Engine(build="auto")``,
which loads a build another process published, or builds one when the
documents changed) and swaps it in atomically; questions meanwhile are
answered from the previous build.

Each answer records its build id; the last few engines are kept by build id so
a citation is always resolved against the build that produced the answer
(:meth:`LiveIndex.engine_for`), even after a newer build is live.

:class:`Gate` lets the page serve many readers at once: a few questions
answered together, a bounded number waiting, and a clear "busy" refusal past
that.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from pathlib import Path

from ..errors import QAError

log = logging.getLogger(__name__)

CHECK_EVERY_S = 3.0
KEEP_BUILDS = 4


def build_id(engine) -> str:
    """The id of the build ``engine`` answers from (its build folder's name)."""
    return Path(engine.index.path).name


def answer_build(answer, engine) -> str:
    """The build an answer came from: ``answer.build`` when the engine sets it, else the engine's."""
    return getattr(answer, "build", None) or build_id(engine)


class LiveIndex:
    """The current engine for the page, reloaded in the background when the index or corpus changes."""

    def __init__(self, engine, check_every: float = CHECK_EVERY_S, keep: int = KEEP_BUILDS, factory=None) -> None:
        self.engine = engine
        self.check_every = check_every
        self.keep = max(1, keep)
        self._factory = factory or self._open
        self._engines: OrderedDict[str, object] = OrderedDict({build_id(engine): engine})
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._seen = self.signature()
        self._next = time.monotonic() + check_every
        self.error: str | None = None
        self.reloads = 0

    # -- what is on disk ----------------------------------------------------------------------------

    def _current_pointer(self):
        """The store's pointer to its live build (qa/index/stores.py ``Store.pointer``); while the store cannot be
        asked (a Milvus server down), the one seen last, so nothing reloads until it answers again."""
        try:
            return self.engine.store.pointer()
        except QAError as e:
            log.debug("cannot read the published build pointer: %s", e)
            seen = getattr(self, "_seen", None)
            return seen[0] if seen else None

    def _corpus_files(self) -> tuple:
        root = Path(self.engine.corpus)
        rows = []
        for folder, dirs, files in os.walk(root, followlinks=False):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if name.startswith("."):
                    continue
                p = os.path.join(folder, name)
                try:
                    st = os.stat(p)
                except OSError:
                    continue
                rows.append((os.path.relpath(p, root), st.st_mtime_ns, st.st_size))
        return tuple(rows)

    def signature(self) -> tuple:
        """(published build pointer, corpus files' names, mtimes and sizes): cheap to take, no hashing."""
        return (self._current_pointer(), self._corpus_files())

    # -- serving ------------------------------------------------------------------------------------

    def current(self):
        """The engine to answer a new question with; starts a background reload when the disk changed."""
        now = time.monotonic()
        if now >= self._next and self._lock.acquire(blocking=False):
            try:
                self._next = now + self.check_every
                if self._thread is None or not self._thread.is_alive():
                    sig = self.signature()
                    if sig != self._seen:
                        self._thread = threading.Thread(target=self._reload, args=(sig,), name="qa-live-reload",
                                                        daemon=True)
                        self._thread.start()
            finally:
                self._lock.release()
        return self.engine

    def changing(self) -> bool:
        """The documents changed and the new index is being built or loaded (answers still come from the old)."""
        t = self._thread
        return t is not None and t.is_alive()

    def engine_for(self, build: str | None):
        """The engine of build ``build`` if it is still kept, else None."""
        if not build:
            return None
        return self._engines.get(build)

    @property
    def build(self) -> str:
        return build_id(self.engine)

    def indexed(self) -> str:
        """When the live build was made (its manifest's ``created``), as an ISO string."""
        return str((getattr(self.engine.index, "manifest", None) or {}).get("created") or "")

    def wait(self, timeout: float | None = None) -> None:
        """Wait for a running reload (tests)."""
        t = self._thread
        if t is not None:
            t.join(timeout)

    def check_now(self):
        """Check the disk at once (tests, or after ``qa index``) and return the current engine."""
        self._next = 0.0
        return self.current()

    # -- reloading ----------------------------------------------------------------------------------

    def _open(self):
        """A new engine like the current one (same corpus, index folder, model and settings), built if stale."""
        import inspect

        old = self.engine
        cls = type(old)
        params = inspect.signature(cls.__init__).parameters
        kwargs = {name: getattr(old, name) for name in ("corpus", "index_dir", "embedder", "settings", "storage", "workers")
                  if name in params and hasattr(old, name)}
        # the rebuild reports as the first build did: progress and warnings in the page's log
        kwargs.update({name: getattr(old, f"_{name}") for name in ("progress", "warn")
                       if name in params and getattr(old, f"_{name}", None) is not None})
        return cls(build="auto", **kwargs)

    def _reload(self, sig: tuple) -> None:
        t0 = time.perf_counter()
        try:
            new = self._factory()
        except Exception as e:  # the old build keeps answering; say why once
            self.error = str(e).splitlines()[0] if str(e) else e.__class__.__name__
            log.warning("could not load the changed index, still answering from build %s: %s", self.build, self.error)
            self._seen = sig
            return
        bid = build_id(new)
        with self._lock:
            if bid not in self._engines or bid != self.build:
                self._engines[bid] = new
                self._engines.move_to_end(bid)
                while len(self._engines) > self.keep:
                    self._engines.popitem(last=False)
                self.engine = self._engines[bid]
                self.reloads += 1
            self.error = None
            # the corpus as seen before the build (an edit during it is caught next time), the pointer after it
            self._seen = (self._current_pointer(), sig[1])
        log.warning("serving index build %s (%.1f s to load)", bid, time.perf_counter() - t0)


class BusyError(RuntimeError):
    """More questions are waiting than the page queues."""


class Gate:
    """At most ``limit`` questions answered at once, at most ``waiting`` more queued; past that, BusyError."""

    def __init__(self, limit: int, waiting: int, message: str = "Too many questions are waiting: try again in a moment."):
        self.limit, self.waiting, self.message = limit, waiting, message
        self._slots = threading.BoundedSemaphore(limit)
        self._lock = threading.Lock()
        self.inside = 0

    def run(self, fn, *args, **kwargs):
        with self._lock:
            if self.inside >= self.limit + self.waiting:
                raise BusyError(self.message)
            self.inside += 1
        try:
            with self._slots:
                return fn(*args, **kwargs)
        finally:
            with self._lock:
                self.inside -= 1
