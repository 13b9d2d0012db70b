"""A broken or mismatched index is detected on load, never answered from; the engine rebuilds or says what to run.

Also: two processes building the same index at once leave one complete, loadable build.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from qa import ChunkSettings, CorpusMismatchError, Engine, IndexCorruptError, IndexMissingError

from qa.index import build_dirs, store
from tests.conftest import ROOT

pytestmark = pytest.mark.model

DOCS = {
    "rivers.md": "# Rivers\n\nThe Thames flows through London and reaches the North Sea.\n\n"
    "## Floods\n\nThe Thames Barrier protects London from tidal surges since 1982.\n",
    "cats.txt": "Cats\n\nCats are small domesticated carnivores. They sleep for most of the day.\n",
    "budget.txt": "Budget 2020\n\nThe council allocated 4.5 million pounds to road repairs in 2020.\n",
}
OTHER = {"garden.txt": "Roses\n\nPrune roses in late winter, just before new growth begins.\n"}
QUESTION = "What protects London from tidal surges?"


def write_corpus(folder: Path, docs: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in docs.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def pristine(tmp_path_factory, embedder):
    """A built index of DOCS and one of a different corpus, built once: (corpus, index dir, other build dir)."""
    base = tmp_path_factory.mktemp("robust-index")
    corpus = write_corpus(base / "docs", DOCS)
    Engine(corpus=corpus, index_dir=base / "index", embedder=embedder)
    other = write_corpus(base / "other-docs", OTHER)
    Engine(corpus=other, index_dir=base / "other-index", embedder=embedder)
    return corpus, base / "index", build_dirs.current_build(base / "other-index")


@pytest.fixture
def damaged(pristine, tmp_path):
    """A fresh copy of the pristine index to break: (corpus, index dir, live build dir, other build dir)."""
    corpus, index, other = pristine
    copy = tmp_path / "index"
    shutil.copytree(index, copy)
    return corpus, copy, build_dirs.current_build(copy), other


def _edit_manifest(build: Path, change) -> None:
    path = build / "manifest.json"
    m = json.loads(path.read_text(encoding="utf-8"))
    change(m)
    path.write_text(json.dumps(m), encoding="utf-8")


def _truncate(path: Path, keep: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _replace_dir(dst: Path, src: Path) -> None:
    shutil.rmtree(dst)
    shutil.copytree(src, dst)


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    i = data.index(b"Thames")
    data[i] = ord("G")  # same size, different content
    path.write_bytes(bytes(data))


DAMAGE = {
    "dense.faiss truncated to half": lambda b, o, i: _truncate(b / "dense.faiss", 0.5),
    "dense.faiss truncated to nothing": lambda b, o, i: _truncate(b / "dense.faiss", 0),
    "dense.faiss from another build": lambda b, o, i: shutil.copy(o / "dense.faiss", b / "dense.faiss"),
    "bm25 from another build": lambda b, o, i: _replace_dir(b / "bm25", o / "bm25"),
    "bm25 file missing": lambda b, o, i: next((b / "bm25").iterdir()).unlink(),
    "chunks.jsonl missing": lambda b, o, i: (b / "chunks.jsonl").unlink(),
    "sentences.npy missing": lambda b, o, i: (b / "sentences.npy").unlink(),
    "docs.jsonl edited, same size": lambda b, o, i: _flip_byte(b / "docs.jsonl"),
    "extra file in the build": lambda b, o, i: (b / "stray.bin").write_bytes(b"x"),
    "manifest from another build": lambda b, o, i: shutil.copy(o / "manifest.json", b / "manifest.json"),
    "manifest lists a file that is not there": lambda b, o, i: _edit_manifest(
        b, lambda m: m["files"].update({"extra.npy": {"bytes": 10, "sha256": "0" * 64}})
    ),
    "manifest hash does not match": lambda b, o, i: _edit_manifest(
        b, lambda m: m["files"]["chunks.jsonl"].update(sha256="f" * 64)
    ),
    "manifest missing a file": lambda b, o, i: _edit_manifest(b, lambda m: m["files"].pop("docs.jsonl")),
    "manifest of an older format": lambda b, o, i: _edit_manifest(b, lambda m: m.update(format=0)),
    "manifest truncated": lambda b, o, i: _truncate(b / "manifest.json", 0.5),
    "manifest missing": lambda b, o, i: (b / "manifest.json").unlink(),
    "CURRENT names a missing build": lambda b, o, i: (i / "CURRENT").write_text("20990101-000000-deadbeef\n"),
    "CURRENT empty": lambda b, o, i: (i / "CURRENT").write_text(""),
    "CURRENT names a path": lambda b, o, i: (i / "CURRENT").write_text("../../etc\n"),
    "build folder deleted": lambda b, o, i: shutil.rmtree(b),
}


def check_answer_from_corpus(engine: Engine, corpus: Path, expect: str) -> None:
    """The answer's passages slice out of the files on disk now, and the top one says ``expect``."""
    answer = engine.ask(QUESTION, k=3)
    assert answer.passages and expect in answer.passages[0].text
    for p in answer.passages:
        assert (corpus / p.source).read_text(encoding="utf-8")[p.start : p.end] == p.text


