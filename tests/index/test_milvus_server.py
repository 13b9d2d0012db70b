"""One Milvus, many processes: builders and pages on other index folders sharing a Milvus Lite server.

The server is Milvus Lite's own (`python -m milvus_lite server`), started on a free loopback port with a data
folder under tmp_path; builders that must be other processes are `python -c` with the bag-of-words embedder
(no model). Everything that waits, waits for a state with a deadline, never for a fixed time.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from qa import Engine
from qa.config import StoreSettings
from qa.errors import PublishConflictError
from qa.index import milvus_claim, milvus_client, milvus_store
from qa.index.milvus_client import MilvusUnavailableError
from qa.measure.milvus_server import MilvusLiteServer
from qa.page.live import LiveIndex
from tests.conftest import ROOT, free_port
from tests.fakes import FakeEmbedder, model_free_settings

pytestmark = pytest.mark.slow  # a Milvus Lite server and builders in processes of their own

DEADLINE_S = 60.0
"""Generous: a busy CI machine may be twice as slow; every wait ends as soon as its state is reached."""

PUBLISH = """
import sys
from qa import Engine
from qa.config import StoreSettings
from qa.errors import QAError
from tests.fakes import FakeEmbedder, model_free_settings
corpus, index_dir, uri, build = sys.argv[1:5]
try:
    e = Engine(corpus=corpus, index_dir=index_dir, embedder=FakeEmbedder(), settings=model_free_settings(),
               storage=StoreSettings(kind="milvus", milvus_uri=uri), build=build, preload=False)
except QAError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
print(e.index.manifest["build"])
"""


def wait_for(what: str, check, deadline: float = DEADLINE_S):
    """Poll ``check()`` until it returns something true; fail saying ``what`` did not happen in time."""
    end = time.monotonic() + deadline
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > end:
            pytest.fail(f"{what} did not happen within {deadline:.0f} s")
        time.sleep(0.1)


class Server(MilvusLiteServer):
    """The bench's Milvus Lite server (qa/measure/milvus_server.py), killed and restarted on one port and data folder;
    a server that does not come up fails the test."""

    def __init__(self, data: Path) -> None:
        super().__init__(data)
        self.settings = StoreSettings(kind="milvus", milvus_uri=self.uri)

    def start(self) -> None:
        try:
            super().start()
        except RuntimeError as e:
            pytest.fail(str(e))


@pytest.fixture
def server(tmp_path):
    s = Server(tmp_path / "milvus-data")
    s.start()
    yield s
    s.kill()
    milvus_client.forget(s.uri)


def publish_elsewhere(corpus: Path, index_dir: Path, uri: str, build: str = "auto") -> subprocess.CompletedProcess:
    """A builder in a process of its own, on an index folder of its own (another machine, in effect)."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", PUBLISH, str(corpus), str(index_dir), uri, build], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def engine_on(corpus, index_dir, server: Server, build: str = "auto") -> Engine:
    return Engine(corpus=corpus, index_dir=index_dir, embedder=FakeEmbedder(), settings=model_free_settings(),
                  storage=server.settings, build=build, preload=False)


def test_a_page_follows_what_a_builder_in_another_process_publishes(tiny_corpus, tmp_path, server):
    first = publish_elsewhere(tiny_corpus, tmp_path / "builder", server.uri)
    assert first.returncode == 0, first.stderr
    page = engine_on(tiny_corpus, tmp_path / "page", server, build="never")  # answers from Milvus, builds nothing
    assert page.index.manifest["build"] == first.stdout.strip()
    assert not (tmp_path / "page" / "CURRENT").exists()
    live = LiveIndex(page, check_every=0.2)
    before = live.current().ask("When should roses be pruned?", k=2)

    second = publish_elsewhere(tiny_corpus, tmp_path / "builder", server.uri, build="force")
    assert second.returncode == 0, second.stderr
    new = second.stdout.strip()
    assert new != first.stdout.strip()
    wait_for("the page switching to the new build", lambda: live.current().index.manifest["build"] == new)
    after = live.current().ask("When should roses be pruned?", k=2)
    assert after.build == new and [p.citation for p in after.passages] == [p.citation for p in before.passages]
    assert live.engine_for(first.stdout.strip()) is not None  # an answer of the build before still resolves its sources


