"""kill -9 the index build at random points: the previous index still loads and answers; the next build succeeds.

Ten trials with a fixed seed. The first five wait until the build starts writing its folder and kill
it 0-80 ms later (writing files, publishing, saving the embedding cache); they also measure how long
a build takes to get there. The other five are killed after a delay drawn over that duration (start-up,
model load, reading, chunking, embedding). Whatever point a kill lands on, the invariants are the same.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qa import Engine

from qa.index import build_dirs, record_files, store
from tests.conftest import ROOT

pytestmark = pytest.mark.model

SEED = 20261122
TRIALS = 10
DOCS = {
    "rivers.md": "# Rivers\n\nThe Thames flows through London and reaches the North Sea.\n\n"
    "## Floods\n\nThe Thames Barrier protects London from tidal surges since 1982.\n",
    "cats.txt": "Cats\n\nCats are small domesticated carnivores. They sleep for most of the day.\n",
    "budget.txt": "Budget 2020\n\nThe council allocated 4.5 million pounds to road repairs in 2020.\n",
    "long.txt": "Notes\n\n" + "".join(f"Note {i} records that meeting {i} discussed item {i * 7}. " for i in range(400)),
}


def _start_build(corpus: Path, index_dir: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
    return subprocess.Popen(
        [sys.executable, "-m", "qa", "index", str(corpus), "--index-dir", str(index_dir), "--force"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )


def _writing(index_dir: Path, pid: int) -> bool:
    builds = index_dir / "builds"
    return builds.is_dir() and any(p.name.endswith(f".tmp-{pid}") for p in builds.iterdir())


def _answers(corpus: Path, index_dir: Path, embedder) -> Path:
    """The live index loads, verifies and answers from the documents on disk; returns its build folder."""
    loaded = store.load(index_dir)
    engine = Engine(corpus=corpus, index_dir=index_dir, embedder=embedder, build="never")
    answer = engine.ask("What protects London from tidal surges?", k=3)
    assert "1982" in answer.passages[0].text
    for p in answer.passages:
        assert (corpus / p.source).read_text(encoding="utf-8")[p.start : p.end] == p.text
    return loaded.path


SLOW = 2.0
"""Time limits allow for a machine twice as slow as a quiet one (CI may share its cores); trial counts stay."""


@pytest.mark.timeout(int(900 * SLOW))
def test_kill_9_during_index_build_never_breaks_the_index(tmp_path, embedder):
    corpus, index_dir = tmp_path / "docs", tmp_path / "index"
    corpus.mkdir()
    for name, text in DOCS.items():
        (corpus / name).write_text(text, encoding="utf-8")
    Engine(corpus=corpus, index_dir=index_dir, embedder=embedder)
    live = _answers(corpus, index_dir, embedder)

    duration = 0.0  # longest time to reach the writing stage seen so far
    print()
    rng = random.Random(SEED)
    outcomes = []
    for trial in range(TRIALS):
        before = live
        p = _start_build(corpus, index_dir)
        t0 = time.monotonic()
        if trial < TRIALS // 2:
            how = "writing"
            delay = rng.uniform(0.0, 0.08)
            while p.poll() is None and not _writing(index_dir, p.pid) and time.monotonic() - t0 < 180 * SLOW:
                time.sleep(0.002)
            duration = max(duration, time.monotonic() - t0)
            time.sleep(delay)
        else:
            how = "timed"
            delay = rng.uniform(0.05, duration)
            try:
                p.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                pass
        at = time.monotonic() - t0
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
        p.communicate(timeout=60 * SLOW)
        assert p.returncode in (-signal.SIGKILL, 0), p.returncode  # 0: it finished just before the kill
        killed = p.returncode == -signal.SIGKILL
        live = _answers(corpus, index_dir, embedder)
        state = "new build live" if live != before else "previous build live"
        outcomes.append((trial, how, round(delay, 3), round(at, 3), "killed" if killed else "finished", state))
        print(f"trial {trial}: {how:7s} delay {delay:6.3f} s, at {at:6.3f} s: {outcomes[-1][4]}, {state}")

    assert sum(o[4] == "killed" for o in outcomes) >= 4  # the trials really did kill builds mid-way

    p = _start_build(corpus, index_dir)
    _, err = p.communicate(timeout=180 * SLOW)
    assert p.returncode == 0, err
    final = _answers(corpus, index_dir, embedder)
    assert final != live
    builds = sorted(b.name for b in (index_dir / "builds").iterdir())
    assert not [b for b in builds if ".tmp-" in b], builds  # unfinished builds are cleaned up
    assert len(builds) <= build_dirs.KEEP_BUILDS
    assert not list(index_dir.glob(".CURRENT.*"))
    assert not [c for c in (index_dir / "cache").iterdir() if ".tmp" in c.name]


def _corpus(folder: Path) -> Path:
    """DOCS without the long one: these tests build in-process several times."""
    folder.mkdir()
    for name, text in DOCS.items():
        if name != "long.txt":
            (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.mark.parametrize("stage", ["write_jsonl", "publish"])
def test_a_build_that_fails_midway_leaves_the_previous_index_live(tmp_path, embedder, monkeypatch, capsys, stage):
    """Disk full while writing, or at the moment of publishing: one-line error, old index answers, next build works."""
    import errno

    from qa.cli import main

    corpus, index_dir = _corpus(tmp_path / "docs"), tmp_path / "index"
    Engine(corpus=corpus, index_dir=index_dir, embedder=embedder)
    before = _answers(corpus, index_dir, embedder)

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr({"write_jsonl": record_files, "publish": build_dirs}[stage], stage, full)
    code = main(["index", str(corpus), "--index-dir", str(index_dir), "--force"])
    err = capsys.readouterr().err
    assert code != 0
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err
    assert lines[0].startswith(f"error: The disk holding {index_dir} is full (") and "free space and run" in lines[0]
    assert _answers(corpus, index_dir, embedder) == before

    monkeypatch.undo()
    assert main(["index", str(corpus), "--index-dir", str(index_dir), "--force"]) == 0
    after = _answers(corpus, index_dir, embedder)
    assert after != before
    assert not [b for b in (index_dir / "builds").iterdir() if ".tmp-" in b.name]


def test_a_damaged_embedding_cache_only_costs_time(tmp_path, embedder):
    corpus, index_dir = _corpus(tmp_path / "docs"), tmp_path / "index"
    fresh = Engine(corpus=corpus, index_dir=index_dir, embedder=embedder).status()["counts"]["embedded"]
    again = Engine(corpus=corpus, index_dir=index_dir, embedder=embedder, build="force").status()["counts"]["embedded"]
    assert fresh > 0 and again == 0  # the cache works
    caches = sorted((index_dir / "cache").glob("*.npz"))  # embedding vectors and ColBERT token vectors
    assert any(not c.name.startswith("late-") for c in caches)
    for cache in caches:
        cache.write_bytes(cache.read_bytes()[:100])
    engine = Engine(corpus=corpus, index_dir=index_dir, embedder=embedder, build="force")
    assert engine.status()["counts"]["embedded"] == fresh  # everything embedded again, nothing wrong reused
    _answers(corpus, index_dir, embedder)
