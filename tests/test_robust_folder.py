"""A folder cannot hurt the machine or stop the build: odd names, links out of the folder, a mistyped index
folder, stale build folders and a full disk each get one line saying what to do, and the rest is indexed."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qa import Engine
from qa.build import builder
from qa.cli import main as cli_main
from qa.errors import IndexMissingError
from qa.index import build_dirs, record_files, store
from qa.ingest.load import load_folder
from qa.page import app, render
from tests.fakes import FakeEmbedder, model_free_settings

GOOD = "Cats\n\nCats are small domesticated carnivores. They sleep for most of the day, often sixteen hours.\n"
CAFE = "Coffee\n\nThe cafe roasts its own beans every Tuesday morning before opening.\n"


def _engine(corpus: Path, index_dir: Path, **kw) -> Engine:
    return Engine(corpus=corpus, index_dir=index_dir, embedder=FakeEmbedder(), settings=model_free_settings(),
                  preload=False, **kw)


# -- 1. a file name that is not UTF-8 -------------------------------------------------------------------


@pytest.fixture
def latin1_named(tmp_path):
    d = tmp_path / "docs"
    d.mkdir()
    (d / "good.txt").write_text(GOOD, encoding="utf-8")
    fd = os.open(os.fsencode(d) + b"/caf\xe9.txt", os.O_WRONLY | os.O_CREAT, 0o644)  # a Latin-1 name
    os.write(fd, CAFE.encode())
    os.close(fd)
    return d


def test_a_file_whose_name_is_not_utf8_is_indexed_under_a_name_that_shows_its_bytes(latin1_named, tmp_path):
    ix = tmp_path / "ix"
    engine = _engine(latin1_named, ix)
    name = "caf\\xe9.txt"  # the byte that is not UTF-8 written as Python writes it
    assert {d.source for d in engine.documents} == {"good.txt", name}
    # every index file is valid UTF-8 JSON naming it the same way
    build = engine.index.path
    manifest = json.loads((build / "manifest.json").read_bytes().decode("utf-8"))
    assert name in manifest["documents"] and name in manifest["fingerprint"]
    docs = [json.loads(line) for line in (build / "docs.jsonl").read_bytes().decode("utf-8").splitlines()]
    chunks = [json.loads(line) for line in (build / "chunks.jsonl").read_bytes().decode("utf-8").splitlines()]
    assert name in {d["source"] for d in docs} and name in {c["source"] for c in chunks}
    # fresh: reopening does not rebuild, the name round-trips through the fingerprint
    assert builder.stale_reasons(manifest, latin1_named, engine.embedder, engine.settings) == []
    # the page opens its citation
    answer = engine.ask("When does the cafe roast its beans?", k=1)
    p = answer.passages[0]
    assert p.source == name
    html = app.cite_panel(engine, app.pages.PageImages(tmp_path / "pages"), p.source, p.start, p.end, p.highlights)
    assert "roasts its own beans" in html and "caf\\xe9.txt" in html
    html.encode("utf-8")  # what Gradio sends must encode
    render.header_html(engine.documents).encode("utf-8")


# -- 2. a link to a file outside the folder --------------------------------------------------------------


def test_a_link_to_a_file_outside_the_folder_is_skipped_and_links_inside_are_read(tmp_path):
    d = tmp_path / "docs"
    d.mkdir()
    (d / "good.txt").write_text(GOOD, encoding="utf-8")
    secret = tmp_path / "secret.txt"
    secret.write_text("The password is swordfish.\n", encoding="utf-8")
    os.symlink(secret, d / "outside.txt")
    os.symlink("/etc/passwd", d / "passwd.txt")
    (d / "sub").mkdir()
    os.symlink("../good.txt", d / "sub" / "inside.txt")  # stays in the folder: read

    docs, skipped = load_folder(d)
    assert sorted(doc.source for doc in docs) == ["good.txt", "sub/inside.txt"]
    reasons = {s.path: s.reason for s in skipped}
    assert set(reasons) == {"outside.txt", "passwd.txt"}
    for reason in reasons.values():
        assert "link to a file outside the folder" in reason and "copy the file in" in reason
    assert str(secret) in reasons["outside.txt"]
    assert all("swordfish" not in doc.text for doc in docs)


def test_the_source_panel_reads_the_index_not_the_disk(tmp_path):
    """The panel shows the text as indexed: a document edited or replaced by a link afterwards is not read."""
    d = tmp_path / "docs"
    d.mkdir()
    (d / "good.txt").write_text(GOOD, encoding="utf-8")
    engine = _engine(d, tmp_path / "ix")
    p = engine.ask("How long do cats sleep?", k=1).passages[0]
    (d / "good.txt").unlink()
    os.symlink("/etc/passwd", d / "good.txt")
    html = app.cite_panel(engine, app.pages.PageImages(tmp_path / "pages"), p.source, p.start, p.end, p.highlights)
    assert "domesticated carnivores" in html and "root:" not in html


# -- 3. asking never builds into a folder that is not an index ------------------------------------------


def test_asking_with_a_mistyped_index_folder_says_what_to_run_and_creates_nothing(tmp_path, capsys):
    typo = tmp_path / "my-indx"
    assert cli_main(["ask", "Who leads?", "--index-dir", str(typo)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: No index in {typo}: run `python -m qa index FOLDER --index-dir {typo}`"), err
    assert len(err.splitlines()) == 1
    assert not typo.exists()


def test_asking_never_writes_into_a_folder_that_is_not_an_index(tmp_path, capsys):
    home = tmp_path / "home"
    home.mkdir()
    (home / "notes.txt").write_text("mine\n", encoding="utf-8")
    for args in (["ask", "Who leads?", "--index-dir", str(home)],
                 ["ask", "Who leads?", "--index-dir", str(home), "--corpus", str(tmp_path)]):
        assert cli_main(args) == 2
        err = capsys.readouterr().err
        assert f"{home} is not an index folder and is not empty" in err and len(err.splitlines()) == 1
    assert sorted(p.name for p in home.iterdir()) == ["notes.txt"]


def test_engine_builds_into_a_new_folder_only_when_told_which_documents(tmp_path):
    d = tmp_path / "docs"
    d.mkdir()
    (d / "good.txt").write_text(GOOD, encoding="utf-8")
    with pytest.raises(IndexMissingError, match="No index in .*python -m qa index FOLDER --index-dir"):
        Engine(index_dir=tmp_path / "typo", embedder=FakeEmbedder(), settings=model_free_settings(), preload=False)
    assert not (tmp_path / "typo").exists()
    assert _engine(d, tmp_path / "new").documents  # a corpus named: build it
    (tmp_path / "empty").mkdir()
    assert _engine(d, tmp_path / "empty").documents  # an empty folder is as good as a new one
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("x", encoding="utf-8")
    with pytest.raises(IndexMissingError, match="not an index"):
        _engine(d, tmp_path / "full")
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["keep.txt"]


def test_an_existing_index_is_answered_from_with_only_its_folder(tmp_path):
    d = tmp_path / "docs"
    d.mkdir()
    (d / "good.txt").write_text(GOOD, encoding="utf-8")
    _engine(d, tmp_path / "ix")
    again = Engine(index_dir=tmp_path / "ix", embedder=FakeEmbedder(), settings=model_free_settings(), preload=False)
    assert [doc.source for doc in again.documents] == ["good.txt"]


# -- 7. stale build folders ----------------------------------------------------------------------------


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_a_build_removes_build_folders_of_dead_processes_and_keeps_a_live_ones(tmp_path, monkeypatch):
    d = tmp_path / "docs"
    d.mkdir()
    (d / "good.txt").write_text(GOOD, encoding="utf-8")
    ix = tmp_path / "ix"
    builds = ix / "builds"
    builds.mkdir(parents=True)
    (ix / "CURRENT").write_text("missing\n")  # an index folder whose last builds were killed
    dead = builds / f"20250101-000000-deadbeef.tmp-{_dead_pid()}"
    live = builds / f"20250101-000001-cafef00d.tmp-{os.getppid()}"  # a process that is running: another builder
    for p in (dead, live):
        p.mkdir()
        (p / "docs.jsonl").write_text("{}\n")
    seen = {}
    real = build_dirs.new_build_dir

    def spy(index_dir):
        seen["dead"], seen["live"] = dead.exists(), live.exists()
        return real(index_dir)

    monkeypatch.setattr(build_dirs, "new_build_dir", spy)
    builder.build(d, ix, FakeEmbedder(), model_free_settings())
    assert seen == {"dead": False, "live": True}, "removed at the start of the build, before its own folder"
    assert not dead.exists() and live.exists()


def _built_then_changed(tmp_path):
    """(documents, index folder, live build): one document indexed, then a second added, so a build has work."""
    d = tmp_path / "docs"
    d.mkdir()
    (d / "good.txt").write_text(GOOD, encoding="utf-8")
    ix = tmp_path / "ix"
    builder.build(d, ix, FakeEmbedder(), model_free_settings())
    live = build_dirs.current_build(ix)
    (d / "more.txt").write_text(CAFE, encoding="utf-8")
    return d, ix, live


@pytest.mark.parametrize("stage", ["records", "indexes", "publish"])
def test_a_failing_build_removes_its_own_build_folder(tmp_path, monkeypatch, stage):
    d, ix, live = _built_then_changed(tmp_path)

    def boom(*a, **k):
        raise RuntimeError("boom")

    module, target = {"records": (record_files, "write_records"), "indexes": (store, "write_indexes"),
                      "publish": (build_dirs, "publish")}[stage]
    monkeypatch.setattr(module, target, boom)
    with pytest.raises(RuntimeError):
        builder.build(d, ix, FakeEmbedder(), model_free_settings())
    assert [p.name for p in (ix / "builds").iterdir()] == [live.name]
    assert build_dirs.current_build(ix) == live


# -- 8. a full disk ------------------------------------------------------------------------------------


@pytest.mark.parametrize("error", [
    OSError(errno.ENOSPC, "No space left on device"),
    OSError("267264 requested and 88000 written"),  # numpy's tofile / np.save on a short write
    RuntimeError("Error: 'ret == (size)' failed: write error in index.faiss: 9728 != 76800 (No space left on device)"),
], ids=["enospc", "numpy-short-write", "faiss"])
def test_a_full_disk_says_so_and_leaves_the_live_index(tmp_path, monkeypatch, error, capsys):
    d, ix, live = _built_then_changed(tmp_path)

    def full(*a, **k):
        raise error

    monkeypatch.setattr(store, "write_indexes", full)
    from qa.errors import DiskFullError

    with pytest.raises(DiskFullError) as e:
        builder.build(d, ix, FakeEmbedder(), model_free_settings())
    msg = str(e.value)
    assert msg.startswith(f"The disk holding {ix} is full (") and "MB free): free space and run `python -m qa index` again" in msg
    assert build_dirs.current_build(ix) == live and [p.name for p in (ix / "builds").iterdir()] == [live.name]
    assert store.load(ix).manifest["counts"]["documents"] == 1
