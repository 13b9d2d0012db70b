"""A build on Ray: two local nodes started by the test give the single-process build, vector for vector, even
with a worker killed mid-build; a cluster nobody runs is refused quickly, saying what to do."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

from qa.build import builder
from qa.index import store
from qa.cli import main
from qa.config import RaySettings
from qa.build.ray_workers import NodeRates, RayUnavailableError, RayWorkers, check_reachable


@pytest.fixture(scope="module")
def cluster():
    """A Ray cluster of two nodes on this machine, one CPU each: a worker per node."""
    import ray
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    c.add_node(num_cpus=1)
    c.wait_for_nodes()
    yield c
    if ray.is_initialized():
        ray.shutdown()
    c.shutdown()


def same_build(a: store.LoadedIndex, b: store.LoadedIndex) -> None:
    """Same chunks, sentences and spans; every vector equal within float tolerance."""
    assert [c.id for c in a.chunks] == [c.id for c in b.chunks]
    assert a.chunk_sentence_rows == b.chunk_sentence_rows
    assert a.manifest["documents"] == b.manifest["documents"]
    np.testing.assert_allclose(a.dense.reconstruct_n(0, a.dense.ntotal), b.dense.reconstruct_n(0, b.dense.ntotal), atol=1e-5)
    np.testing.assert_allclose(a.sentences, b.sentences, atol=1e-5)
    assert a.late is not None and b.late is not None
    np.testing.assert_array_equal(a.late.offsets, b.late.offsets)
    np.testing.assert_array_equal(a.late.spans, b.late.spans)
    np.testing.assert_allclose(a.late.vectors.astype(np.float32), b.late.vectors.astype(np.float32), atol=2e-3)
    assert a.second is not None and b.second is not None
    np.testing.assert_allclose(a.second.chunks, b.second.chunks, atol=1e-5)
    np.testing.assert_allclose(a.second.sentences, b.second.sentences, atol=1e-5)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Three short documents of the kind the tiny corpus holds (a module's worth: the builds below share them)."""
    folder = tmp_path_factory.mktemp("ray-docs")
    (folder / "cats.txt").write_text("Cats\n\nCats are small domesticated carnivores. They sleep for most of the day.\n\n"
                                     "Feeding\n\nAdult cats should be fed twice a day with meat-based food.\n", encoding="utf-8")
    (folder / "rivers.md").write_text("# Rivers\n\nThe Thames flows through London and reaches the North Sea.\n\n"
                                      "## Floods\n\nThe Thames Barrier protects London from tidal surges since 1982.\n", encoding="utf-8")
    (folder / "budget.txt").write_text("Budget 2020\n\nThe council allocated 4.5 million pounds to road repairs in 2020.\n",
                                       encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def local_build(corpus, tmp_path_factory, embedder):
    folder = tmp_path_factory.mktemp("local-build")
    builder.build(corpus, folder, embedder)
    return store.load(folder)


@pytest.fixture(scope="module")
def workers(cluster, embedder):
    """One worker per node, for the module's builds; batches of one text or chunk, so both nodes get work."""
    lines: list[str] = []
    with RayWorkers(RaySettings(address=cluster.address, batch_texts=1, batch_chunks=1), embedder.name,
                    report=lines.append) as w:
        w.lines = lines
        yield w


def test_a_build_on_two_ray_nodes_equals_the_local_build_though_a_worker_is_killed(workers, corpus, tmp_path, embedder,
                                                                                    local_build):
    before = workers.where()
    assert len({node for node, _ in before}) == 2, "one worker on each of the two nodes"
    killed: list[int] = []

    def progress(stage, done, total):
        if stage == "embedding" and 0 < done < total and not killed:  # the other batches are still out
            os.kill(before[0][1], signal.SIGKILL)
            killed.append(before[0][1])

    builder.build(corpus, tmp_path / "ray", embedder, workers=workers, progress=progress)
    assert killed, "the build gave progress before it ended, and a worker was killed then"
    assert workers.where()[0][1] != killed[0], "Ray restarted the killed worker in a new process"
    same_build(store.load(tmp_path / "ray"), local_build)
    nodes = {node for node, _ in before}
    embedding = [line for line in workers.lines if line.startswith("embedding on Ray")]
    assert embedding and all(f"node {n[:8]} (1 worker(s))" in embedding[-1] for n in nodes), workers.lines
    assert any(line.startswith("late interaction vectors on Ray") for line in workers.lines)
    assert any(line.startswith("bge vectors on Ray") for line in workers.lines)


def test_the_other_way_of_making_sentence_vectors_on_ray_equals_it_locally_too(workers, corpus, tmp_path, embedder):
    """The default is tested above (a worker killed); here the other way, pooled or separate, without a kill."""
    from qa.config import IndexSettings, Settings

    default = IndexSettings().sentence_vectors
    other = "separate" if default != "separate" else "pooled"
    settings = Settings(index=IndexSettings(sentence_vectors=other))
    builder.build(corpus, tmp_path / "local", embedder, settings)
    builder.build(corpus, tmp_path / "ray", embedder, settings, workers=workers)
    ray_build, local = store.load(tmp_path / "ray"), store.load(tmp_path / "local")
    same_build(ray_build, local)
    counts = ray_build.manifest["counts"]
    assert ray_build.manifest["settings"]["sentence_vectors"] == other
    if other == "separate":
        assert counts["embedded"] > counts["chunks"], "sentences embedded on their own as well"
    else:
        assert counts["embedded"] == counts["chunks"], "one pass a chunk, no sentence on its own"


def test_a_fresh_index_costs_no_cluster(tiny_corpus, tmp_path, embedder):
    builder.build(tiny_corpus, tmp_path / "index", embedder)
    workers = RayWorkers(RaySettings(address="127.0.0.1:9"), embedder.name)  # nobody there: would fail if used
    from qa import Engine

    Engine(corpus=tiny_corpus, index_dir=tmp_path / "index", embedder=embedder, workers=workers, preload=False)
    assert workers.actors == []


def test_an_address_nobody_answers_is_refused_at_once():
    t0 = time.perf_counter()
    with pytest.raises(RayUnavailableError, match="ray start --head"):
        RayWorkers(RaySettings(address="127.0.0.1:9"), "any-model").start()
    assert time.perf_counter() - t0 < 30, "refused by the reachability check, not after Ray's minutes of retries"
    with pytest.raises(RayUnavailableError, match="HOST:PORT"):
        check_reachable("head-without-port")


@pytest.mark.model
def test_qa_index_says_what_to_do_without_a_cluster(tiny_corpus, tmp_path, capsys):
    code = main(["index", str(tiny_corpus), "--index-dir", str(tmp_path / "i"), "--ray", "127.0.0.1:9"])
    assert code != 0
    err = capsys.readouterr().err
    assert "No Ray cluster answers at 127.0.0.1:9" in err and "Traceback" not in err
    assert not (tmp_path / "i" / "CURRENT").exists(), "nothing was published"


def test_node_rates_name_every_node_with_its_workers_and_rate():
    now = [0.0]
    lines: list[str] = []
    rates = NodeRates("embedding", {"aaaaaaaaaa": 2, "bbbbbbbbbb": 1}, lines.append, interval=10, clock=lambda: now[0])
    now[0] = 4.0
    rates.add("aaaaaaaaaa", 40)
    assert lines == [], "no line before the interval"
    now[0] = 10.0
    rates.add("bbbbbbbbbb", 10)
    assert lines == ["embedding on Ray: node aaaaaaaa (2 worker(s)): 40 at 4.0/s; node bbbbbbbb (1 worker(s)): 10 at 1.0/s"]
    now[0] = 100.0  # the totals said after the next stage: its time does not count
    rates.say()
    assert lines[-1] == lines[0]


def test_ray_settings_refuse_nonsense():
    with pytest.raises(ValueError, match="batch_texts"):
        RaySettings(batch_texts=0)
    with pytest.raises(ValueError, match="retries"):
        RaySettings(retries=-1)
