"""The embedding model for questions, run by onnxruntime: the same vectors, without importing torch.

A `qa ask` or page start spent about 5 of its ~7 seconds importing torch and
transformers to embed one question. So the first time a mean-pooling model is
loaded with torch (mean_pool.MeanPoolModel, at the first build), it is exported to
ONNX into a cache folder and checked against the torch model on probe texts (a
question, a passage, a text past the length limit, a padded batch); a later
process embeds questions through that file with onnxruntime and the model's own
tokenizer.json, and never imports torch.

Builds embed through the same file too, with one single-threaded session run on
every core side by side (``single_threaded``, embed.Embedder.encode_documents):
on the 1,162 texts of 300 short documents, quiet 2-core machine, 15-16 s against
torch's 23-25 s on both cores, vectors within 2.2e-7 (benchmarks/embed_runtime.py;
``python -m qa bench --sections build_rate`` measures the whole build).

The cache folder is ``$QA_CACHE_DIR``, else ``$XDG_CACHE_HOME/qa``, else
``~/.cache/qa``. An export is used only while the model folder's files have the
size and modification time recorded with it; anything else (a missing or
damaged file, another onnxruntime) falls back to torch, which is only slower. A new export removes the ones it
supersedes (``prune``): the same model folder's older exports, and those whose model folder is gone.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

FORMAT = 2
"""2: the folder also holds counter.json, the model's own word-piece tokenizer, so a build counts lengths without torch."""
TOLERANCE = 1e-4
"""Largest difference allowed between an exported model's vectors and torch's, per component (seen: ~2e-7)."""
SOURCE_FILES = ("config.json", "tokenizer.json", "model.safetensors", "pytorch_model.bin", "modules.json",
                "sentence_bert_config.json", "1_Pooling/config.json", "2_Normalize/config.json")
PROBES = (
    "What gives Claire Fuller any clout?",
    "Integrated care systems bring together NHS organisations, local authorities and others to plan services. " * 3,
    "system leadership " * 200,  # past the length limit: truncation must agree
    "a",
)


COUNTER = "counter.json"