@pytest.mark.parametrize("damage", list(DAMAGE), ids=list(DAMAGE))
def test_damaged_index_is_detected_refused_and_rebuilt(damaged, embedder, damage):
    corpus, index_dir, build, other = damaged
    DAMAGE[damage](build, other, index_dir)

    with pytest.raises(IndexCorruptError) as err:
        store.load(index_dir)
    assert "python -m qa index" in str(err.value)

    with pytest.raises(IndexCorruptError) as err:
        Engine(corpus=corpus, index_dir=index_dir, embedder=embedder, build="never")
    assert "python -m qa index" in str(err.value)

    engine = Engine(corpus=corpus, index_dir=index_dir, embedder=embedder, build="auto")
    assert engine.index.path != build and engine.index.path.parent == index_dir / "builds"
    check_answer_from_corpus(engine, corpus, "1982")
    assert store.load(index_dir).path == engine.index.path  # what was rebuilt is now what loads


def test_missing_index_says_what_to_run(tmp_path, embedder):
    corpus = write_corpus(tmp_path / "docs", DOCS)
    with pytest.raises(IndexMissingError, match="python -m qa index"):
        Engine(corpus=corpus, index_dir=tmp_path / "index", embedder=embedder, build="never")
    assert not (tmp_path / "index" / "CURRENT").exists()


def test_index_of_another_folder_is_never_answered_from(damaged, embedder, tmp_path):
    """A complete, self-consistent build of a different corpus is stale for this one."""
    corpus, index_dir, build, other = damaged
    shutil.copytree(other, index_dir / "builds" / other.name)
    (index_dir / "CURRENT").write_text(other.name + "\n")
    assert store.load(index_dir).path.name == other.name  # the files themselves are fine

    for build in ("never", "auto"):  # never answered from, and never silently rebuilt from another folder
        with pytest.raises(CorpusMismatchError) as err:
            Engine(corpus=corpus, index_dir=index_dir, embedder=embedder, build=build)
        assert "was built from" in str(err.value) and f"python -m qa index {corpus}" in str(err.value)
    assert store.load(index_dir).path.name == other.name
    # named without a corpus, the index answers from the folder it was built from
    assert Engine(index_dir=index_dir, embedder=embedder, build="never").corpus == Path(store.load(index_dir).manifest["corpus"])
    # `qa index FOLDER` switches it to FOLDER
    engine = Engine(corpus=corpus, index_dir=index_dir, embedder=embedder, switch_corpus=True)
    check_answer_from_corpus(engine, corpus, "1982")
    assert "garden.txt" not in {d.source for d in engine.documents}


def test_edited_document_is_never_answered_from_the_old_index(pristine, embedder, tmp_path):
    corpus, index_dir = tmp_path / "docs", tmp_path / "index"
    shutil.copytree(pristine[0], corpus)
    shutil.copytree(pristine[1] / "cache", index_dir / "cache")  # embeddings only: the build is new
    Engine(corpus=corpus, index_dir=index_dir, embedder=embedder)
    rivers = corpus / "rivers.md"
    rivers.write_text(rivers.read_text(encoding="utf-8").replace("1982", "1984"), encoding="utf-8")

    with pytest.raises(IndexMissingError) as err:
        Engine(corpus=corpus, index_dir=index_dir, embedder=embedder, build="never")
    assert "rivers.md" in str(err.value) and "python -m qa index" in str(err.value)
    engine = Engine(corpus=corpus, index_dir=index_dir, embedder=embedder)
    check_answer_from_corpus(engine, corpus, "1984")


def test_changed_chunk_settings_are_stale_not_silently_used(damaged, embedder):
    corpus, index_dir, build, other = damaged
    with pytest.raises(IndexMissingError, match="chunking changed"):
        Engine(corpus=corpus, index_dir=index_dir, embedder=embedder, build="never", settings=ChunkSettings(max_tokens=64))


# -- two builders at once -----------------------------------------------------------------------


def _index_process(corpus: Path, index_dir: Path, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
    return subprocess.Popen(
        [sys.executable, "-m", "qa", "index", str(corpus), "--index-dir", str(index_dir), *extra],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


@pytest.mark.timeout(600)
def test_two_processes_building_one_index_at_once_leave_one_good_build(tmp_path, embedder):
    corpus = write_corpus(tmp_path / "docs", DOCS)
    index_dir = tmp_path / "index"
    procs = [_index_process(corpus, index_dir), _index_process(corpus, index_dir)]
    outs = [p.communicate(timeout=480) for p in procs]  # a machine twice as slow as a quiet one
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
        assert "Traceback" not in err
    paths = [re.search(r"Index ready in (\S+) ", out).group(1) for out, _ in outs]
    assert paths[0] == paths[1]  # the second waited for the lock and used the first one's build
    builds = sorted(p.name for p in (index_dir / "builds").iterdir())
    assert builds == [Path(paths[0]).name], builds  # one build, no leftover .tmp folder
    assert not list(index_dir.glob(".CURRENT.*"))
    engine = Engine(corpus=corpus, index_dir=index_dir, embedder=embedder, build="never")
    assert engine.index.path == Path(paths[0])
    check_answer_from_corpus(engine, corpus, "1982")


def test_damaged_index_without_its_documents_stops_with_a_message(damaged, embedder, tmp_path):
    """It cannot rebuild without the documents: it says so, and answers nothing."""
    from qa import CorpusError

    corpus, index_dir, build, other = damaged
    _truncate(build / "dense.faiss", 0.5)
    with pytest.raises(CorpusError, match="does not exist"):
        Engine(corpus=tmp_path / "moved-away", index_dir=index_dir, embedder=embedder)
    assert build_dirs.current_build(index_dir) == build  # nothing published, nothing deleted
