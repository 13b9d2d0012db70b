"""Shared fixtures: no network, the real model loaded once, the seed index built once per session."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
ARTIFACTS = ROOT / "artifacts"

_real_connect = socket.socket.connect


def _own_addresses() -> set[str]:
    """This machine's own non-loopback address, where a local Ray cluster listens: the one its default route
    leaves from (connecting a UDP socket sends nothing)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))
            return {s.getsockname()[0]}
    except OSError:
        return set()


OWN = _own_addresses()


def _loopback_only(self, address):
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and not (host.startswith("127.") or host in ("localhost", "::1") or host.startswith("/") or host in OWN):
        raise RuntimeError(f"test tried to reach {address}: tests must not use the network")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Block every connection that is not to this machine (haystack's request_blocker idea)."""
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)
    yield


MODEL_FIXTURES = {"embedder", "seed_index_dir", "engine", "served"}
"""Fixtures that load the real model: a test using any of them is marked ``model`` automatically."""


def pytest_collection_modifyitems(items):
    for item in items:
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.model)


@pytest.fixture(autouse=True)
def model_only_when_marked(request, monkeypatch):
    """A test not marked ``model`` (or ``browser``) that loads the model fails, so `-m "not model"` stays fast."""
    if request.node.get_closest_marker("model") or request.node.get_closest_marker("browser"):
        yield
        return
    from qa.models import onnx_models
    from qa.models.embed import Embedder

    def refuse(*args, **kwargs):
        raise AssertionError("this test loads a model: mark it @pytest.mark.model")

    monkeypatch.setattr(Embedder, "_load_path", refuse)
    monkeypatch.setattr(Embedder, "_load_query_path", refuse)
    monkeypatch.setattr(onnx_models, "session", refuse)
    yield


@pytest.fixture(autouse=True)
def isolated_paths(tmp_path, monkeypatch):
    """No test writes to the project's own index/ unless it asks for it."""
    monkeypatch.setenv("QA_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.delenv("QA_CORPUS", raising=False)
    monkeypatch.delenv("QA_MODEL", raising=False)
    yield


@pytest.fixture(scope="session")
def embedder():
    """The real default model, loaded once for the whole session."""
    from qa.models.embed import Embedder

    e = Embedder()
    e.model  # load now, so the first test does not pay for it silently
    return e


@pytest.fixture(scope="session")
def seed_index_dir(tmp_path_factory, embedder):
    """The seed corpus indexed once, with the default settings, in a session folder."""
    from qa import Engine

    path = tmp_path_factory.mktemp("seed-index")
    Engine(corpus=SEEDS, index_dir=path, embedder=embedder)
    return path


@pytest.fixture(scope="session")
def engine(seed_index_dir, embedder):
    from qa import Engine

    return Engine(corpus=SEEDS, index_dir=seed_index_dir, embedder=embedder, build="never")


@pytest.fixture(scope="session")
def token_codec():
    """A ColBERT codec (rpq48) trained once for the session on ``fake_tokens`` of ``fake_token_texts()`` (6,000
    vectors): training takes seconds, and any test that needs a codec can share one."""
    import numpy as np

    from qa.models import late_codec
    from tests.fakes import fake_token_texts, fake_tokens

    return late_codec.train(np.concatenate([fake_tokens(t) for t in fake_token_texts()]), "rpq48")


@pytest.fixture
def tiny_corpus(tmp_path):
    """A four-document corpus, small enough to reason about by hand."""
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "cats.txt").write_text(
        "Cats\n\nCats are small domesticated carnivores. They sleep for most of the day.\n\n"
        "Feeding\n\nAdult cats should be fed twice a day with meat-based food.\n",
        encoding="utf-8",
    )
    (folder / "rivers.md").write_text(
        "# Rivers\n\nThe Thames flows through London and reaches the North Sea.\n\n"
        "## Floods\n\nThe Thames Barrier protects London from tidal surges since 1982.\n",
        encoding="utf-8",
    )
    (folder / "budget.txt").write_text(
        "Budget 2020\n\nThe council allocated 4.5 million pounds to road repairs in 2020.\n", encoding="utf-8"
    )
    (folder / "page.html").write_text(
        "<html><head><title>Garden guide</title></head><body><h1>Roses</h1>"
        "<p>Prune roses in late winter, just before new growth begins.</p></body></html>",
        encoding="utf-8",
    )
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(engine, feedback_path):
    """Build the page over ``engine`` and serve it on a free loopback port: (demo, port)."""
    from qa.page import app

    demo = app.build_demo(engine, feedback_path)
    port = free_port()
    app.launch(demo, "127.0.0.1", port, block=False)
    return demo, port


@pytest.fixture(scope="session")
def served(engine, tmp_path_factory):
    """The seed page served once for the session: (demo, port). Its feedback goes to a session folder."""
    demo, port = serve(engine, tmp_path_factory.mktemp("feedback") / "feedback.jsonl")
    yield demo, port
    demo.close()


def copy_corpus(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst
