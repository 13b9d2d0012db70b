"""The page's API, called the way a script would: gradio_client against a served app."""

import os
import subprocess
import sys
import time
import urllib.request

import pytest

import app
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


def test_document_markup_comes_back_as_data_and_is_escaped_on_the_page(unsafe_app, unsafe_engine):
    got = client(unsafe_app).predict("What does the viewer do with markup such as script tags?", 2, "hybrid", [],
                                      api_name="/ask")
    top = got["passages"][0]
    assert top["source"] == "unsafe.txt" and "<script>alert(1)</script>" in top["text"]
    panel = app.source_panel(unsafe_engine, f"#qa-cite/unsafe.txt|{top['start']}|{top['end']}|")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in panel and "<script" not in panel and "<img" not in panel


@pytest.mark.parametrize("source", ["../seeds/catalog.toml", "catalog.toml", str(ROOT / "pyproject.toml"), "nope.txt"])
def test_only_indexed_documents_open_in_the_panel(engine, source):
    panel = app.source_panel(engine, f"#qa-cite/{source}|0|10|")
    assert "No indexed document named" in panel and 'class="qa-doc-text"' not in panel


def test_a_citation_outside_its_document_is_refused(engine):
    panel = app.source_panel(engine, "#qa-cite/000_ca9353bd9b097081.txt|0|999999|")
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
