"""The connection to Milvus: one client per URI for the process, and what is said when Milvus cannot be reached.

Milvus Lite runs one embedded server per database file, and a file can be open in one process at a time, so
every part of the Milvus store (qa/index/milvus_store.py, milvus_rows.py, milvus_claim.py) asks ``client(uri)``
for the process's one client. A server that stops answering (``guard``) is a MilvusUnavailableError for the
call under way, saying how to start it, and its client is forgotten, so the next call connects again.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from pathlib import Path
from urllib.parse import urlparse

from ..errors import QAError

INSTALL_HINT = "Install the Milvus extra: `pip install -e '.[milvus]'` (or `make install`)."

_CLIENTS: dict[str, object] = {}
_CLIENTS_LOCK = threading.RLock()


class MilvusUnavailableError(QAError):
    """pymilvus or milvus-lite is not installed, or the Milvus at the URI cannot be reached."""


def pymilvus():
    """The pymilvus module, imported on first use (the local store never imports it), or what to install."""
    try:
        import pymilvus
    except ImportError as e:
        raise MilvusUnavailableError(f"The milvus store needs pymilvus ({e.name or e} is missing). {INSTALL_HINT}") from None
    return pymilvus


def client(uri: str):
    """One client per URI for the process (Milvus Lite runs one embedded server per database file); made under a
    lock, so two threads never open the same database file twice."""
    c = _CLIENTS.get(uri)
    if c is not None:
        return c
    with _CLIENTS_LOCK:
        c = _CLIENTS.get(uri)
        if c is None:
            c = _CLIENTS[uri] = _open(uri)
        return c


def _open(uri: str):
    pm = pymilvus()
    # Every query_iterator asks Milvus Lite for a timestamp it does not implement: the client logs a warning and
    # the embedded server an error with a traceback, then both go on with a client-side timestamp. Real failures
    # still reach us as exceptions.
    logging.getLogger("pymilvus.client.iterator.query_iterator").setLevel(logging.ERROR)
    local = is_file(uri)
    if local:
        logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
        try:
            import milvus_lite  # noqa: F401
        except ImportError:
            raise MilvusUnavailableError(
                f"--milvus-uri {uri} is a file, which means embedded Milvus Lite, and milvus-lite is not installed. "
                f"{INSTALL_HINT} Or give http://host:19530 for a Milvus server."
            ) from None
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
    try:
        c = pm.MilvusClient(uri=str(Path(uri).resolve()) if local else uri)
    except Exception as e:
        if not local and is_down(e):
            raise MilvusUnavailableError(f"Nothing answers at {uri}: start the Milvus server ({start_hint(uri)}), "
                                         "or check --milvus-uri.") from None
        raise MilvusUnavailableError(
            f"Cannot open Milvus at {uri} ({e.__class__.__name__}: {str(e)[:200]}). Check the URI; a Milvus Lite "
            "file can be open in one process at a time."
        ) from None
    return c


def is_file(uri: str) -> bool:
    """Whether ``uri`` names a Milvus Lite database file (embedded, in this process) rather than a server."""
    return "://" not in uri


def close(uri: str) -> None:
    """Close the process's client for ``uri`` (a Milvus Lite file's embedded server stops)."""
    with _CLIENTS_LOCK:
        c = _CLIENTS.pop(uri, None)
    if c is not None:
        c.close()


def forget(uri: str) -> None:
    """Drop the process's client for ``uri`` without closing it (its server is gone): the next call connects anew,
    with no backoff of the old channel to wait out."""
    with _CLIENTS_LOCK:
        _CLIENTS.pop(uri, None)


def is_down(e: BaseException) -> bool:
    """Whether ``e`` says the Milvus server cannot be reached (refused, reset, unavailable), not that it refused a call."""
    code = getattr(e, "code", None)
    code = code() if callable(code) else code
    text = f"{getattr(code, 'name', code)} {e}".lower()
    return code == 2 or any(w in text for w in ("unavailable", "fail connecting", "connection refused", "socket closed",
                                                "connection reset", "failed to connect"))


def server_down(uri: str, e: BaseException) -> bool:
    """Whether ``e`` says the Milvus server at ``uri`` went away (never so for a Milvus Lite file, which has none)."""
    return not is_file(uri) and is_down(e)


def start_hint(uri: str) -> str:
    """How to start a Milvus Lite server for ``uri`` (README "Storing the index in Milvus")."""
    port = urlparse(uri).port or 19530
    return f"Milvus Lite: `python -m milvus_lite server --data-dir DIR --host 127.0.0.1 --port {port}`"


@contextlib.contextmanager
def guard(uri: str):
    """Turn a server that stopped answering into one line saying so; the next call opens a new connection."""
    try:
        yield
    except MilvusUnavailableError:
        raise
    except Exception as e:
        if not server_down(uri, e):
            raise
        forget(uri)
        raise MilvusUnavailableError(f"The Milvus server at {uri} stopped answering ({str(e)[:120]}); ask again once it "
                                     f"is back ({start_hint(uri)} restarts it).") from None


def released(e: BaseException) -> bool:
    """Whether ``e`` says a collection is released: what a restarted server holds every collection as."""
    return "released" in str(e) or "load()" in str(e)
