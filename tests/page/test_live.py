"""The page follows the index: an edited document or a build published by another process is picked up
while serving, answers keep citing the build that produced them."""

import json
import os
import threading
import time

import pytest

from qa.page import app
from qa import Engine
from qa.page.live import LiveIndex, build_id

pytestmark = [pytest.mark.model, pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")]

RIVER = "Rivers\n\nThe Thames flows through London and reaches the North Sea at its estuary.\n"
RIVER_NEW = ("Rivers\n\nA new first paragraph moves every offset along by a good many characters.\n\n"
             "The Thames flows through Oxford and London and reaches the North Sea near Southend.\n")
QUESTION = "Where does the Thames reach the sea?"


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "river.txt").write_text(RIVER, encoding="utf-8")
    (folder / "cats.txt").write_text("Cats\n\nCats sleep for most of the day and hunt at night.\n", encoding="utf-8")
    return folder


def _edit(path, text):
    path.write_text(text, encoding="utf-8")
    t = time.time() + 2  # a different mtime even on coarse file systems
    os.utime(path, (t, t))


def _slices(answer, engine):
    for p in answer.passages:
        assert engine.document(p.source).text[p.start : p.end] == p.text


def test_an_edited_document_is_indexed_again_and_new_answers_slice_the_new_text(corpus, tmp_path, embedder):
    engine = Engine(corpus=corpus, index_dir=tmp_path / "index", embedder=embedder)
    live = LiveIndex(engine, check_every=0)
    first = live.current().ask(QUESTION, k=2)
    old_build = build_id(live.engine)
    assert live.current() is engine  # nothing changed: no reload
    _edit(corpus / "river.txt", RIVER_NEW)
    assert live.current() is engine  # answers from the old build while the new one is made
    live.wait(120)
    new = live.current()
    assert new is not engine and build_id(new) != old_build and live.reloads == 1
    second = new.ask(QUESTION, k=2)
    top = next(p for p in second.passages if p.source == "river.txt")
    assert RIVER_NEW[top.start : top.end] == top.text and "Southend" in top.text
    _slices(second, new)
    # the earlier answer still resolves against the build that produced it
    assert live.engine_for(old_build) is engine
    _slices(first, live.engine_for(old_build))
    assert "Southend" not in engine.document("river.txt").text


def test_a_build_published_by_another_process_is_loaded(corpus, tmp_path, embedder):
    engine = Engine(corpus=corpus, index_dir=tmp_path / "index", embedder=embedder)
    live = LiveIndex(engine, check_every=0)
    _edit(corpus / "river.txt", RIVER_NEW)
    # another process ran `qa index`: here, a second engine on the same folders
    other = Engine(corpus=corpus, index_dir=tmp_path / "index", embedder=embedder)
    live.check_now()
    live.wait(120)
    assert build_id(live.current()) == build_id(other)
    assert live.indexed()


def test_checks_are_cheap_and_rate_limited(corpus, tmp_path, embedder, monkeypatch):
    engine = Engine(corpus=corpus, index_dir=tmp_path / "index", embedder=embedder)
    live = LiveIndex(engine, check_every=60)
    calls = []
    monkeypatch.setattr(live, "signature", lambda: calls.append(1) or live._seen)
    for _ in range(100):
        live.current()
    assert calls == []  # within the interval: not even a stat
    live.check_now()
    assert calls == [1]


def test_the_page_answers_and_cites_from_one_build_across_a_reload(corpus, tmp_path, embedder):
    engine = Engine(corpus=corpus, index_dir=tmp_path / "index", embedder=embedder)
    live = LiveIndex(engine, check_every=0)
    demo = app.build_demo(engine, tmp_path / "fb.jsonl", live=live)
    fns = demo.fns.values() if isinstance(demo.fns, dict) else demo.fns
    add, respond, act = (next(f.fn for f in fns if f.fn.__name__ == n) for n in ("add_question", "respond", "on_action"))
    _, turns, _, q = add(QUESTION, [])
    turns, chat, _, head = respond(q, turns, [], 2, "hybrid")
    old = turns[0].build
    _edit(corpus / "river.txt", RIVER_NEW)
    hold = threading.Event()
    factory = live._factory
    live._factory = lambda: hold.wait(120) and factory()  # the rebuild waits until the answer below is given
    live.check_now()
    _, turns, _, q = add(QUESTION, turns)
    turns, chat, _, _ = respond(q, turns, [], 2, "hybrid")
    assert live.changing() and turns[-1].build == old
    assert app.CHANGING in chat  # answered from the old build while the new one is made, and told so
    hold.set()
    live.wait(120)
    _, turns, _, q = add(QUESTION, turns)
    turns, chat, _, head = respond(q, turns, [], 2, "hybrid")
    assert turns[2].build != old and "Indexed" in head and app.CHANGING not in turns[2].note
    for n_turn, text in ((1, RIVER), (3, RIVER_NEW)):
        t = turns[n_turn - 1]
        n = 1 + next(i for i, c in enumerate(t.cites) if c[0] == "river.txt")
        _, _, panel, _ = act(json.dumps({"action": "open", "turn": n_turn, "n": n}), turns, [], 2, "hybrid")
        source, start, end, _ = t.cites[n - 1]
        assert f'data-start="{start}" data-end="{end}"' in panel
        assert ("Southend" in panel) == (text == RIVER_NEW)  # each answer's panel shows its own build's text
        assert ("indexed again after this answer" in panel) == (text == RIVER)  # and an old one says so


def test_the_gate_answers_a_few_at_once_queues_some_and_refuses_the_rest():
    import threading

    from qa.page.live import BusyError, Gate

    gate = Gate(limit=2, waiting=1, message="busy, try again")
    release, running, peak, results = threading.Event(), [], [0], []
    lock = threading.Lock()

    def work(i):
        with lock:
            running.append(i)
            peak[0] = max(peak[0], len(running))
        release.wait(10)
        with lock:
            running.remove(i)
        return i

    def call(i):
        try:
            results.append(gate.run(work, i))
        except BusyError as e:
            results.append(str(e))

    threads = [threading.Thread(target=call, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
        time.sleep(0.05)
    release.set()
    for t in threads:
        t.join()
    assert results.count("busy, try again") == 2 and sorted(r for r in results if isinstance(r, int)) == [0, 1, 2]
    assert peak[0] == 2 and gate.inside == 0


def test_a_rebuild_the_page_starts_reports_progress_and_warnings_as_the_first_build_did():
    """The reopened engine once lost ``progress``, ``warn`` and ``workers``: a rebuild was silent in the log."""
    seen = {}

    class Recorder:
        def __init__(self, corpus=None, index_dir=None, embedder=None, settings=None, build="auto", progress=None,
                     warn=None, storage=None, workers=None):
            seen.update(corpus=corpus, progress=progress, warn=warn, workers=workers, build=build)
            self.corpus, self.index_dir, self.embedder, self.settings = corpus, index_dir, embedder, settings
            self.storage, self.workers, self._progress, self._warn = storage, workers, progress, warn
            self.index = type("I", (), {"path": "/x/builds/b1"})()

    def progress(*a):
        return None

    def warn(*a):
        return None

    old = Recorder(corpus="c", index_dir="i", progress=progress, warn=warn, workers="ray")
    seen.clear()
    live = LiveIndex.__new__(LiveIndex)
    live.engine = old
    LiveIndex._open(live)
    assert seen == {"corpus": "c", "progress": progress, "warn": warn, "workers": "ray", "build": "auto"}
