"""The page's API, called the way a script would: gradio_client against a served app."""

import os
import subprocess
import sys
import time
import urllib.request

import pytest

from qa.page import app
from qa.page.panel import PANEL_EMPTY
from qa import Engine
from tests.conftest import ROOT, free_port
from tests.conftest import serve as serve_page

pytestmark = [pytest.mark.model, pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")]

UNSAFE_TEXT = (
    "Markup in documents\n\n"
    "Some files contain <script>alert(1)</script> and <b>bold html</b> inside their text. "
    "An image tag <img src=x onerror=alert(2)> must be shown as text too. "
    "The viewer shows all markup as plain characters and never runs it.\n"
)


def serve(engine, feedback_path):
    """The page over ``engine`` on a free loopback port: (demo, url)."""
    demo, port = serve_page(engine, feedback_path)
    return demo, f"http://127.0.0.1:{port}/"


def client(url):
    from gradio_client import Client

    return Client(url, verbose=False)


@pytest.fixture(scope="module")
def seed_app(engine, tmp_path_factory):
    """The seed page served in-process: (url, feedback file)."""
    fb = tmp_path_factory.mktemp("feedback") / "feedback.jsonl"
    demo, url = serve(engine, fb)
    yield url, fb
    demo.close()


@pytest.fixture(scope="module")
def unsafe_engine(embedder, tmp_path_factory):
    """A small corpus in which one document holds <script> and other markup as plain text."""
    folder = tmp_path_factory.mktemp("unsafe-docs")
    (folder / "unsafe.txt").write_text(UNSAFE_TEXT, encoding="utf-8")
    (folder / "garden.txt").write_text(
        "Gardening\n\nPrune roses in late winter, just before new growth begins. Water tomatoes daily in summer.\n",
        encoding="utf-8",
    )
    return Engine(corpus=folder, index_dir=tmp_path_factory.mktemp("unsafe-index"), embedder=embedder)


@pytest.fixture(scope="module")
def unsafe_app(unsafe_engine, tmp_path_factory):
    demo, url = serve(unsafe_engine, tmp_path_factory.mktemp("feedback") / "feedback.jsonl")
    yield url
    demo.close()


def test_ask_returns_passages_that_slice_exactly_out_of_their_documents(seed_app, engine):
    url, _ = seed_app
    got = client(url).predict("How many leaders did Timmins interview?", 5, "hybrid", [], api_name="/ask")
    assert not got["abstained"] and got["mode"] == "hybrid"
    assert len(got["passages"]) == 5
    for p in got["passages"]:
        text = engine.document(p["source"]).text
        assert text[p["start"] : p["end"]] == p["text"]
        assert p["title"] == engine.document(p["source"]).title
        for h in p["highlights"]:
            assert p["start"] <= h["start"] < h["end"] <= p["end"]
    # Since the eval tuning (evals/README.md) the press release's "interviews with 16 leaders" ranks second,
    # after the report's thanks to Timmins and the leaders who spoke to him.
    first_two = [(p["source"], h) for p in got["passages"][:2] for h in p["highlights"]]
    assert any("16" in engine.document(s).text[h["start"] : h["end"]] for s, h in first_two)


def test_ask_honours_the_document_filter_and_the_page_mode_names(seed_app, engine):
    url, _ = seed_app
    c = client(url)
    only = ["003_70f488a89c03ae0b.txt", "004_5a4e078f2933e62d.txt"]
    got = c.predict("What do system leaders need to do?", 8, "keyword", only, api_name="/ask")
    assert got["mode"] == "bm25"
    assert got["passages"] and {p["source"] for p in got["passages"]} <= set(only)
    everything = c.predict("What do system leaders need to do?", 8, "semantic", [], api_name="/ask")
    assert everything["mode"] == "dense" and len(everything["passages"]) == 8


def test_ask_reports_bad_input_in_words(seed_app):
    from gradio_client.exceptions import AppError

    c = client(seed_app[0])
    with pytest.raises(AppError, match="question is empty"):
        c.predict("   ", 5, "hybrid", [], api_name="/ask")
    with pytest.raises(AppError, match="Unknown retrieval mode 'fuzzy'"):
        c.predict("leaders", 5, "fuzzy", [], api_name="/ask")


def test_document_markup_comes_back_as_data_and_is_escaped_on_the_page(unsafe_app, unsafe_engine, tmp_path):
    got = client(unsafe_app).predict("What does the viewer do with markup such as script tags?", 2, "hybrid", [],
                                      api_name="/ask")
    top = got["passages"][0]
    assert top["source"] == "unsafe.txt" and "<script>alert(1)</script>" in top["text"]
    panel = app.cite_panel(unsafe_engine, app.pages.PageImages(tmp_path), "unsafe.txt", top["start"], top["end"], [])
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in panel and "<script" not in panel and "<img" not in panel


@pytest.mark.parametrize("source", ["../seeds/catalog.toml", "catalog.toml", str(ROOT / "pyproject.toml"), "nope.txt"])
def test_only_indexed_documents_open_in_the_panel(engine, source, tmp_path):
    panel = app.cite_panel(engine, app.pages.PageImages(tmp_path), source, 0, 10, [])
    assert "No indexed document named" in panel and 'class="qa-doc-text"' not in panel


def test_a_citation_outside_its_document_is_refused(engine, tmp_path):
    panel = app.cite_panel(engine, app.pages.PageImages(tmp_path), "000_ca9353bd9b097081.txt", 0, 999999, [])
    assert "is outside 000_ca9353bd9b097081.txt" in panel


def test_host_and_port_come_from_flags_then_environment(monkeypatch):
    monkeypatch.setenv("QA_HOST", "0.0.0.0")
    monkeypatch.setenv("QA_PORT", "9001")
    args = app.parser().parse_args([])
    assert (args.host, args.port) == ("0.0.0.0", 9001)
    args = app.parser().parse_args(["--host", "127.0.0.2", "--port", "9002"])
    assert (args.host, args.port) == ("127.0.0.2", 9002)
    monkeypatch.delenv("QA_HOST")
    monkeypatch.delenv("QA_PORT")
    args = app.parser().parse_args([])
    assert (args.host, args.port) == ("127.0.0.1", 7860)
    monkeypatch.setenv("QA_PORT", "http")
    with pytest.raises(SystemExit, match="QA_PORT must be a port number"):
        app.parser()


def test_python_app_py_serves_the_page_from_an_existing_index(seed_index_dir, tmp_path):
    """The real entry point: env QA_PORT/QA_HOST, no rebuild of a fresh index, page and /ask answer."""
    port = free_port()
    env = dict(os.environ, QA_PORT=str(port), QA_HOST="127.0.0.1", QA_FEEDBACK=str(tmp_path / "fb.jsonl"))
    log = tmp_path / "app.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "app.py", "--index-dir", str(seed_index_dir)], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, f"app.py exited with {proc.returncode}:\n{log.read_text()}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"app.py did not serve within 180 s:\n{log.read_text()}"
            time.sleep(0.5)
        got = client(f"http://127.0.0.1:{port}/").predict("Who is Claire Fuller?", 3, "hybrid", [], api_name="/ask")
        assert got["passages"] and not got["abstained"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    text = log.read_text()
    assert f"Serving on http://127.0.0.1:{port}" in text and "Building it now" not in text


# -- issue 11: inputs are checked, errors are one line, many readers at once ---------------------------


@pytest.mark.parametrize(
    "args,message",
    [
        (("leaders", "abc", "hybrid", []), "k must be a whole number of passages between 1 and 50"),
        (("leaders", None, "hybrid", []), "k must be a whole number of passages between 1 and 50"),
        (("leaders", [5], "hybrid", []), "k must be a whole number of passages between 1 and 50"),
        (("leaders", 5.9, "hybrid", []), "k must be a whole number of passages between 1 and 50"),
        (("leaders", True, "hybrid", []), "k must be a whole number of passages between 1 and 50"),
        (("leaders", 0, "hybrid", []), "k must be a whole number of passages between 1 and 50, got 0"),
        (("leaders", 5, "hybrid", "000_ca9353bd9b097081.txt"), "sources must be a list of document names"),
        (("leaders", 5, "hybrid", ["nope.txt"]), "No indexed document named 'nope.txt'"),
        (("leaders", 5, ["hybrid"], []), "Unknown retrieval mode"),
        ((["leaders"], 5, "hybrid", []), "The question must be text"),
    ],
)
def test_ask_refuses_wrong_types_with_one_sentence(seed_app, args, message):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=message):
        client(seed_app[0]).predict(*args, api_name="/ask")


def test_refused_requests_are_logged_as_one_line_not_a_traceback(seed_app, caplog, capfd):
    from gradio_client.exceptions import AppError

    with caplog.at_level("WARNING", logger="qa.page"):
        with pytest.raises(AppError):
            client(seed_app[0]).predict("leaders", "abc", "hybrid", [], api_name="/ask")
    lines = [r.getMessage() for r in caplog.records if r.name == "qa.page"]
    assert any(x.startswith("/ask refused: k must be a whole number") and "\n" not in x for x in lines)
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err


def test_questions_are_nfkc_normalised_and_long_ones_cut_with_a_note(seed_app, engine):
    c = client(seed_app[0])
    wide = c.predict("Ｗｈｏ ｉｓ Ｃｌａｉｒｅ Ｆｕｌｌｅｒ？", 3, "hybrid", [], api_name="/ask")
    plain = engine.ask("Who is Claire Fuller?", k=3)
    assert wide["question"] == "Who is Claire Fuller?" and _spans(wide) == _spans(plain.to_dict())
    q, note = app.check_question("why" * 1666 + "ab")
    assert len(q) == app.MAX_QUESTION_CHARS and "cut to its first 2,000 characters (it had 5,000)" in note
    assert app.check_question("ﬁne") == ("fine", "")


def _spans(answer: dict) -> list[tuple[str, int, int]]:
    return [(p["source"], p["start"], p["end"]) for p in answer["passages"]]


class SlowEngine:
    """The seed engine, answering after a pause: to fill the page's queue."""

    def __init__(self, engine, pause: float):
        self._engine, self._pause = engine, pause

    def __getattr__(self, name):
        return getattr(self._engine, name)

    def ask(self, *a, **kw):
        time.sleep(self._pause)
        return self._engine.ask(*a, **kw)


def test_past_the_queue_limit_readers_are_told_the_page_is_busy(engine, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    slow = SlowEngine(engine, 1.5)
    demo = app.build_demo(slow, tmp_path / "fb.jsonl", concurrency=1, queue_size=1)
    port = free_port()
    app.launch(demo, "127.0.0.1", port, block=False)
    try:
        def one(_):
            try:
                client(f"http://127.0.0.1:{port}/").predict("Who is Claire Fuller?", 2, "hybrid", [], api_name="/ask")
                return "ok"
            except Exception as e:  # the refusal, as a reader's script sees it
                return str(e)

        with ThreadPoolExecutor(6) as pool:
            got = list(pool.map(one, range(6)))
    finally:
        demo.close()
    assert "ok" in got
    assert any(app.BUSY in g for g in got), got


def test_the_page_runs_several_questions_at_once(engine, tmp_path):
    demo = app.build_demo(engine, tmp_path / "fb.jsonl")
    assert demo.gate.limit == app.CONCURRENCY > 1 and demo.gate.waiting == app.QUEUE_SIZE
    assert demo._queue.max_size is not None  # Gradio's own queue is bounded too


def _page_fn(demo, name: str):
    fns = demo.fns.values() if isinstance(demo.fns, dict) else demo.fns
    return next(f.fn for f in fns if getattr(f.fn, "__name__", "") == name)


def test_each_answer_records_what_produced_it_and_the_panel_follows_the_newest(engine, tmp_path):
    import json

    demo = app.build_demo(engine, tmp_path / "fb.jsonl")
    add, respond, act = (_page_fn(demo, n) for n in ("add_question", "respond", "on_action"))
    only = ["004_5a4e078f2933e62d.txt"]
    _, turns, _, q = add("What is the capital of Peru?", [])
    turns, chat, panel, _ = respond(q, turns, only, 3, "keyword")
    t = turns[-1]
    assert t.settings == {"k": 3, "mode": "bm25", "sources": only} and t.build
    assert "Only 1 of 5 documents (Systems leadership) · Keyword · 3 passages" in chat
    assert t.answer["abstained"] and "Search all documents" in chat
    # open source [1] of answer 1: the panel says so
    turns, _, panel, _ = act(json.dumps({"action": "open", "turn": 1, "n": 1}), turns, only, 3, "keyword")
    assert "Answer 1, source [1]" in panel and 'id="qa-doc-text"' in panel
    # "Search all documents" asks again without the filter, as answer 2, and clears the filter
    turns, chat, panel, pick = act(json.dumps({"action": "search-all", "turn": 1}), turns, only, 3, "keyword")
    assert pick == [] and turns[-1].settings["sources"] == [] and turns[-1].question == "What is the capital of Peru?"
    assert "Answer 2" in panel and "qa-doc-text" not in panel  # the panel moved on to the newest answer
    # thumbs down with a reason is saved with the verdict
    turns, chat, _, _ = act(json.dumps({"action": "not-helpful", "turn": 2, "reason": "not answered", "comment": "hm"}),
                            turns, [], 3, "keyword")
    line = json.loads((tmp_path / "fb.jsonl").read_text().splitlines()[-1])
    assert (line["verdict"], line["reason"], line["comment"], line["sources"]) == ("not helpful", "not answered", "hm", [])
    assert "saved as not helpful" in chat
    # Clear empties the conversation and the panel
    turns, chat, panel, _ = act(json.dumps({"action": "clear"}), turns, [], 3, "keyword")
    assert turns == [] and panel == PANEL_EMPTY and "qa-turn" not in chat
    # junk from the page's script is ignored
    assert act("not json", [], [], 3, "hybrid")[0] == []


def test_every_example_the_first_screen_offers_is_answered_not_refused(engine):
    """A reader's first click must show an answer: an example the engine refuses would teach them the tool fails.
    Its level may be "low": that is the calibrated chance, said honestly (evals/README.md), not a refusal."""
    assert app.example_questions(engine) == list(app.SEED_EXAMPLES)
    for q in app.SEED_EXAMPLES:
        answer = engine.ask(q)
        assert not answer.abstained and answer.lead is not None and answer.level in ("high", "medium", "low"), (q, answer.confidence)
    assert "16" in engine.ask(app.SEED_EXAMPLES[0]).short_text()


def test_control_characters_before_a_question_do_not_push_it_past_the_limit():
    """The page once cut a question to 2,000 characters before cleaning it: 5,000 NULs then a question was refused
    as empty while the engine answered the same input."""
    q, note = app.check_question("\x00" * 5000 + "Who leads Surrey Heartlands?")
    assert (q, note) == ("Who leads Surrey Heartlands?", "")
    with pytest.raises(app.InputError, match="text"):
        app.check_question(None)


@pytest.mark.model
def test_ask_with_only_the_question_takes_the_defaults(seed_app, caplog):
    """/ask with the question alone (raw HTTP, as curl would) once logged a traceback and answered
    '<gradio.components.api_component.Api object at 0x...>'."""
    import json
    import urllib.request

    url, _ = seed_app
    req = urllib.request.Request(url + "gradio_api/call/ask", data=json.dumps({"data": ["How many leaders did Timmins interview?"]}).encode(),
                                 headers={"Content-Type": "application/json"})
    with caplog.at_level("WARNING"):
        event = json.loads(urllib.request.urlopen(req, timeout=60).read())["event_id"]
        stream = urllib.request.urlopen(url + f"gradio_api/call/ask/{event}", timeout=120).read().decode()
    assert "event: complete" in stream, stream[:500]
    data = json.loads(stream.split("event: complete", 1)[1].split("data:", 1)[1].strip().splitlines()[0])
    got = data[0]
    assert isinstance(got, dict), got
    assert not got["abstained"] and got["mode"] == "hybrid" and len(got["passages"]) == 5
    assert got["short"]["text"] == "16"
    assert not [r for r in caplog.records if r.exc_info]
