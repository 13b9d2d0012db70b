"""The evaluation set, the hit rule, the metric arithmetic, the output files and the eval command."""

from __future__ import annotations

import dataclasses
import json
import math
from collections import Counter
from pathlib import Path

import pytest

from qa.errors import EvalSetError
from qa.ingest.load import load_folder
from qa.measure import cli as measure_cli
from qa.measure import ranking
from qa.measure import evals, evalset
from qa.measure import report as evalreport
from qa.measure.evals import Result
from qa.measure.evalset import Question, Target

ROOT = Path(__file__).resolve().parent.parent.parent
SEEDS = ROOT / "seeds"
QUESTIONS = ROOT / "evals" / "questions.jsonl"


@pytest.fixture(scope="module")
def docs():
    loaded, _ = load_folder(SEEDS)
    return {d.source: d for d in loaded}


@pytest.fixture(scope="module")
def questions():
    return evalset.load_questions(QUESTIONS)


# -- the question set ---------------------------------------------------------------------------------


def test_every_evidence_is_verbatim_in_its_source(questions, docs):
    raw = {p.name: p.read_text(encoding="utf-8") for p in SEEDS.iterdir() if p.suffix == ".txt"}
    missing = []
    for q in questions:
        for t in q.targets:
            if t.source not in docs or t.evidence not in docs[t.source].text or t.evidence not in raw[t.source]:
                missing.append((q.id, t.source, t.evidence[:60]))
    assert not missing, missing
    located = evalset.locate(questions, lambda s: docs[s].text)
    for q in located:
        for t in q.targets:
            assert docs[t.source].text[t.start : t.end] == t.evidence


def test_evidence_length_and_ids(questions):
    assert len({q.id for q in questions}) == len(questions)
    for q in questions:
        for t in q.targets:
            assert 40 <= len(t.evidence) <= 200, (q.id, len(t.evidence))


def test_dataset_shape(questions, docs):
    inscope = [q for q in questions if not q.out_of_scope]
    assert len(inscope) >= 100
    per_doc = Counter(q.targets[0].source for q in inscope)
    assert set(per_doc) == set(docs), "every document has questions"
    for source, doc in docs.items():
        if doc.kind == "article":
            assert per_doc[source] >= 6, source
    assert sum(1 for q in inscope if {t.source for t in q.targets} != {q.targets[0].source}) >= 5, "answers in two documents"
    oos = [q for q in questions if q.out_of_scope]
    assert len(oos) >= 3 and all(not q.targets for q in oos)
    dev = sum(q.split == "dev" for q in questions)
    test = sum(q.split == "test" for q in questions)
    assert dev + test == len(questions)
    assert 0.55 <= dev / len(questions) <= 0.65
    assert evalset.mean_overlap(questions) < 0.35


def test_every_section_of_the_reports_is_asked_about(questions, docs):
    for doc in docs.values():
        if doc.kind != "report":
            continue
        tops = [h for h in doc.headings if h.level <= 1]
        asked = Counter()
        for q in questions:
            for t in q.targets:
                if t.source == doc.source:
                    at = doc.text.find(t.evidence)
                    i = max((j for j, h in enumerate(tops) if h.start <= at), default=None)
                    asked[i] += 1
        for i, h in enumerate(tops):
            body = (tops[i + 1].start if i + 1 < len(tops) else len(doc.text)) - h.end
            back = any(a <= h.end < b for a, b in doc.back_matter)  # references, about the author: not for answers
            if body >= 500 and not back:  # sections of a few lines (titles, signposts) are left out
                assert asked[i] > 0, (doc.source, h.title)


def test_word_overlap_definition():
    # content words of the question: capital, france (what/is/the are stop words); only "france" is in the evidence
    assert evalset.content_words("What is the capital of France?") == {"capital", "france"}
    assert evalset.word_overlap("What is the capital of France?", "Paris is in France.") == 0.5
    assert evalset.word_overlap("Who said it?", "anything") == 0.0


@pytest.mark.parametrize(
    "line, message",
    [
        ("{not json", "not valid JSON"),
        ('{"id": "x", "question": "q?", "source": "a.txt"}', "evidence"),
        ('{"id": "x", "question": "q?", "source": "a.txt", "evidence": "e", "split": "train"}', "split"),
        ('{"id": "x", "question": "q?", "source": "a.txt", "evidence": "e", "also": "b.txt"}', "also"),
    ],
)
def test_bad_question_files_say_what_to_fix(tmp_path, line, message):
    path = tmp_path / "q.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(EvalSetError, match=message):
        evalset.load_questions(path)


def test_evidence_not_in_document_is_refused():
    q = Question("q1", "Where?", (Target("a.txt", "not there at all"),))
    with pytest.raises(EvalSetError, match="not verbatim"):
        evalset.locate([q], lambda s: "some other text")


