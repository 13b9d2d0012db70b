"""BEIR SciFact in the build rate section: reading BEIR's layout, the subset, the documents written, nDCG@10.

A tiny hand-made BEIR folder, no model: the build and the queries themselves run in ``qa bench``."""

from __future__ import annotations

import gzip
import json
import math
from argparse import Namespace

import pytest

from qa.errors import EvalSetError
from qa.ingest.load import load_folder
from qa.measure import beir, build_rate
from qa.measure import cli as measure_cli

LONG_TITLE = "A title of more than one hundred and twenty characters, " * 3
DOCS = [  # (id, title, text), in corpus order
    ("10", "Cats sleep", "Cats sleep sixteen hours a day."),
    ("11", 'The "Thames" \\ river', "The Thames reaches the sea at Southend."),
    ("12", LONG_TITLE.strip(), "Long titles come from the catalogue."),
    ("13", "", "A document without a title."),
    ("14", "Roses", "Roses are pruned in late winter."),
    ("15", "Bridges", "Tower Bridge opened in 1894."),
]
QRELS = [("q1", "11", 1), ("q2", "12", 1), ("q2", "13", 1), ("q3", "15", 1), ("q4", "99", 1), ("q1", "14", 0)]
QUERIES = {"q1": "Where does the Thames reach the sea?", "q2": "Where do long titles come from?",
           "q3": "When did Tower Bridge open?", "q4": "A query whose document is not in the corpus", "t9": "a train query"}


def beir_folder(root, gz: bool = False):
    """The layout of BEIR's scifact.zip: scifact/{corpus.jsonl, queries.jsonl, qrels/test.tsv}."""
    folder = root / "scifact"
    (folder / "qrels").mkdir(parents=True)
    lines = "".join(json.dumps({"_id": d, "title": t, "text": x, "metadata": {}}) + "\n" for d, t, x in DOCS)
    if gz:
        with gzip.open(folder / "corpus.jsonl.gz", "wt", encoding="utf-8") as f:
            f.write(lines)
    else:
        (folder / "corpus.jsonl").write_text(lines, encoding="utf-8")
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t, "metadata": {}}) + "\n"
                                                  for q, t in QUERIES.items()), encoding="utf-8")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{s}\n" for q, d, s in QRELS),
                                               encoding="utf-8")
    return root


@pytest.mark.parametrize("gz", [False, True], ids=["jsonl", "jsonl.gz"])
def test_beirs_layout_is_read_with_the_test_queries_and_their_relevant_documents(tmp_path, gz):
    data = beir.read(beir_folder(tmp_path, gz))  # the folder above scifact/, as the zip unpacks
    assert list(data.docs) == [d for d, _, _ in DOCS] and data.docs["11"] == ('The "Thames" \\ river', DOCS[1][2])
    assert data.qrels == {"q1": {"11": 1}, "q2": {"12": 1, "13": 1}, "q3": {"15": 1}, "q4": {"99": 1}}  # score 0 is not relevant
    assert set(data.queries) == {"q1", "q2", "q3", "q4"}  # t9 has no test judgement


def test_the_subset_keeps_what_its_queries_need_and_scores_only_queries_it_holds_whole(tmp_path):
    data = beir.read(beir_folder(tmp_path))
    small = beir.subset(data, 4)
    # relevant documents may fill half of 4: q1 (11) fits, q2 (12, 13) would make 3, q3 (15) makes 2, q4's is missing;
    # then other documents in corpus order: 10 and 12 (13 would be a fifth)
    assert set(small.docs) == {"11", "15", "10", "12"} and list(small.docs) == ["10", "11", "12", "15"]
    assert small.qrels == {"q1": {"11": 1}, "q3": {"15": 1}} and set(small.queries) == {"q1", "q3"}
    assert beir.subset(data, None) is data and beir.subset(data, 100) is data


def test_documents_are_written_one_a_file_with_their_titles_as_the_loader_reads_them(tmp_path):
    data = beir.read(beir_folder(tmp_path))
    folder = beir.write_documents(data, tmp_path / "docs")
    docs, skipped = load_folder(folder)
    assert not skipped
    by_id = {beir.doc_id(d.source): d for d in docs}
    assert set(by_id) == set(data.docs)
    assert by_id["11"].title == 'The "Thames" \\ river'  # through the catalogue's TOML escapes
    assert by_id["12"].title == LONG_TITLE.strip()  # too long for a first line to become the title
    assert by_id["11"].text == 'The "Thames" \\ river\n\nThe Thames reaches the sea at Southend.\n'
    assert by_id["13"].text == "A document without a title.\n"


def test_a_document_ranks_where_its_best_chunk_does():
    assert beir.document_ranking(["7.txt", "3.txt", "7.txt", "sub/5.txt", "3.txt"]) == ["7", "3", "5"]


def test_ndcg_at_10_of_a_hand_made_run():
    qrels = {"a": {"d1": 1}, "b": {"d2": 1, "d3": 1}, "c": {"d4": 1}, "d": {"d5": 1}}
    run = {"a": ["x", "d1"], "b": ["d2", "y", "d3"], "c": [f"z{i}" for i in range(10)] + ["d4"]}  # d: nothing found
    expected = (1 / math.log2(3)                                      # a: its document second
                + (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))    # b: first and third of two
                + 0 + 0) / 4                                          # c: eleventh, past the cut; d: no run
    assert beir.ndcg(run, qrels) == pytest.approx(expected, abs=1e-12)
    assert beir.ndcg({"a": ["d1"]}, {"a": {"d1": 1}}) == 1.0
    graded = {"a": {"d1": 1, "d2": 2}}  # the ideal order puts the grade 2 first
    assert beir.ndcg({"a": ["d1", "d2"]}, graded) == pytest.approx((1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3)))


def test_missing_files_say_where_to_get_them_before_any_build(tmp_path):
    with pytest.raises(EvalSetError) as e:
        beir.read(tmp_path)
    msg = str(e.value)
    assert "\n" not in msg and "scifact.zip" in msg and "corpus, queries, qrels missing" in msg and "--scifact DIR" in msg
    (tmp_path / "scifact" / "qrels").mkdir(parents=True)  # the zip's folder, one file short
    (tmp_path / "scifact" / "corpus.jsonl").write_text("", encoding="utf-8")
    (tmp_path / "scifact" / "qrels" / "test.tsv").write_text("", encoding="utf-8")
    with pytest.raises(EvalSetError, match=r"\(queries missing\)"):
        beir.files(tmp_path)
    opt = Namespace(scifact=str(tmp_path), short_docs=0, corpus=str(tmp_path))
    with pytest.raises(EvalSetError, match="scifact.zip"):
        build_rate.build_rate_section(opt, tmp_path / "work", None)  # before the seeds are built


def test_scifact_is_measured_by_the_build_rate_section_only(tmp_path):
    args = measure_cli.parser("bench").parse_args(
        ["--sections", "seed", "--scifact", str(tmp_path), "--work", str(tmp_path / "w"), "--out", str(tmp_path / "r.json")])
    with pytest.raises(ValueError, match="add build_rate to --sections"):
        args.func(args)