def cache_root() -> Path:
    if os.environ.get("QA_CACHE_DIR"):
        return Path(os.environ["QA_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "qa"


def fingerprint(model_path: str | Path, max_seq_length: int, normalize: bool) -> str:
    """Names, sizes and modification times of the model folder's files, and the pipeline around them."""
    folder = Path(model_path)
    parts = [f"format={FORMAT}", f"max={max_seq_length}", f"norm={normalize}", str(folder.resolve())]
    for name in SOURCE_FILES:
        p = folder / name
        if p.is_file():
            st = p.stat()
            parts.append(f"{name}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def export_dir(key: str) -> Path:
    return cache_root() / "onnx" / key[:24]


class OnnxMeanPool:
    """Mean pooling over onnxruntime's token vectors; the part of MeanPoolModel's API the Embedder uses."""

    def __init__(self, folder: Path, model_path: str, max_seq_length: int, normalize: bool, dim: int,
                 threads: int | None = None) -> None:
        from tokenizers import Tokenizer

        from .onnx_models import open_session

        self.folder, self.path, self.max_seq_length, self.normalize, self.dim = folder, model_path, max_seq_length, normalize, dim
        tok = Tokenizer.from_file(str(Path(model_path) / "tokenizer.json"))
        tok.enable_truncation(max_seq_length, strategy="longest_first")
        tok.enable_padding(pad_id=tok.token_to_id("[PAD]") or 0, pad_token="[PAD]")
        self._tok = tok
        self._session = open_session(folder / "model.onnx", threads)
        self._types = any(i.name == "token_type_ids" for i in self._session.get_inputs())

    def get_embedding_dimension(self) -> int:
        return self.dim

    def counter(self):
        """The tokenizer transformers loaded for the torch model (saved beside the export as counter.json), without
        truncation or padding: what the Embedder counts a chunk's word pieces with. None if it was not saved."""
        from tokenizers import Tokenizer

        try:
            tok = Tokenizer.from_file(str(self.folder / COUNTER))
        except Exception:  # noqa: BLE001 - missing or damaged: the Embedder asks the torch model instead
            return None
        tok.no_truncation()
        tok.no_padding()
        return tok

    def single_threaded(self) -> OnnxMeanPool:
        """The same export on a session of one intra-op thread: for runs side by side, one per core."""
        return OnnxMeanPool(self.folder, self.path, self.max_seq_length, self.normalize, self.dim, threads=1)

    def encode(self, texts: Sequence[str], batch_size: int = 32, normalize_embeddings: bool = False,
               convert_to_numpy: bool = True, show_progress_bar: bool = False) -> np.ndarray:
        out = []
        for i in range(0, len(texts), batch_size):
            hidden, enc, mask = self._run([str(t).strip() for t in texts[i : i + batch_size]])
            out.append(self._mean(hidden, mask, normalize_embeddings))
        return np.vstack(out) if out else np.zeros((0, self.dim), dtype=np.float32)

    def encode_spans(self, texts: Sequence[str], pools: Sequence, batch_size: int = 32,
                     special: bool = False) -> tuple[np.ndarray, list[np.ndarray]]:
        """``encode(texts, normalize_embeddings=True)`` and, from the same pass, each text's pooled spans
        (embed.pool_spans over the tokenizer's character offsets), as mean_pool.MeanPoolModel.encode_spans."""
        from .pooling import pool_spans, strip_pools

        vecs, pooled = [], []
        for i in range(0, len(texts), batch_size):
            stripped = [strip_pools(str(t), p) for t, p in zip(texts[i : i + batch_size], pools[i : i + batch_size])]
            hidden, enc, mask = self._run([t for t, _ in stripped])
            vecs.append(self._mean(hidden, mask, True))
            pooled += [pool_spans(hidden[j], mask[j], np.array(e.offsets, dtype=np.int64).reshape(-1, 2),
                                  np.array(e.special_tokens_mask, dtype=bool), p, special)
                       for j, (e, (_, p)) in enumerate(zip(enc, stripped))]
        return (np.vstack(vecs) if vecs else np.zeros((0, self.dim), dtype=np.float32)), pooled

    def _run(self, texts: list[str]) -> tuple[np.ndarray, list, np.ndarray]:
        """(token states, the tokenizer's encodings, attention mask) of one batch of stripped texts."""
        enc = self._tok.encode_batch(texts)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if self._types:
            feeds["token_type_ids"] = np.zeros_like(ids)
        return self._session.run(None, feeds)[0], enc, mask

    def _mean(self, hidden: np.ndarray, mask: np.ndarray, normalize: bool) -> np.ndarray:
        m = mask[..., None].astype(np.float32)
        vecs = (hidden * m).sum(1) / np.clip(m.sum(1), 1e-9, None)
        if self.normalize or normalize:
            vecs = vecs / np.clip(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12, None)
        return vecs.astype(np.float32)


def load(model_path: str, max_seq_length: int, normalize: bool, dim: int) -> OnnxMeanPool | None:
    """The checked export of this model folder, or None when there is none that matches it."""
    key = fingerprint(model_path, max_seq_length, normalize)
    folder = export_dir(key)
    try:
        meta = json.loads((folder / "export.json").read_text(encoding="utf-8"))
        if meta.get("fingerprint") != key or meta.get("max_difference", 1.0) > TOLERANCE or meta.get("dim") != dim:
            return None
        return OnnxMeanPool(folder, model_path, max_seq_length, normalize, dim)
    except Exception:  # noqa: BLE001 - no export, a damaged one, no onnxruntime: torch will do
        return None


_EXPORT_LOCK = threading.Lock()


def prune(kept: Path) -> list[Path]:
    """Remove the exports that ``kept`` supersedes: those of the same model folder made before (its files changed,
    or an older ``FORMAT``) and those whose model folder is gone (a removed virtual environment). Each is ~90 MB and
    nothing would ever read it again. Exports of other models that still exist, and exports being written (hidden
    ``.tmp`` folders), are left alone. Returns what was removed."""
    removed = []
    try:
        model = Path(json.loads((kept / "export.json").read_text(encoding="utf-8"))["model"]).resolve()
        others = [d for d in kept.parent.iterdir() if d.is_dir() and d != kept and not d.name.startswith(".")]
    except (OSError, ValueError, KeyError, TypeError):
        return removed
    for d in others:
        try:
            other = Path(json.loads((d / "export.json").read_text(encoding="utf-8"))["model"]).resolve()
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not an export this code wrote: not ours to remove
        if other == model or not other.exists():
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    if removed:
        log.info("removed %d superseded ONNX export(s) from %s", len(removed), kept.parent)
    return removed


def export(torch_model) -> OnnxMeanPool | None:
    """Export a loaded mean_pool.MeanPoolModel, check it on PROBES and publish it atomically; None if that fails."""
    key = fingerprint(torch_model.path, torch_model.max_seq_length, torch_model.normalize)
    folder = export_dir(key)
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with _EXPORT_LOCK:
            import torch

            from transformers import AutoModel

            tmp.mkdir(parents=True, exist_ok=True)
            # eager attention exports as plain matmuls, which onnxruntime's own optimiser fuses into Attention
            model = AutoModel.from_pretrained(torch_model.path, attn_implementation="eager").eval()

            class _Hidden(torch.nn.Module):
                def __init__(self, inner):
                    super().__init__()
                    self.inner = inner

                def forward(self, input_ids, attention_mask, token_type_ids):
                    return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                                      token_type_ids=token_type_ids).last_hidden_state

            ids = torch.ones((2, 8), dtype=torch.long)
            names = ["input_ids", "attention_mask", "token_type_ids"]
            import warnings

            with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the tracer's notes on shapes: the check below is what counts
                torch.onnx.export(_Hidden(model).eval(), (ids, ids, torch.zeros_like(ids)), str(tmp / "model.onnx"),
                                  input_names=names, output_names=["last_hidden_state"],
                                  dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]},
                                  opset_version=17, dynamo=False)
            exported = OnnxMeanPool(tmp, torch_model.path, torch_model.max_seq_length, torch_model.normalize,
                                    torch_model.dim)
            diff = float(np.abs(exported.encode(list(PROBES), batch_size=4, normalize_embeddings=True)
                                - torch_model.encode(list(PROBES), batch_size=4, normalize_embeddings=True)).max())
            if diff > TOLERANCE:
                log.info("not using the ONNX export of %s: its vectors differ from torch's by %.2g", torch_model.path, diff)
                shutil.rmtree(tmp, ignore_errors=True)
                return None
            backend = getattr(getattr(torch_model, "tokenizer", None), "backend_tokenizer", None)
            if backend is not None:
                (tmp / COUNTER).write_text(backend.to_str(), encoding="utf-8")
            (tmp / "export.json").write_text(json.dumps({"fingerprint": key, "model": str(torch_model.path),
                                                         "dim": torch_model.dim, "max_difference": diff,
                                                         "torch": torch.__version__}), encoding="utf-8")
            if folder.exists():
                shutil.rmtree(folder, ignore_errors=True)
            os.replace(tmp, folder)
            prune(folder)
            log.info("exported %s to %s for onnxruntime (largest difference from torch %.2g)", torch_model.path, folder, diff)
            return load(torch_model.path, torch_model.max_seq_length, torch_model.normalize, torch_model.dim)
    except Exception as e:  # noqa: BLE001 - only the speed-up is lost
        log.info("no ONNX export of %s (%s: %s); questions are embedded with torch", torch_model.path,
                 e.__class__.__name__, str(e)[:200])
        shutil.rmtree(tmp, ignore_errors=True)
        return None