# -- the hit rule -------------------------------------------------------------------------------------

EVIDENCE = [Target("a.txt", "x" * 40, 100, 140), Target("b.txt", "y" * 60, 500, 560)]


@pytest.mark.parametrize(
    "source, start, end, expected",
    [
        ("a.txt", 0, 120, 0),  # covers exactly half (100..120 of 100..140)
        ("a.txt", 0, 119, None),  # one character short of half
        ("a.txt", 120, 300, 0),  # the other half
        ("a.txt", 101, 139, 0),  # inside the evidence, 38 of 40
        ("b.txt", 100, 140, None),  # right span, wrong file
        ("c.txt", 0, 10_000, None),  # wrong file, whatever the span
        ("b.txt", 530, 900, 1),  # the `also` evidence, exactly half of 60
        ("b.txt", 531, 900, None),
        ("a.txt", 140, 200, None),  # touching at the end is no overlap
    ],
)
def test_hit_rule(source, start, end, expected):
    assert evalset.hit_target(source, start, end, EVIDENCE) == expected


# -- metrics on a hand-made run -----------------------------------------------------------------------


def fake(qid: str, hits: list[bool], answer_hit: bool = False, confidence: float = 0.5, abstained: bool = False, ms: float = 10.0):
    results = tuple({"source": "a.txt", "start": i * 10, "end": i * 10 + 10, "score": 1.0 - i / 10} for i in range(len(hits)))
    return Result(qid, "hybrid", results, tuple(0 if h else None for h in hits), tuple(hits), answer_hit, "", confidence,
                  abstained, ms)


def test_metric_arithmetic_by_hand():
    qs = [Question(f"q{i}", "?", (Target("a.txt", "e", 0, 1),), "dev") for i in range(4)]
    qs.append(Question("oos", "?", (), "dev", True))
    rs = [
        fake("q0", [True, False, False], answer_hit=True),  # rank 1
        fake("q1", [False, False, True, True]),  # rank 3; the second hit must not count again
        fake("q2", [False] * 10),  # never
        fake("q3", [False, True], answer_hit=True, abstained=True),  # rank 2, wrongly abstained
        fake("oos", [False], abstained=True, ms=30.0),
    ]
    m = evals.retrieval_metrics(qs, rs, k=10)
    assert m["questions"] == 4
    assert m["recall@1"] == pytest.approx(1 / 4)
    assert m["recall@3"] == pytest.approx(3 / 4)
    assert m["recall@10"] == pytest.approx(3 / 4)
    assert m["mrr@10"] == pytest.approx((1 + 1 / 3 + 0 + 1 / 2) / 4)
    assert m["ndcg@10"] == pytest.approx((1 + 1 / math.log2(4) + 0 + 1 / math.log2(3)) / 4)
    assert m["doc_hit@1"] == pytest.approx(1 / 4)
    assert m["doc_hit@5"] == pytest.approx(3 / 4)
    assert m["answer_hit"] == pytest.approx(2 / 4)
    assert m["abstain_precision"] == pytest.approx(1 / 2)  # two abstentions, one of them right
    assert m["abstain_recall"] == pytest.approx(1.0)
    assert m["p50_ms"] == pytest.approx(10.0)
    rs[2] = dataclasses.replace(rs[2], second_hit=True)  # the reply's second sentence answers q2
    rs[0] = dataclasses.replace(rs[0], second_hit=True)  # both lines answer q0: counted once
    assert evals.retrieval_metrics(qs, rs, k=10)["sentence_or_next"] == pytest.approx(3 / 4)


def test_calibrate_separates_confidences():
    qs = [Question(f"q{i}", "?", (Target("a.txt", "e", 0, 1),), "dev") for i in range(3)]
    qs += [Question(f"o{i}", "?", (), "dev", True) for i in range(2)]
    rs = {"q0": 0.6, "q1": 0.5, "q2": 0.3, "o0": 0.2, "o1": 0.35}
    # Candidates are midpoints between neighbouring confidences. 0.25 answers every real question but lets o1
    # through (balanced accuracy 0.75); 0.425 refuses both out-of-scope ones but also q2 ((2/3 + 1) / 2 = 0.833).
    c = evals.calibrate(qs, rs)  # at most 5% of real questions refused: q2 must be answered
    assert c["threshold"] == pytest.approx(0.25)
    assert c["balanced_accuracy"] == pytest.approx(0.75)
    c = evals.calibrate(qs, rs, max_refused=0.5)
    assert c["threshold"] == pytest.approx(0.425)
    assert c["balanced_accuracy"] == pytest.approx(5 / 6)
    assert c["in_scope_answered"] == pytest.approx(2 / 3) and c["out_of_scope_abstained"] == 1.0


