"""Security of the page: loopback only and no share link by default; no file outside the index is served;
all document text is escaped; feedback only appends to its own file."""

from __future__ import annotations

import http.client
import json
import tempfile
import threading
from pathlib import Path

import pytest

from qa.page import app
from qa import Engine
from qa.page import feedback
from qa.page import reply
from tests.conftest import ROOT, SEEDS

pytestmark = [pytest.mark.model, pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")]

PASSWD_MARK = "root:"


# -- where the server listens ----------------------------------------------------------------------


def test_default_host_is_loopback(monkeypatch):
    monkeypatch.delenv("QA_HOST", raising=False)
    monkeypatch.delenv("QA_PORT", raising=False)
    assert app.parser().parse_args([]).host == "127.0.0.1"


def test_launch_never_asks_for_a_share_link_and_binds_the_given_host():
    calls = []

    class FakeDemo:
        def launch(self, **kwargs):
            calls.append(kwargs)

    app.launch(FakeDemo())
    assert calls[0]["share"] is False
    assert calls[0]["server_name"] == "127.0.0.1"
    app.launch(FakeDemo(), "0.0.0.0", 9000, block=False)  # only when told
    assert calls[1]["server_name"] == "0.0.0.0" and calls[1]["share"] is False


def test_main_with_no_options_serves_on_loopback_without_share(engine, monkeypatch, tmp_path):
    """The command's whole default path: app.main([]) -> launch(demo, "127.0.0.1", ...)."""
    import qa.engine

    class Stop(Exception):
        pass

    seen = {}

    def fake_launch(demo, host=app.DEFAULT_HOST, port=app.DEFAULT_PORT, block=True):
        seen.update(host=host, port=port)
        raise Stop

    monkeypatch.delenv("QA_HOST", raising=False)
    monkeypatch.delenv("QA_PORT", raising=False)
    monkeypatch.setenv("QA_FEEDBACK", str(tmp_path / "fb.jsonl"))
    monkeypatch.setattr(qa.engine, "Engine", lambda **kw: engine)
    monkeypatch.setattr(app, "launch", fake_launch)
    with pytest.raises(Stop):
        app.main([])
    assert seen == {"host": "127.0.0.1", "port": 7860}


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a socket listening on ``port``, from /proc/net/tcp{,6}."""
    out = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            local, state = row.split()[1], row.split()[3]
            addr, p = local.split(":")
            if int(p, 16) == port and state == "0A":  # LISTEN
                out.add(addr)
    return out


def test_served_page_listens_on_loopback_only_and_has_no_share_link(served):
    demo, port = served
    assert not demo.share and not getattr(demo, "share_url", None)
    addrs = _listening_addresses(port)
    assert addrs == {"0100007F"}, addrs  # 127.0.0.1, not 0.0.0.0 (00000000) or ::


# -- no file outside the index is served -----------------------------------------------------------


def _get(port: int, raw_path: str) -> tuple[int, str]:
    """GET with the path sent exactly as given (no client-side normalisation of '..')."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest("GET", raw_path, skip_accept_encoding=True)
        conn.endheaders()
        r = conn.getresponse()
        return r.status, r.read(2_000_000).decode("utf-8", "replace")
    finally:
        conn.close()


SECRETS = {
    "/etc/passwd": PASSWD_MARK,
    str(ROOT / "qa" / "page" / "app.py"): "def build_demo",
    str(ROOT / "pyproject.toml"): "[project]",
    str(SEEDS / "catalog.toml"): "title",
}
TRAVERSALS = [
    "/gradio_api/file=../../../../../../etc/passwd",
    "/gradio_api/file=/etc/passwd",
    "/gradio_api/file=%2Fetc%2Fpasswd",
    "/gradio_api/file=..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "/gradio_api/file=%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/gradio_api/file/etc/passwd",
    "/gradio_api/file/../../../../etc/passwd",
    "/gradio_api/file/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/file=/etc/passwd",
    "/file=../../../../etc/passwd",
    "/static/../../../../../../etc/passwd",
    "/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/assets/..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "/svelte/..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "/gradio_api/custom_component/x/client/..%2F..%2F..%2Fetc/passwd",
    "/gradio_api/proxy=file:///etc/passwd",
    "/gradio_api/file=file:///etc/passwd",
    "/etc/passwd",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_file_routes_refuse_paths_outside_the_app(served, path):
    status, body = _get(served[1], path)
    assert PASSWD_MARK not in body, (status, body[:200])
    if "file" in path:
        assert status >= 400, (status, body[:200])


@pytest.mark.parametrize("target", list(SECRETS), ids=["passwd", "app.py", "pyproject", "catalog"])
def test_file_route_refuses_project_and_system_files(served, target):
    for route in ("/gradio_api/file=", "/gradio_api/file/", "/file="):
        status, body = _get(served[1], route + target)
        assert status >= 400 and SECRETS[target] not in body, (route, status, body[:200])


def test_file_route_refuses_the_index_and_the_documents_folder(served, seed_index_dir):
    assert _get(served[1], "/config")[0] == 200  # the raw requests do reach the page
    manifest = next(seed_index_dir.glob("builds/*/manifest.json"))
    for target in (manifest, seed_index_dir / "CURRENT", SEEDS / "000_ca9353bd9b097081.txt"):
        status, body = _get(served[1], f"/gradio_api/file={target}")
        assert status >= 400 and '"files"' not in body and "independent think tank" not in body, (target, status, body[:200])


def open_span(engine, source, start=0, end=10, highlights=()):
    """The source panel as the page opens a cited span (qa/page/app.py cite_panel)."""
    return app.cite_panel(engine, app.pages.PageImages(Path(tempfile.mkdtemp())), source, start, end, highlights)


@pytest.mark.parametrize(
    "source, start, end, highlights",
    [
        ("../../etc/passwd", 0, 10, ()),
        ("/etc/passwd", 0, 10, ()),
        ("../seeds/catalog.toml", 0, 10, ()),
        (str(ROOT / "qa" / "page" / "app.py"), 0, 10, ()),
        ("", 0, 10, ()),
        ("x" * 5000, 0, 10, ()),
        (None, 0, 10, ()),
        ("000_ca9353bd9b097081.txt", -5, 10, ()),
        ("000_ca9353bd9b097081.txt", 0, 10, ((3, 99999),)),
    ],
)
def test_source_panel_refuses_anything_but_a_span_of_an_indexed_document(engine, source, start, end, highlights):
    panel = open_span(engine, source, start, end, highlights)
    assert "qa-panel-error" in panel and 'id="qa-doc-text"' not in panel
    assert PASSWD_MARK not in panel and "def build_demo" not in panel


def test_engine_document_refuses_paths(engine):
    from qa import UnknownDocumentError

    for name in ("../../etc/passwd", "/etc/passwd", str(SEEDS / "000_ca9353bd9b097081.txt"), "catalog.toml", None):
        with pytest.raises(UnknownDocumentError):
            engine.document(name)


# -- document text is escaped when rendered --------------------------------------------------------

EVIL_TITLE = "<b onmouseover=alert(1)>Evil</b> & \"quoted\" title"
EVIL = (
    f"# {EVIL_TITLE}\n\n"
    "## <img src=x onerror=alert(3)> Section\n\n"
    "The river <script>alert('x')</script> floods every spring. It is called the <u>Thames</u>.\n"
    "See <a href=\"javascript:alert(4)\">this link</a> and a closing </div></mark></p> tag.\n"
)
RAW_MARKUP = ("<script", "<img", "<b onmouseover", "<u>", "<a href", "</div></mark>", "javascript:alert(4)\">")


@pytest.fixture(scope="module")
def evil_engine(embedder, tmp_path_factory):
    folder = tmp_path_factory.mktemp("evil-docs")
    (folder / "evil <script>.md").write_text(EVIL, encoding="utf-8")
    (folder / "plain.txt").write_text("Gardens\n\nRoses are pruned in late winter.\n", encoding="utf-8")
    return Engine(corpus=folder, index_dir=tmp_path_factory.mktemp("evil-index"), embedder=embedder)


def _no_raw_markup(html: str) -> None:
    for bad in RAW_MARKUP:
        assert bad not in html, bad


def test_answer_and_panel_escape_document_text_title_section_and_name(evil_engine):
    answer = evil_engine.ask("When does the river flood?", k=2)
    top = answer.passages[0]
    assert top.source == "evil <script>.md" and "<script>" in top.text and "<b" in top.title
    html = reply.answer_html(answer)
    _no_raw_markup(html)
    assert "&lt;script&gt;" in html and "&lt;b onmouseover=alert(1)&gt;Evil&lt;/b&gt;" in html
    panel = open_span(evil_engine, top.source, top.start, top.end, top.highlights)
    assert 'id="qa-doc-text"' in panel
    _no_raw_markup(panel)
    assert "&lt;img src=x onerror=alert(3)&gt;" in panel and "&lt;/div&gt;&lt;/mark&gt;" in panel


def test_error_messages_echoing_user_input_are_escaped(evil_engine):
    panel = open_span(evil_engine, "<script>alert(1)</script>", 0, 5)
    assert "<script" not in panel and "&lt;script&gt;" in panel
    assert "<script" not in reply.error_html("No indexed document named '<script>alert(1)</script>'")


# -- the page's handlers, called directly -------------------------------------------------------


def _page_fn(demo, name: str):
    fns = demo.fns.values() if isinstance(demo.fns, dict) else demo.fns
    for f in fns:
        if getattr(f.fn, "__name__", "") == name:
            return f.fn
    raise LookupError(f"the page has no {name} handler")


# -- feedback only appends to its own file ---------------------------------------------------------


def test_feedback_only_appends_to_its_own_file(engine, tmp_path):
    target = tmp_path / "fb" / "feedback.jsonl"
    target.parent.mkdir()
    neighbour = tmp_path / "fb" / "other.txt"
    neighbour.write_text("untouched\n")
    target.write_bytes(b'{"earlier": "verdict"}\n{"torn": ')  # a line torn by a crash
    before = target.read_bytes()
    answer = engine.ask("Why is there no room for heroes?", k=2).to_dict()
    feedback.record(target, answer, "helpful", k=2)
    feedback.record(target, answer, "not helpful", k=2, sources=["000_ca9353bd9b097081.txt"])
    after = target.read_bytes()
    assert after.startswith(before) and len(after) > len(before)
    lines = after.decode("utf-8").splitlines()
    assert lines[0] == '{"earlier": "verdict"}' and lines[1] == '{"torn": '
    assert [json.loads(line)["verdict"] for line in lines[2:]] == ["helpful", "not helpful"]
    assert neighbour.read_text() == "untouched\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["feedback.jsonl", "feedback.jsonl.lock", "other.txt"]
    with pytest.raises(ValueError):
        feedback.record(target, answer, "rm -rf /")
    assert target.read_bytes() == after


def test_concurrent_feedback_lines_are_whole(engine, tmp_path):
    target = tmp_path / "feedback.jsonl"
    answer = engine.ask("Why is there no room for heroes?", k=5).to_dict()

    def writer(i):
        for _ in range(20):
            feedback.record(target, answer, "helpful" if i % 2 else "not helpful", k=5)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = target.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 160
    assert all(json.loads(line)["question"] == answer["question"] for line in lines)


def test_page_like_writes_to_the_configured_feedback_file_only(engine, tmp_path, monkeypatch):
    monkeypatch.setenv("QA_FEEDBACK", str(tmp_path / "env-default.jsonl"))
    target = tmp_path / "page" / "feedback.jsonl"
    demo = app.build_demo(engine, target)
    add, respond, act = (_page_fn(demo, n) for n in ("add_question", "respond", "on_action"))
    turns = []
    for _ in range(2):
        _, turns, _, q = add("Why is there no room for heroes?", turns)
        turns, *_ = respond(q, turns, [], 3, "hybrid")
    act(json.dumps({"action": "helpful", "turn": 1}), turns, [], 3, "hybrid")
    act(json.dumps({"action": "not-helpful", "turn": 2, "reason": "rm -rf /", "comment": "<script>"}), turns, [], 3, "hybrid")
    lines = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert [x["verdict"] for x in lines] == ["helpful", "not helpful"]
    assert "reason" not in lines[1]  # only the page's own reasons are kept
    assert not (tmp_path / "env-default.jsonl").exists()


def test_the_page_refuses_uploads_since_it_takes_no_files(served, tmp_path):
    """Once, a 20 MB upload from anyone who could reach the page was stored in the temp folder."""
    port = served[1]
    boundary = "qa-test-boundary"
    payload = b"x" * 10_000
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.txt\"\r\n"
            f"Content-Type: text/plain\r\n\r\n").encode() + payload + f"\r\n--{boundary}--\r\n".encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/gradio_api/upload", body=body,
                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        r = conn.getresponse()
        text = r.read(100_000).decode("utf-8", "replace")
    finally:
        conn.close()
    assert r.status >= 400, (r.status, text[:300])
    assert "big.txt" not in text


def test_the_development_reload_stream_is_not_served(served):
    """Gradio's /gradio_api/dev/reload never closed and polled every 50 ms per connection; the page never needs it."""
    conn = http.client.HTTPConnection("127.0.0.1", served[1], timeout=30)
    try:
        conn.request("GET", "/gradio_api/dev/reload")
        r = conn.getresponse()
        r.read(1000)
    finally:
        conn.close()
    assert r.status == 404
    conn = http.client.HTTPConnection("127.0.0.1", served[1], timeout=30)
    try:
        conn.request("GET", "/gradio_api/info")  # the API's own description is still served
        assert conn.getresponse().status == 200
    finally:
        conn.close()
