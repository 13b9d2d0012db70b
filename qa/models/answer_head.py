"""The answer head: a linear read of the cross-encoder's hidden states, fitted to tell answer sentences.

The shipped cross-encoder (ms-marco-MiniLM-L-12-v2, INT8, qa/models/onnx_models.py) was trained on web search:
its logit says whether a passage is about the query, not whether a sentence answers it. Its hidden states hold
more than that one logit uses. The head is a weighted sum of some of them (the [CLS] state of a few layers, the
mean of the sentence's own tokens), fitted on COVID-QA answer sentences with the model frozen
(training/answer_head/: data, licence, seed and the held-out figures that chose it). Frozen means no INT8
rounding can undo it, and the head reads the same forward pass as the ``cross`` signal: the graph gets the
head's tensors as extra outputs when its session opens (``onnx_models.with_outputs``), so the (topic, sentence)
pairs are run once, as before, and give both the logit and the answer score.

The weights are ``data/answer_head.npz`` (a few thousand floats), checked by sha256 at load like the models.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelNotFoundError
from . import onnx_models

HEAD_FILE = Path(__file__).parent / "data" / "answer_head.npz"
HEAD_SHA256 = "bd7f744099b4b918631376107cad8bbb43b28b79aac0832767ff6dab86abe815"
"""sha256 of HEAD_FILE as training/answer_head/fit.py wrote it."""
READINGS = ("logit", "cls", "second_mean", "first_mean")
"""How a head input is read from one graph tensor: ``logit`` the model's output; ``cls`` the [CLS] position (or the
tensor itself when it has no positions); ``second_mean`` the mean over the second segment's word pieces (the
sentence, without its closing [SEP]); ``first_mean`` the mean over the rest ([CLS], the question, both [SEP])."""


@dataclass(frozen=True)
class Head:
    """Inputs (graph tensor, reading) in order, each ``DIM`` wide except ``logit`` (1); standardised with
    ``mean`` / ``scale``, then ``weights``. The score is a log-odds-like number: higher answers more."""

    inputs: tuple[tuple[str, str], ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray

    @property
    def tensors(self) -> tuple[str, ...]:
        """The graph tensors the session must output, besides the logits."""
        return tuple(dict.fromkeys(t for t, r in self.inputs if r != "logit"))

    def features(self, outputs: dict[str, np.ndarray], logits: np.ndarray, types: np.ndarray,
                 mask: np.ndarray) -> np.ndarray:
        """One row of head inputs per pair of the batch (``types``/``mask``: its segment ids and attention mask)."""
        second = (types == 1) & (mask == 1)
        last = mask.sum(1) - 1  # the closing [SEP] of each row
        second[np.arange(len(second)), last] = False
        first = (mask == 1) & ~second
        parts = []
        for tensor, reading in self.inputs:
            if reading == "logit":
                parts.append(logits.reshape(-1, 1))
                continue
            x = outputs[tensor]
            if reading == "cls":
                parts.append(x[:, 0] if x.ndim == 3 else x)
            else:
                m = (second if reading == "second_mean" else first)[..., None].astype(np.float32)
                parts.append((x * m).sum(1) / np.maximum(m.sum(1), 1.0))
        return np.hstack(parts).astype(np.float64)

    def score(self, features: np.ndarray) -> np.ndarray:
        return ((features - self.mean) / self.scale) @ self.weights


def read_head(path: Path = HEAD_FILE, sha256: str | None = None) -> Head:
    """The head at ``path``, its sha256 checked (against HEAD_SHA256 unless given); ModelNotFoundError otherwise."""
    want = HEAD_SHA256 if sha256 is None else sha256
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ModelNotFoundError(f"The answer head {path} cannot be read ({e.strerror}). It comes with the "
                                 "repository: restore it with `git checkout -- qa/models/data/answer_head.npz`.") from None
    got = hashlib.sha256(data).hexdigest()
    if want and got != want:
        raise ModelNotFoundError(f"The answer head {path} does not match: sha256 {got}, expected {want}. Restore it "
                                 "with `git checkout -- qa/models/data/answer_head.npz`, or refit it with "
                                 "training/answer_head/fit.py and put its sha256 in qa/models/answer_head.py.")
    import io

    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        tensors, readings = [str(t) for t in z["tensors"]], [str(r) for r in z["readings"]]
        if any(r not in READINGS for r in readings):
            raise ModelNotFoundError(f"The answer head {path} reads {readings}; known readings: {', '.join(READINGS)}.")
        return Head(tuple(zip(tensors, readings)), z["mean"].astype(np.float64), z["scale"].astype(np.float64),
                    z["weights"].astype(np.float64))


class AnswerScorer:
    """The cross-encoder's logits and the answer head's scores for (query, sentence) pairs, from one run each.
    The logits are the ones ``CrossEncoder.score`` gives (same graph, same one-pair runs). Thread-safe."""

    def __init__(self, encoder: onnx_models.CrossEncoder | None = None, head: Head | None = None) -> None:
        self.head = head or read_head()
        self.encoder = encoder or onnx_models.CrossEncoder(outputs=self.head.tensors)

    def session(self):
        """The cross-encoder's session with the head's tensors as outputs: the encoder's own when it was made with
        them (``CrossEncoder(outputs=head.tensors)``: one session for passages and sentences)."""
        try:
            return onnx_models.session(self.encoder.name, 1, outputs=self.head.tensors)
        except ModelNotFoundError:
            raise
        except Exception as e:  # onnxruntime refuses a graph asked for tensors it does not have
            raise ModelNotFoundError(f"The cross-encoder cannot give the answer head's inputs ({str(e)[:200]}): the head "
                                     "was fitted on another model. Restore qa/models/data/answer_head.npz with `git "
                                     f"checkout`, or refit it with training/answer_head/fit.py. {onnx_models.INSTALL_HINT}") from None

    def load(self) -> AnswerScorer:
        self.session()
        onnx_models.tokenizer(self.encoder.name, self.encoder.MAX_LENGTH, "only_second")
        return self

    def features(self, query: str, passages: Sequence[str], max_length: int = onnx_models.CrossEncoder.MAX_LENGTH
                 ) -> tuple[np.ndarray, np.ndarray]:
        """(logits, head inputs): one logit and one row of head inputs per passage, in input order."""
        if not passages:
            return np.zeros(0, dtype=np.float32), np.zeros((0, len(self.head.mean)))
        tok = onnx_models.tokenizer(self.encoder.name, max_length, "only_second")
        q = self.encoder.clip(query, max_length)
        sess = self.session()
        names = ["logits", *self.head.tensors]

        def one(passage: str) -> tuple[float, np.ndarray]:
            ids, mask, types = onnx_models.pair_arrays(tok.encode_batch([(q, passage)]))
            got = sess.run(names, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})
            logits = got[0][:, 0]
            return float(logits[0]), self.head.features(dict(zip(names[1:], got[1:])), logits, types, mask)[0]

        rows = onnx_models.parallel_map(one, list(passages))
        return np.array([r[0] for r in rows], dtype=np.float32), np.vstack([r[1] for r in rows])

    def score(self, query: str, passages: Sequence[str], max_length: int = onnx_models.CrossEncoder.MAX_LENGTH
              ) -> tuple[np.ndarray, np.ndarray]:
        """(logits, answer scores), one each per passage, in input order."""
        logits, x = self.features(query, passages, max_length)
        return logits, self.head.score(x).astype(np.float32) if len(x) else np.zeros(0, dtype=np.float32)
