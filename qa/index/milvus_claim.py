"""Who may publish over a live build in a shared Milvus: a compare-and-set on the ``current`` pointer.

Milvus has no transactions, and several builders (processes, machines) may publish to one
server. Every build already writes into rows no reader of the live build looks at (its own
document versions, its own terms collection, its own manifest record: milvus_store.py), so
only the switch of the pointer publishes. Before switching from the build it read live at
the start (``expected``), a publisher claims ``expected``: it creates a small collection of
its own, ``<prefix>_claim_<build>``, holding one row (its build, host:pid and the time), and
renames it to ``<prefix>_after_<expected>``. A rename onto a name that exists fails, on Milvus
Lite (an ``os.rename`` of a directory onto a non-empty one) as on a Milvus server, so of the
builders that started from one live build exactly one holds its claim; the others are told
(PublishConflictError) and withdraw their rows. The holder then checks the pointer is still
``expected`` (a builder that started before it moved loses even with the claim), prunes,
switches the pointer and drops the claim.

A claim whose holder died before switching would block every later publish: a claim is
broken when its holder is a process of this host that no longer runs, or when it was last
touched more than CLAIM_STALE_S ago (the holder touches it between its prune's steps).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass

from ..config import StoreSettings
from ..errors import PublishConflictError
from . import milvus_rows
from .milvus_client import pymilvus
from .milvus_rows import PLACEHOLDER

CLAIM_STALE_S = 60.0
"""Seconds after its last touch that a claim counts as abandoned. The holder touches it before each step of
its prune and before switching; a step is one delete or drop call (seconds even at 10,000 chunks), so a live
holder is never this late, and a dead one blocks publishes for at most a minute."""
ROW = "claim"


@dataclass(frozen=True)
class Claim:
    """A held claim: the collection ``name`` whose row names ``ref`` as the build publishing over ``expected``."""

    name: str
    ref: str
    expected: str | None


def slug(ref: str | None) -> str:
    """A pointer value as part of a collection name (letters, digits and _)."""
    return "".join(ch if ch.isalnum() else "_" for ch in ref) if ref else "none"


def claim_name(settings: StoreSettings, expected: str | None) -> str:
    return f"{settings.milvus_prefix}_after_{slug(expected)}"


class _Quiet(logging.Filter):
    """Drops pymilvus's error log of a call made inside ``quiet()`` by this thread."""

    local = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(self.local, "on", False)


_QUIET = _Quiet()
logging.getLogger("pymilvus.decorators").addFilter(_QUIET)


@contextlib.contextmanager
def quiet():
    """pymilvus logs every failed call as an error with a traceback; a refused claim is an expected answer."""
    _QUIET.local.on = True
    try:
        yield
    finally:
        _QUIET.local.on = False


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _row(ref: str) -> dict:
    return {"name": ROW, "build": ref, "holder": _holder(), "at": repr(time.time()), "_": PLACEHOLDER}


def _create(c, name: str, ref: str) -> None:
    pm = pymilvus()
    D = pm.DataType
    fields = [("name", D.VARCHAR, {"is_primary": True, "max_length": 16}), ("build", D.VARCHAR, {"max_length": 160}),
              ("holder", D.VARCHAR, {"max_length": 300}), ("at", D.VARCHAR, {"max_length": 32}),
              ("_", D.FLOAT_VECTOR, {"dim": len(PLACEHOLDER)})]
    milvus_rows.drop(c, name)  # this build's attempt that died before renaming it
    milvus_rows.create(c, name, milvus_rows.schema(pm, fields), [("_", "FLAT", "L2", {})])
    c.insert(name, [_row(ref)])
    c.flush(name)  # the row moves with the collection's folder


def read(c, name: str) -> dict | None:
    """The row of claim collection ``name``, or None (no such claim, or it was dropped meanwhile)."""
    try:
        got = c.query(milvus_rows.loaded(c, name), ids=[ROW], output_fields=["build", "holder", "at"])
    except Exception:
        if c.has_collection(name):
            raise
        return None
    return got[0] if got else None


def abandoned(row: dict | None, now: float | None = None) -> bool:
    """Whether a claim's holder is gone: a process of this host that no longer runs, or silent too long."""
    if row is None:
        return False
    host, _, pid = str(row.get("holder", "")).rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except OSError:
            pass  # it runs, as another user
    try:
        return (now or time.time()) - float(row.get("at", "0")) > CLAIM_STALE_S
    except ValueError:
        return True


def take(c, settings: StoreSettings, expected: str | None, ref: str) -> Claim:
    """Claim the right to publish ``ref`` over the live build ``expected``, or PublishConflictError naming who has it."""
    own, target = f"{settings.milvus_prefix}_claim_{slug(ref)}", claim_name(settings, expected)
    for attempt in range(2):
        _create(c, own, ref)
        try:
            with quiet():
                c.rename_collection(own, target)
            return Claim(target, ref, expected)
        except Exception:
            if not c.has_collection(target):
                raise  # refused for another reason than a claim (the server went away, ...)
            milvus_rows.drop(c, own)
            held = read(c, target)
            if attempt == 0 and abandoned(held):
                logging.getLogger(__name__).warning("breaking the abandoned claim of build %s (%s)",
                                                    held["build"], held["holder"])
                milvus_rows.drop(c, target)
                continue
            other = (held or {}).get("build", "another build").rpartition(":")[2]
            raise PublishConflictError(
                f"Another build ({other}) is being published to Milvus at {settings.milvus_uri}, over the same live build "
                f"as this one ({ref.rpartition(':')[2]}), which was withdrawn; run `python -m qa index --store milvus "
                f"--milvus-uri {settings.milvus_uri}` again once it is live to publish over it."
            ) from None
    raise AssertionError("unreachable")


def touch(c, claim: Claim, uri: str) -> None:
    """Say the holder is still at work (see CLAIM_STALE_S); PublishConflictError if its claim was broken meanwhile."""
    held = read(c, claim.name)
    if (held or {}).get("build") != claim.ref:
        raise PublishConflictError(
            f"This build ({claim.ref.rpartition(':')[2]}) stalled for over {CLAIM_STALE_S:.0f} s while publishing to Milvus at "
            f"{uri} and another publisher took over; run `python -m qa index --store milvus --milvus-uri {uri}` again."
        )
    c.upsert(claim.name, [_row(claim.ref)])


def release(c, claim: Claim) -> None:
    """Drop a held claim: after the switch, or when the publish stops before it."""
    if c.has_collection(claim.name) and (read(c, claim.name) or {}).get("build") == claim.ref:
        milvus_rows.drop(c, claim.name)
