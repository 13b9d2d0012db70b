"""The command line: one line per error, plain imports, and asking never loads the measuring wing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from qa.cli import main as cli_main

ROOT = Path(__file__).resolve().parent.parent


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit):
        cli_main(["--help"])
    out = capsys.readouterr().out
    for name in ("index", "ask", "eval", "bench"):
        assert name in out


def test_asking_imports_nothing_from_the_measuring_wing():
    code = (
        "import sys, qa.cli, qa.engine, app; "
        "bad = sorted(m for m in sys.modules if m.startswith('qa.measure') or m in ('scipy', 'matplotlib', 'resource')); "
        "print(bad)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_eval_and_bench_options_are_parsed_by_the_measuring_wing(capsys):
    with pytest.raises(SystemExit) as e:
        cli_main(["eval", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "--calibrate" in out and "--index-dir" in out
    assert cli_main(["bench", "--sections", "nope"]) == 2
    assert "Unknown bench section" in capsys.readouterr().err


def test_a_missing_measuring_extra_says_how_to_install_it(monkeypatch, capsys):
    import builtins

    real = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.endswith("measure") or "measure." in name:
            raise ImportError("No module named 'matplotlib'", name="matplotlib")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    assert cli_main(["eval"]) == 2
    err = capsys.readouterr().err
    assert "pip install -e '.[measure]'" in err and err.count("\n") == 1


def test_unknown_options_of_runtime_commands_are_refused(capsys):
    with pytest.raises(SystemExit) as e:
        cli_main(["ask", "why?", "--nope"])
    assert e.value.code == 2
    assert "unrecognized arguments: --nope" in capsys.readouterr().err


def test_cli_errors_are_one_line_and_exit_non_zero(tmp_path, capsys):
    code = cli_main(["ask", "   ", "--index-dir", str(tmp_path / "none"), "--corpus", str(tmp_path / "missing")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.model
def test_cli_ask_json_has_every_field(seed_index_dir, capsys):
    code = cli_main(["ask", "Who is Dr Claire Fuller?", "--k", "2", "--json", "--index-dir", str(seed_index_dir), "--corpus", str(ROOT / "seeds")])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["question"] == "Who is Dr Claire Fuller?" and len(out["passages"]) == 2
    p = out["passages"][0]
    assert set(p) >= {"source", "title", "section", "start", "end", "score", "text", "highlights", "citation"}
    text = open(ROOT / "seeds" / p["source"], encoding="utf-8").read()
    assert text[p["start"] : p["end"]] == p["text"]
    assert all(p["start"] <= h["start"] < h["end"] <= p["end"] for h in p["highlights"])


@pytest.mark.model
def test_console_command_runs_as_a_module(seed_index_dir):
    r = subprocess.run(
        [sys.executable, "-m", "qa", "ask", "Which place in New Zealand is held up as an example?", "--k", "1",
         "--index-dir", str(seed_index_dir), "--corpus", str(ROOT / "seeds")],
        capture_output=True, text=True, timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "Canterbury" in r.stdout
    assert "[1] Systems leadership" in r.stdout


@pytest.mark.model
def test_index_a_folder_then_ask_answers_from_that_folder(tiny_corpus, tmp_path, capsys, monkeypatch):
    """The README's sequence: `qa index FOLDER` then `qa ask "..."` with no --corpus."""
    monkeypatch.setenv("QA_INDEX_DIR", str(tmp_path / "ix"))
    assert cli_main(["index", str(tiny_corpus)]) == 0
    assert cli_main(["ask", "When should roses be pruned?", "--k", "1", "--json"]) == 0
    out = capsys.readouterr().out
    answer = json.loads(out[out.index("{"):])
    assert answer["passages"][0]["source"] == "page.html"
    # naming another folder is refused with what to run, and the index is left as it was
    assert cli_main(["ask", "When should roses be pruned?", "--corpus", str(ROOT / "seeds")]) == 2
    err = capsys.readouterr().err
    assert "was built from" in err and "python -m qa index" in err


def test_feedback_export_prints_candidate_questions(tmp_path, capsys):
    from qa.page import feedback

    path = tmp_path / "feedback.jsonl"
    answer = {"question": "Who leads Surrey?", "passages": [{"source": "a.txt", "start": 0, "end": 5, "score": 1.0, "text": "Alice"}]}
    feedback.record(path, answer, "not helpful")
    assert cli_main(["feedback", "export", "--feedback", str(path)]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(lines) == 1 and lines[0]["question"] == "Who leads Surrey?" and lines[0]["review"] is True
    assert cli_main(["feedback", "export", "--feedback", str(path), "--out", str(tmp_path / "c.jsonl")]) == 0
    assert json.loads((tmp_path / "c.jsonl").read_text())["source"] == "a.txt"


def test_candidates_zero_is_refused_not_taken_for_the_default():
    import argparse

    from qa.options import settings_from_args

    with pytest.raises(ValueError, match="candidates must be at least 1"):
        settings_from_args(argparse.Namespace(candidates=0))
    assert settings_from_args(argparse.Namespace(candidates=30)).retrieval.candidates == 30
    assert settings_from_args(argparse.Namespace(sentence_passages=1, no_spelling=True)).rerank.sentence_passages == 1
    assert settings_from_args(argparse.Namespace(no_spelling=True)).retrieval.spelling is False


def test_a_passage_shown_out_of_the_rerankers_order_says_where_it_ranked():
    from qa.cli import format_answer
    from qa.config import AnswerSettings
    from qa.search.answer import make_answer
    from tests.search.test_lead import hit

    made = [hit([0.9, 0.5, 0.6, 0.1], [0, 0, 0, 0], [0, 0, 0, 0], rerank=6.0, source="a.txt"),
            hit([0.1, 0.5, 0.2, 0.9], [0, 0, 0, 9], [0, 0, 0, 0], rerank=2.0, source="b.txt")]
    answer = make_answer("Which boards meet in public?", [h for _, h in made], {d.source: d for d, _ in made}, "hybrid",
                         AnswerSettings(lead_weights=(("cross", 1.0),)))
    lines = [line for line in format_answer(answer).splitlines() if line.startswith("[")]
    assert lines[0].endswith("score 2.0000 (ranked 2)") and lines[1].endswith("score 6.0000 (ranked 1)")