def test_two_builders_publishing_at_once_leave_one_build_live_and_tell_the_other(tiny_corpus, tmp_path, server, monkeypatch):
    first = engine_on(tiny_corpus, tmp_path / "first", server).index.manifest
    both_written = threading.Barrier(2, timeout=DEADLINE_S)
    real_take = milvus_claim.take

    def take_together(*args, **kwargs):  # both have written their rows from the same live build before either claims
        both_written.wait()
        return real_take(*args, **kwargs)

    monkeypatch.setattr(milvus_claim, "take", take_together)
    results: dict[str, object] = {}

    def build(name):
        try:
            results[name] = engine_on(tiny_corpus, tmp_path / name, server, build="force")
        except Exception as e:  # noqa: BLE001 - the test reads it
            results[name] = e

    threads = [threading.Thread(target=build, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE_S * 2)
    won = [r for r in results.values() if isinstance(r, Engine)]
    lost = [r for r in results.values() if not isinstance(r, Engine)]
    assert len(won) == 1 and len(lost) == 1, results
    assert isinstance(lost[0], PublishConflictError), lost[0]
    message = str(lost[0])
    assert "\n" not in message and "python -m qa index --store milvus" in message and server.uri in message
    winner = won[0].index.manifest
    c = milvus_client.client(server.uri)
    assert milvus_store.current(c, server.settings) == f"{winner['store']['set']}:{winner['build']}"
    names = c.list_collections()
    assert not [n for n in names if "_after_" in n or "_claim_" in n]  # no claim left behind
    assert {n for n in names if n.endswith("_terms")} == {winner["store"]["terms"], first["store"]["terms"]}  # the loser's dropped
    loser_dir = ({tmp_path / "a", tmp_path / "b"} - {Path(won[0].index_dir)}).pop()
    lost_build = Path((loser_dir / "CURRENT").read_text().strip()).name  # its local build went through
    assert lost_build not in (winner["build"], first["build"])
    assert milvus_store.manifest_of(c, server.settings, f"{winner['store']['set']}:{lost_build}") is None
    reader = engine_on(tiny_corpus, tmp_path / "reader", server, build="never")
    assert reader.index.manifest["build"] == winner["build"] and reader.index.manifest["store"]["previous"].endswith(first["build"])
    for q in ("When should roses be pruned?", "How often should adult cats be fed?"):
        assert [p.citation for p in reader.ask(q, k=2).passages] == [p.citation for p in won[0].ask(q, k=2).passages]


def test_a_claim_whose_holder_died_is_broken_and_a_live_one_is_not(tiny_corpus, tmp_path, server, monkeypatch):
    live = engine_on(tiny_corpus, tmp_path / "first", server).index.manifest
    c = milvus_client.client(server.uri)
    expected = f"{live['store']['set']}:{live['build']}"
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    monkeypatch.setattr(milvus_claim, "_holder", lambda: f"{socket.gethostname()}:{gone}")
    milvus_claim.take(c, server.settings, expected, "s0:died-before-switching")  # its holder is no longer running
    monkeypatch.undo()
    second = engine_on(tiny_corpus, tmp_path / "second", server, build="force").index.manifest  # breaks it
    assert milvus_store.current(c, server.settings).endswith(second["build"])
    milvus_claim.take(c, server.settings, milvus_store.current(c, server.settings), "s0:still-publishing")  # this process
    with pytest.raises(PublishConflictError, match="still-publishing"):
        engine_on(tiny_corpus, tmp_path / "third", server, build="force")
    assert milvus_store.current(c, server.settings).endswith(second["build"])


def test_a_server_restarted_mid_question_fails_that_question_then_answers_again(tiny_corpus, tmp_path, server, monkeypatch):
    engine = engine_on(tiny_corpus, tmp_path / "mv", server)
    live = LiveIndex(engine, check_every=0.0)
    before = engine.ask("How much money went to road repairs?", k=2)
    first_stage = engine.index.first_stage
    real_bm25 = type(first_stage).bm25_scores

    def die_midway(self, *args, **kwargs):  # the dense search went through; the server dies before BM25
        server.kill()
        return real_bm25(self, *args, **kwargs)

    monkeypatch.setattr(type(first_stage), "bm25_scores", die_midway)
    with pytest.raises(MilvusUnavailableError) as got:
        engine.ask("How much money went to road repairs?", k=2)
    message = str(got.value)
    assert message.startswith(f"The Milvus server at {server.uri} stopped answering") and "\n" not in message
    assert "python -m milvus_lite server" in message
    monkeypatch.setattr(type(first_stage), "bm25_scores", real_bm25)
    seen = live.signature()
    assert live.check_now() is engine and live.signature() == seen  # down: nothing to reload
    with pytest.raises(MilvusUnavailableError, match="stopped answering"):
        engine.ask("How much money went to road repairs?", k=2)

    server.start()  # same port, same data folder; it holds every collection released
    again = engine.ask("How much money went to road repairs?", k=2)
    assert again.build == before.build and [p.citation for p in again.passages] == [p.citation for p in before.passages]
    assert live.signature() == seen and live.check_now() is engine


def test_a_server_down_at_start_says_what_to_run(tmp_path, capsys):
    from qa import cli
    from qa.page import app

    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    assert cli.main(["ask", "Who?", "--store", "milvus", "--milvus-uri", uri, "--index-dir", str(tmp_path / "i")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: Nothing answers at {uri}") and "\n" not in err
    assert f"python -m milvus_lite server --data-dir DIR --host 127.0.0.1 --port {uri.rsplit(':', 1)[1]}" in err
    assert app.main(["--store", "milvus", "--milvus-uri", uri, "--index-dir", str(tmp_path / "i"), "--port", str(free_port())]) == 2
    assert f"error: Nothing answers at {uri}" in capsys.readouterr().err
