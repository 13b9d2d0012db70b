"""Feedback is appended, one JSON line per verdict, and never rewrites what is already there."""

import json
import threading

import pytest

from qa.page import feedback

ANSWER = {
    "question": "Who leads <Surrey>?",
    "abstained": False,
    "mode": "hybrid",
    "passages": [
        {"source": "a.txt", "start": 10, "end": 90, "score": 0.03, "text": "…",
         "highlights": [{"start": 20, "end": 40, "score": 0.7}]},
        {"source": "b.txt", "start": 0, "end": 50, "score": 0.02, "text": "…", "highlights": []},
    ],
}


def test_record_appends_question_spans_and_verdict(tmp_path):
    path = tmp_path / "new" / "folder" / "fb.jsonl"
    feedback.record(path, ANSWER, "not helpful", k=5, sources=["a.txt"])
    first = path.read_bytes()
    feedback.record(path, ANSWER, "helpful", k=3)
    assert path.read_bytes().startswith(first)  # the first line is untouched
    lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    assert [x["verdict"] for x in lines] == ["not helpful", "helpful"]
    assert lines[0]["question"] == "Who leads <Surrey>?"
    assert lines[0]["sources"] == ["a.txt"] and lines[0]["k"] == 5 and lines[0]["mode"] == "hybrid"
    assert lines[0]["passages"] == [
        {"source": "a.txt", "start": 10, "end": 90, "score": 0.03, "highlights": [[20, 40]]},
        {"source": "b.txt", "start": 0, "end": 50, "score": 0.02, "highlights": []},
    ]
    assert list(feedback.read(path)) == lines


def test_bad_verdict_is_refused_and_nothing_is_written(tmp_path):
    path = tmp_path / "fb.jsonl"
    with pytest.raises(ValueError, match="'helpful', 'not helpful'"):
        feedback.record(path, ANSWER, "meh")
    assert not path.exists()


def test_path_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("QA_FEEDBACK", str(tmp_path / "env.jsonl"))
    feedback.record(None, ANSWER, "helpful")
    assert len((tmp_path / "env.jsonl").read_text().splitlines()) == 1
    assert feedback.feedback_path("x.jsonl").name == "x.jsonl"


def test_concurrent_appends_each_land_whole(tmp_path):
    path = tmp_path / "fb.jsonl"
    threads = [threading.Thread(target=feedback.record, args=(path, ANSWER, "helpful")) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(list(feedback.read(path))) == 20
    assert len(path.read_text().splitlines()) == 20


def test_a_torn_last_line_is_skipped_on_read_and_later_lines_still_append(tmp_path):
    path = tmp_path / "fb.jsonl"
    feedback.record(path, ANSWER, "helpful")
    with open(path, "a") as f:
        f.write('{"question": "cut sho')  # a crash mid-write
    feedback.record(path, ANSWER, "not helpful")
    assert [x["verdict"] for x in feedback.read(path)] == ["helpful", "not helpful"]
    assert path.read_text().splitlines()[1] == '{"question": "cut sho'  # kept as it was, never rewritten


ANSWER_WITH_TEXT = {
    "question": "Who leads Surrey?",
    "abstained": False,
    "mode": "hybrid",
    "passages": [
        {"source": "a.txt", "start": 10, "end": 40, "score": 0.03, "text": "Dr Claire Fuller leads Surrey.",
         "highlights": [{"start": 10, "end": 40, "score": 0.7}]},
    ],
}


def test_thumbs_down_saves_the_reason_and_comment_with_the_verdict(tmp_path):
    path = tmp_path / "fb.jsonl"
    line = feedback.record(path, ANSWER_WITH_TEXT, "not helpful", k=5, reason="wrong source",
                           comment="  cites the\nwrong report ", build="b-1", lead=[["a.txt", 10, 40]])
    assert line["reason"] == "wrong source" and line["comment"] == "cites the wrong report" and line["build"] == "b-1"
    assert line["lead"] == [{"source": "a.txt", "start": 10, "end": 40, "text": "Dr Claire Fuller leads Surrey."}]
    assert list(feedback.read(path)) == [line]
    with pytest.raises(ValueError, match="reason must be one of"):
        feedback.record(path, ANSWER_WITH_TEXT, "not helpful", reason="meh")
    assert len(list(feedback.read(path))) == 1


def test_export_candidates_turns_verdicts_into_eval_questions_for_review(tmp_path):
    path = tmp_path / "fb.jsonl"
    feedback.record(path, ANSWER_WITH_TEXT, "helpful", k=5, lead=[["a.txt", 10, 40]])
    feedback.record(path, ANSWER, "not helpful", k=5, reason="not answered", comment="no")
    feedback.record(path, ANSWER_WITH_TEXT, "not helpful", k=5, reason="partly answered", lead=[["a.txt", 10, 40]])
    got = feedback.export_candidates(path)
    assert [c["question"] for c in got] == ["Who leads Surrey?", "Who leads <Surrey>?"]
    first = got[0]
    # the evals/questions.jsonl fields, plus a flag for the person who reviews them
    assert {k: first[k] for k in ("question", "source", "evidence", "split", "review")} == {
        "question": "Who leads Surrey?", "source": "a.txt", "evidence": "Dr Claire Fuller leads Surrey.",
        "split": "", "review": True}
    assert first["id"].startswith("fb-") and first["verdict"] == "not helpful" and first["reason"] == "partly answered"
    assert got[1]["source"] == "a.txt" and got[1]["evidence"] == "" and got[1]["comment"] == "no"
    assert len({c["id"] for c in got}) == 2
    json.dumps(got)  # one JSON line each, as questions.jsonl holds them
    assert feedback.export_candidates(tmp_path / "none.jsonl") == []