# -- output files -------------------------------------------------------------------------------------


def test_run_and_trec_files_read_back(tmp_path):
    qs = [Question(f"q{i}", "?", (Target("a.txt", "e", 0, 1),), "dev") for i in range(3)]
    rs = {"hybrid": [fake("q0", [False, True]), fake("q1", [True]), fake("q2", [False, False, False])]}
    (run_path,) = evalreport.write_run(tmp_path / "run.jsonl", rs)
    lines = [json.loads(line) for line in run_path.read_text().splitlines()]
    assert [x["id"] for x in lines] == ["q0", "q1", "q2"]
    assert lines[0]["results"][0] == {"source": "a.txt", "start": 0, "end": 10, "score": 1.0}
    trec, qrels = evalreport.write_trec(tmp_path / "run.trec", qs, rs)
    rows = [line.split() for line in trec.read_text().splitlines()]
    assert all(len(r) == 6 and r[1] == "Q0" for r in rows)
    assert [r[2] for r in rows if r[0] == "q0"][1] == "q0::evidence"
    assert qrels.read_text().splitlines()[0] == "q0 0 q0::evidence 1"
    run, judged = ranking.read_trec_run(trec), ranking.read_qrels(qrels)
    assert run["q0"][:2] == [rows[0][2], "q0::evidence"]  # ranked by score as written
    assert ranking.recall(run, judged, 1) == pytest.approx(1 / 3)
    assert ranking.mrr(run, judged, 10) == pytest.approx((1 / 2 + 1) / 3)
    m = evals.retrieval_metrics(qs, rs["hybrid"], k=10)  # what the files give is what the eval reports
    assert (m["recall@1"], m["mrr@10"], m["ndcg@10"]) == pytest.approx(
        (ranking.recall(run, judged, 1), ranking.mrr(run, judged, 10), ranking.ndcg(run, judged, 10)))


# -- the command, end to end on a few questions -------------------------------------------------------


def test_eval_command_end_to_end(engine, tmp_path, capsys):
    picked = [json.loads(x) for x in QUESTIONS.read_text().splitlines()]
    picked = [q for q in picked if q["id"] in ("pr-001", "pr-003", "kf-001", "oos-01")] + [
        q for q in picked if q.get("split") == "test"][:3]
    qfile = tmp_path / "few.jsonl"
    qfile.write_text("\n".join(json.dumps(q) for q in picked) + "\n")
    args = measure_cli.parser("eval").parse_args([
        "--questions", str(qfile), "--mode", "all", "--k", "10", "--no-progress",
        "--run", str(tmp_path / "run.jsonl"), "--trec", str(tmp_path / "run.trec"), "--report", str(tmp_path / "r" / "report.md"),
    ])
    assert measure_cli.eval_main(args, engine=engine) == 0
    out = capsys.readouterr().out
    assert "| dev | hybrid |" in out and "| test | bm25 |" in out
    summary = json.loads((tmp_path / "r" / "report.json").read_text())
    assert set(summary["metrics"]) == {"dev", "test"}
    assert set(summary["metrics"]["dev"]) == {"hybrid", "dense", "bm25"}
    for mode in ("hybrid", "dense", "bm25"):
        run_lines = (tmp_path / f"run.{mode}.jsonl").read_text().splitlines()
        assert len(run_lines) == len(picked)
        first = json.loads(run_lines[0])
        assert len(first["results"]) == 10
        r0 = first["results"][0]
        assert engine.document(r0["source"]).text[r0["start"] : r0["end"]]
        assert (tmp_path / f"run.{mode}.trec").exists()
    report = (tmp_path / "r" / "report.md").read_text()
    assert "# Retrieval evaluation" in report and "## Failures: hybrid" in report
    # what the command reports is what the hit rule says about Engine.ask
    qs = evalset.locate(evalset.load_questions(qfile), lambda s: engine.document(s).text)
    q = next(x for x in qs if x.id == "pr-001")
    hits = [evalset.hit_target(p.source, p.start, p.end, q.targets) for p in engine.ask(q.question, k=10).passages]
    r1 = next((i for i, h in enumerate(hits) if h is not None), None) == 0
    line = json.loads((tmp_path / "run.hybrid.jsonl").read_text().splitlines()[0])
    assert line["id"] == "pr-001"
    assert (evalset.hit_target(line["results"][0]["source"], line["results"][0]["start"], line["results"][0]["end"], q.targets) is not None) == r1


def test_unsearchable_question_names_its_id(engine):
    q = Question("bad-1", "?!", (Target("000_ca9353bd9b097081.txt", "x", 0, 1),))
    with pytest.raises(EvalSetError, match="bad-1"):
        evals.ask_one(engine, q, "hybrid", 5)
