"""`qa eval --squad FILE`: a SQuAD-format file as a corpus and exact answer spans, the BM25 sentence baseline, the errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa.errors import EvalSetError
from qa.ingest.load import load_folder, read_document
from qa.measure import cli as measure_cli
from qa.index.build_dirs import sha256_file
from qa.measure import sentence_bm25, squad, squad_set

FIRST = "\ufeffThe Thames flows through London.\r\nIt reaches the North Sea at Southend. Bats carry 2 viruses here."
SECOND = "A barrier protects London from tidal surges. It opened in 1982, and 2 gates close often."
THIRD = "Rivers in Wales: the Severn is the longest river in Britain. It rises in the 2 hills of Plynlimon."


def at(context: str, text: str, nth: int = 0) -> int:
    i = -1
    for _ in range(nth + 1):
        i = context.index(text, i + 1)
    return i


def synthetic() -> dict:
    return {"version": "test", "data": [
        {"title": "Thames – río", "paragraphs": [
            {"context": FIRST, "qas": [
                {"id": "q1", "question": "Where does the Thames reach the sea?", "is_impossible": False, "answers": [
                    {"text": "the North Sea at Southend", "answer_start": at(FIRST, "the North Sea")},
                    {"text": "the North Sea at Southend", "answer_start": at(FIRST, "the North Sea")}]},  # duplicate
                {"id": "q2", "question": "How many viruses?", "answers": [{"text": "2", "answer_start": at(FIRST, "2")}]},
                {"id": "q3", "question": "What is the capital of Mars?", "is_impossible": True, "answers": []},
            ]},
            {"context": SECOND, "qas": [
                {"id": "q4", "question": "When did the barrier open?", "answers": [
                    {"text": "1982", "answer_start": at(SECOND, "1982")}]},
                # the second "2" of the article, not the first occurrence of the text
                {"id": "q5", "question": "How many gates close?", "answers": [{"text": "2", "answer_start": at(SECOND, "2 gates")}]},
                {"id": "q6", "question": "What does the barrier protect from?", "answers": [
                    {"text": " tidal surges", "answer_start": at(SECOND, "tidal")}]},  # leading space skipped by the offset
            ]},
        ]},
        {"paragraphs": [{"document_id": 4711, "context": THIRD, "qas": [
            {"id": "q7", "question": "Which river is the longest in Britain?", "answers": [
                {"text": "the Severn", "answer_start": at(THIRD, "the Severn")}]},
            {"id": "q8", "question": "Where does it rise?", "answers": [
                {"text": "Plynlimon", "answer_start": 3}]},  # wrong offset, nowhere near: skipped
        ]}]},
    ]}


@pytest.fixture
def squad_file(tmp_path) -> Path:
    path = tmp_path / "tiny-squad.json"
    path.write_text(json.dumps(synthetic(), ensure_ascii=False), encoding="utf-8")
    return path


def test_the_corpus_reads_back_so_every_answer_slices_exactly(squad_file, tmp_path):
    s = squad_set.parse(squad_set.read_squad(squad_file))
    assert [a.name for a in s.articles] == ["000_Thames-rio.txt", "001_4711.txt"]
    assert all(a.name.isascii() for a in s.articles)
    folder = squad_set.write_corpus(s.articles, tmp_path / "corpus")
    docs = {d.source: d for d in load_folder(folder)[0]}
    assert {n: d.text for n, d in docs.items()} == {a.name: a.text for a in s.articles}
    one = read_document(folder / "000_Thames-rio.txt", "000_Thames-rio.txt")
    assert one.text.startswith("The Thames") and "\r" not in one.text  # the byte-order mark dropped, CR LF read as LF
    assert "Bats carry 2 viruses here.\n\nA barrier protects" in one.text  # paragraphs joined by a blank line

    by_id = {q.id: q for q in s.questions}
    assert sorted(by_id) == ["q1", "q2", "q4", "q5", "q6", "q7"]
    expected = {"q1": "the North Sea at Southend", "q2": "2", "q4": "1982", "q5": "2", "q6": "tidal surges", "q7": "the Severn"}
    for qid, answer in expected.items():
        (t,) = by_id[qid].targets  # q1's duplicate answer kept once
        assert t.evidence == answer
        assert docs[t.source].text[t.start : t.end] == answer
        assert by_id[qid].split == "all"
    text = docs["000_Thames-rio.txt"].text
    q5 = by_id["q5"].targets[0]
    assert q5.start == text.index("2 gates") != text.index("2")  # the offset's "2", not the first one
    assert by_id["q7"].targets[0].source == "001_4711.txt"
    c = s.counts
    assert (c.questions_in_file, c.impossible, c.no_valid_answer) == (8, 1, 1)
    assert (c.answers, c.answers_duplicate, c.answers_mismatched, c.answers_repaired) == (8, 1, 1, 1)


def test_writing_again_leaves_the_files_alone(squad_file, tmp_path):
    s = squad_set.parse(squad_set.read_squad(squad_file))
    folder = squad_set.write_corpus(s.articles, tmp_path / "corpus")
    (folder / "999_old.txt").write_text("left over", encoding="utf-8")
    before = {p.name: p.stat().st_mtime_ns for p in folder.glob("*.txt") if p.name != "999_old.txt"}
    squad_set.write_corpus(s.articles, folder)
    assert {p.name: p.stat().st_mtime_ns for p in folder.glob("*.txt")} == before


def test_the_cache_folder_is_keyed_by_the_files_hash(squad_file, tmp_path, monkeypatch):
    monkeypatch.setenv("QA_CACHE_DIR", str(tmp_path / "cache"))
    sha = sha256_file(squad_file)
    assert squad_set.cache_folder(sha) == tmp_path / "cache" / "squad" / sha[:12]


def test_the_sentence_baseline_ranks_the_right_sentence_first(squad_file, tmp_path):
    s = squad_set.parse(squad_set.read_squad(squad_file))
    docs, _ = load_folder(squad_set.write_corpus(s.articles, tmp_path / "corpus"))
    index = sentence_bm25.SentenceBM25(docs)
    assert len(index.sentences) >= 6
    q7 = next(q for q in s.questions if q.id == "q7")
    top = index.rank(q7.question, k=5)
    text = {d.source: d.text for d in docs}
    assert text[top[0].source][top[0].start : top[0].end] == "Rivers in Wales: the Severn is the longest river in Britain."
    (r,) = sentence_bm25.run_baseline(index, [q7], k=5)
    assert r.hits[0]
    f = squad.baseline_figures([r])
    assert (f.r1, f.r5, f.lead, f.unit) == (1.0, 1.0, 1.0, "sentences")
    assert index.rank("zebra quokka", k=5) == []  # no word in common: nothing ranked


def test_a_missing_file_says_where_to_get_it(tmp_path):
    with pytest.raises(EvalSetError, match="deepset-ai/COVID-QA") as e:
        measure_cli.main("eval", ["--squad", str(tmp_path / "nope.json")])
    assert "200423_covidQA.json" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("content, says", [
    ("{not json", "not valid JSON"),
    ('{"data": []}', "not in SQuAD format"),
    ('{"data": [{"paragraphs": [{"context": "x", "qas": [{"question": "q", "answers": [{"text": "x"}]}]}]}]}',
     "answer_start"),
])
def test_a_file_not_in_squad_format_is_refused_clearly(tmp_path, content, says):
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(EvalSetError, match=says):
        measure_cli.main("eval", ["--squad", str(path)])


def test_the_command_end_to_end_without_a_model(squad_file, tmp_path, monkeypatch, capsys):
    """The whole command on the bag-of-words stand-in for the model: a table with our row and the baseline's."""
    from qa.engine import Engine
    from tests.fakes import FakeEmbedder, model_free_settings

    monkeypatch.setenv("QA_CACHE_DIR", str(tmp_path / "cache"))
    home = squad_set.cache_folder(sha256_file(squad_file))
    corpus = squad_set.write_corpus(squad_set.parse(squad_set.read_squad(squad_file)).articles, home / "corpus")
    engine = Engine(corpus=corpus, index_dir=home / "index", embedder=FakeEmbedder(), settings=model_free_settings(),
                    switch_corpus=True, preload=False)
    args = measure_cli.parser("eval").parse_args(["--squad", str(squad_file), "--squad-limit", "5", "--no-progress"])
    assert measure_cli.eval_main(args, engine=engine) == 0
    out = capsys.readouterr().out
    assert "| ours (hybrid) | passages | 5 |" in out and "| BM25 over sentences | sentences | 5 |" in out
    assert "--squad-limit 5" in out and str(corpus) in out
