"""Bad questions get a clear answer or message, never a stack trace: from the engine, the CLI and the page.

Questions tried: empty, white space only, one character, 100,000 characters, control characters and
lone surrogates, HTML and script text, other languages and scripts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from qa import Answer, BadQuestionError
from qa.engine import MAX_QUESTION_CHARS
from tests.conftest import ROOT, SEEDS
from tests.test_robust_security import _page_fn

pytestmark = [pytest.mark.model, pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")]

HUGE = ("What makes collaboration between organisations hard? " * 2000)[:100_000]
NO_WORDS = ["", "   \n\t  ", "?", "\u200b\u200b\u200b", "\x00\x01\x02", "\ud800\udfff", "🐈 🐕"]
ANSWERED = [
    "a",
    "x",
    HUGE,
    "Why is\x00 there no room\x07 for heroes\x1b[31m in leadership?\r\n",
    "Why is there no room \ud800for heroes\udfff in leadership?",
    "<script>alert('x')</script> What makes collaboration hard?",
    '<img src=x onerror="alert(1)"><b>system leaders</b>',
    "¿Qué hace difícil la colaboración entre organizaciones?",
    "Почему в руководстве нет места героям?",
    "システムリーダーは何人にインタビューしましたか",
    "ما الذي يجعل التعاون صعبا؟",
]


def check_answer(engine, answer) -> None:
    """An answer is either passages that slice out of their documents, or an abstention with a message."""
    assert isinstance(answer, Answer)
    q = answer.question
    assert 0 < len(q) <= MAX_QUESTION_CHARS
    q.encode("utf-8")  # no lone surrogates survive
    assert not any(ord(c) < 32 for c in q), repr(q[:80])
    assert answer.passages or answer.message
    if answer.abstained:
        assert answer.message
    for p in answer.passages:
        text = engine.document(p.source).text
        assert text[p.start : p.end] == p.text
        for a, b in p.highlights:
            assert p.start <= a < b <= p.end
    json.dumps(answer.to_dict(), ensure_ascii=False).encode("utf-8")


# -- engine -------------------------------------------------------------------------------------


@pytest.mark.parametrize("question", NO_WORDS, ids=lambda q: repr(q)[:20])
def test_engine_refuses_questions_without_words_with_a_message(engine, question):
    with pytest.raises(BadQuestionError) as err:
        engine.ask(question)
    assert "Type a question" in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("question", ANSWERED, ids=lambda q: repr(q)[:24])
def test_engine_answers_odd_questions_with_passages_or_an_abstention(engine, question):
    check_answer(engine, engine.ask(question, k=3))


def test_engine_question_of_100000_characters_is_cut_not_choked_on(engine):
    answer = engine.ask(HUGE, k=3)
    assert len(answer.question) == MAX_QUESTION_CHARS
    assert not answer.abstained  # the repeated question is about collaboration, which the seeds answer
    check_answer(engine, answer)


def test_engine_rejects_non_text_questions(engine):
    for bad in (None, 42, b"bytes", ["list"]):
        with pytest.raises(BadQuestionError, match="must be text"):
            engine.ask(bad)


def test_engine_bad_options_are_value_errors_with_the_allowed_values(engine):
    with pytest.raises(ValueError, match="between 1 and 50"):
        engine.ask("Who leads?", k=0)
    with pytest.raises(ValueError, match="hybrid"):
        engine.ask("Who leads?", mode="magic")


# -- CLI in-process -----------------------------------------------------------------------------


def _cli(capsys, *argv):
    from qa.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("question", ["   ", "?!", "\u200b"], ids=["spaces", "punctuation", "zero-width"])
def test_cli_bad_question_exits_non_zero_with_one_line(capsys, seed_index_dir, question):
    code, out, err = _cli(capsys, "ask", question, "--index-dir", str(seed_index_dir), "--corpus", str(SEEDS))
    assert code != 0 and out == ""
    assert "Type a question" in _one_line_error(err)


@pytest.mark.parametrize("question", ["a", "<script>alert(1)</script> heroes?", "Почему нет места героям?"])
def test_cli_odd_questions_are_answered(capsys, seed_index_dir, question):
    code, out, err = _cli(capsys, "ask", question, "--json", "--index-dir", str(seed_index_dir), "--corpus", str(SEEDS))
    assert code == 0, err
    assert "Traceback" not in err
    data = json.loads(out)
    assert data["passages"] or data["message"]


@pytest.mark.parametrize(
    "extra, expect",
    [
        (["--k", "0"], "between 1 and 50"),
        (["--source", "../../etc/passwd"], "Not in the index"),
        (["--source", "/etc/passwd"], "Not in the index"),
    ],
)
def test_cli_bad_options_exit_non_zero_with_one_line(capsys, seed_index_dir, extra, expect):
    code, out, err = _cli(capsys, "ask", "Who leads?", "--index-dir", str(seed_index_dir), "--corpus", str(SEEDS), *extra)
    assert code != 0 and out == ""
    assert expect in _one_line_error(err)


def test_cli_unexpected_failure_is_one_line_not_a_traceback(capsys, seed_index_dir, monkeypatch):
    from qa.engine import Engine

    def boom(self, *a, **k):
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr(Engine, "ask", boom)
    code, out, err = _cli(capsys, "ask", "Who leads?", "--index-dir", str(seed_index_dir), "--corpus", str(SEEDS))
    assert code != 0
    line = _one_line_error(err)
    assert "disk on fire" in line and "-v" in line


# -- CLI as a real process (each costs an interpreter start; the model is loaded only for the last) --


def _run(args: list, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
    return subprocess.run([sys.executable, "-m", "qa", *args], cwd=ROOT, env=env, capture_output=True, timeout=timeout)


@pytest.mark.parametrize(
    "question",
    [b"", b"\xff\xfe\x01 \xc3"],  # empty; invalid UTF-8 bytes arrive as lone surrogates
    ids=["empty", "invalid-utf8"],
)
def test_cli_process_bad_question_exit_code_and_message(seed_index_dir, question):
    r = _run([b"ask", question, b"--index-dir", os.fsencode(seed_index_dir), b"--corpus", os.fsencode(SEEDS)])
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode == 2, err
    assert r.stdout == b""
    assert "Type a question" in _one_line_error(err)


def test_cli_process_answers_a_100000_character_question_with_markup(seed_index_dir):
    question = "<script>alert(1)</script>\x07 " + HUGE
    r = _run(["ask", question, "--json", "--k", "3", "--index-dir", str(seed_index_dir), "--corpus", str(SEEDS)])
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode == 0, err
    assert "Traceback" not in err
    data = json.loads(r.stdout)
    assert len(data["question"]) == MAX_QUESTION_CHARS
    docs = {p.name: p.read_text(encoding="utf-8") for p in SEEDS.glob("*.txt")}
    assert data["passages"]
    for p in data["passages"]:
        assert docs[p["source"]][p["start"] : p["end"]] == p["text"]


# -- the page ------------------------------------------------------------------------------------




@pytest.mark.parametrize(
    "question",
    ["", "   ", "?", "a", "\x00\x07 leaders\x1b[0m", "\ud800 leaders \udfff", "<script>alert(1)</script>",
     "Почему нет места героям?", "heroes " * 15_000],
    ids=["empty", "spaces", "punctuation", "one-char", "control", "surrogates", "script", "russian", "100k"],
)
def test_page_chat_gives_a_message_or_an_answer_never_an_exception(served, question):
    demo, _ = served
    respond = _page_fn(demo, "respond")
    add_question = _page_fn(demo, "add_question")
    _, turns, html, pending = add_question(question, [])
    assert "<script>alert" not in html  # the question is shown escaped
    turns, html, *_ = respond(pending, turns, [], 5, "hybrid")
    if not question.strip():
        assert turns == []  # nothing asked, nothing answered
        return
    reply = turns[-1]
    assert reply.kind in ("answer", "error") and reply.html
    assert "<script>alert" not in reply.html and "Traceback" not in reply.html
    if question in ("?",):
        assert reply.kind == "error" and "Type a question" in reply.html


@pytest.mark.parametrize(
    "question, error",
    [("", "question is empty"), ("  \t ", "question is empty"), ("?!", "no words"), ("\u200b", "question is empty")],
)
def test_page_api_refuses_bad_questions_with_a_message(served, question, error):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    c = Client(f"http://127.0.0.1:{served[1]}/", verbose=False)
    with pytest.raises(AppError, match=error):
        c.predict(question, 5, "hybrid", [], api_name="/ask")


def test_page_api_answers_odd_questions(served, engine):
    from gradio_client import Client

    c = Client(f"http://127.0.0.1:{served[1]}/", verbose=False)
    for q in ("a", "<script>alert(1)</script> heroes", "\x07control\x1b[0m leaders", "lead " * 20_000, "¿Quién dirige?"):
        got = c.predict(q, 3, "hybrid", [], api_name="/ask")
        assert got["passages"] or got["message"]
        for p in got["passages"]:
            assert engine.document(p["source"]).text[p["start"] : p["end"]] == p["text"]


@pytest.mark.parametrize(
    "args, error",
    [
        ((5, "hybrid", ["../../etc/passwd"]), "No indexed document named"),
        ((5, "hybrid", ["/etc/passwd"]), "No indexed document named"),
        ((10**9, "hybrid", []), "between 1 and 50"),
        ((5, "<script>", []), "Unknown retrieval mode"),
    ],
)
def test_page_api_refuses_bad_options_with_a_message(served, args, error):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    c = Client(f"http://127.0.0.1:{served[1]}/", verbose=False)
    with pytest.raises(AppError, match=error):
        c.predict("Who leads the system?", *args, api_name="/ask")
