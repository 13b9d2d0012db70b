"""The index in Milvus: a local build written to versioned collections, and the first stage answered from them.

The local builder (qa/build.py) still does the work: chunks, vectors, ColBERT token
vectors and the caches stay in the index folder. ``publish`` then writes that build to
Milvus, one collection set per build, all names starting ``<prefix>_<build>_``::

    chunks     row (primary key = the chunk's row), source, terms (the stemmed terms of the
               text BM25 reads, see BM25_ANALYZER), dense (chunk vector), sparse (filled
               by Milvus's own BM25 function from terms)
    sentences  row, vector: the sentence vectors (rows as in chunk_sentence_rows)
    tokens     row, chunk, start, end, vector: ColBERT token vectors, if the build has them
    records    key, name, part, data: manifest.json, docs.jsonl and chunks.jsonl as text,
               in parts (a VARCHAR holds at most 65,535 bytes)

and a record in ``<prefix>_current`` names the live build. That record is written
last, so a build killed or failing midway leaves the previous set live; the next
publish drops unfinished sets and all but the newest KEEP_BUILDS finished ones.
Milvus wants a vector field in every collection: ``records`` and ``current`` carry a
two-number placeholder.

At query time dense candidates, BM25 candidates and document filters
(``source in [...]``) are Milvus searches, chunk vectors for rescoring are fetched
by primary key; fusion, rescoring, reranking and answers stay the project's own
code. Sentence and token vectors are read into memory once, at load: every hit
scores its sentences, and ColBERT scores every chunk of a small index, so fetching
them per question would cost a round trip per hit.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np

from . import lexical, store
from .config import IndexSettings, StoreSettings
from .errors import IndexCorruptError, IndexMissingError, QAError
from .late import TokenIndex

INSTALL_HINT = "Install the Milvus extra: `pip install -e '.[milvus]'` (or `make install`)."
PART_CHARS = 16_000
"""Characters of record text per row: at most 4 bytes each in UTF-8, so under the 65,535-byte VARCHAR limit."""
INSERT_ROWS = 2_000  # rows per insert call: a few MB per gRPC message, well under its 64 MB limit
READ_ROWS = 4_000  # rows per query_iterator batch
CURRENT = "current"
BM25_ANALYZER = {"tokenizer": "standard"}
"""Milvus only splits the ``terms`` field on spaces: it holds the chunk's terms as qa/lexical.py makes them
(bm25s's tokeniser, Snowball stemmer, stop list), and a question is sent as its terms the same way, so both
stores read text alike. Milvus Lite 3.2.2's analyzer could not do it itself: it has no "english" type,
ignores the "_english_" stop list and does not stem ("cat" never matched "Cats")."""
BM25_PARAMS = {"bm25_k1": 1.5, "bm25_b": 0.75}
"""bm25s's defaults (k1 1.5, b 0.75), which the local index uses; Milvus's own default k1 is 1.2."""
PLACEHOLDER = [0.0, 1.0]  # the vector of a collection that only needs one to exist


class MilvusUnavailableError(QAError):
    """pymilvus or milvus-lite is not installed, or the Milvus at the URI cannot be reached."""


_CLIENTS: dict[str, object] = {}


def _pymilvus():
    try:
        import pymilvus
    except ImportError as e:
        raise MilvusUnavailableError(f"The milvus store needs pymilvus ({e.name or e} is missing). {INSTALL_HINT}") from None
    return pymilvus


def client(uri: str):
    """One client per URI for the process (Milvus Lite runs one embedded server per database file)."""
    if uri in _CLIENTS:
        return _CLIENTS[uri]
    pm = _pymilvus()
    # Every query_iterator asks Milvus Lite for a timestamp it does not implement: the client logs a warning and
    # the embedded server an error with a traceback, then both go on with a client-side timestamp. Real failures
    # still reach us as exceptions.
    logging.getLogger("pymilvus.client.iterator.query_iterator").setLevel(logging.ERROR)
    if "://" not in uri:
        logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
    local = "://" not in uri
    if local:
        try:
            import milvus_lite  # noqa: F401
        except ImportError:
            raise MilvusUnavailableError(
                f"--milvus-uri {uri} is a file, which means embedded Milvus Lite, and milvus-lite is not installed. "
                f"{INSTALL_HINT} Or give http://host:19530 for a Milvus server."
            ) from None
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
    try:
        c = pm.MilvusClient(uri=str(Path(uri).resolve()) if local else uri)
    except Exception as e:
        raise MilvusUnavailableError(
            f"Cannot open Milvus at {uri} ({e.__class__.__name__}: {str(e)[:200]}). Check the URI; a Milvus Lite "
            "file can be open in one process at a time."
        ) from None
    _CLIENTS[uri] = c
    return c


def close(uri: str) -> None:
    c = _CLIENTS.pop(uri, None)
    if c is not None:
        c.close()


def _tag(build_id: str) -> str:
    return "b" + "".join(ch if ch.isalnum() else "_" for ch in build_id)


def names(settings: StoreSettings, build_id: str) -> dict[str, str]:
    base = f"{settings.milvus_prefix}_{_tag(build_id)}_"
    return {part: base + part for part in ("chunks", "sentences", "tokens", "records")}


def _current_name(settings: StoreSettings) -> str:
    return f"{settings.milvus_prefix}_current"


# -- writing --------------------------------------------------------------------------------------


def _schema(pm, fields: list[tuple], functions: list = ()):
    schema = pm.MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    for name, dtype, kwargs in fields:
        schema.add_field(name, dtype, **kwargs)
    for f in functions:
        schema.add_function(f)
    return schema


def _create(c, name: str, schema, indexes: list[tuple]) -> None:
    params = c.prepare_index_params()
    for field, index_type, metric, extra in indexes:
        params.add_index(field_name=field, index_type=index_type, metric_type=metric, params=extra)
    c.create_collection(name, schema=schema, index_params=params, consistency_level="Strong")


def _insert(c, name: str, rows) -> None:
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == INSERT_ROWS:
            c.insert(name, batch)
            batch = []
    if batch:
        c.insert(name, batch)


def _record_rows(name: str, text: str):
    for part, at in enumerate(range(0, max(len(text), 1), PART_CHARS)):
        yield {"key": f"{name}:{part:07d}", "name": name, "part": part, "data": text[at : at + PART_CHARS], "_": PLACEHOLDER}


def index_settings(manifest: dict) -> IndexSettings:
    return IndexSettings.from_dict(manifest.get("all_settings", {}).get("index", {}))


def chunk_terms(texts: list[str], settings: IndexSettings) -> list[str]:
    """Each text's BM25 terms (qa/lexical.py), space-separated, in order: what Milvus's BM25 function counts."""
    if not texts:
        return []
    tokens = lexical.tokenize(texts, settings)
    inv = {v: k for k, v in tokens.vocab.items()}
    return [" ".join(inv[i] for i in ids) for ids in tokens.ids]


def write_build(c, settings: StoreSettings, index: store.LoadedIndex) -> dict[str, str]:
    """Write one loaded local build as a new collection set (not yet live). Returns its collection names."""
    pm = _pymilvus()
    D = pm.DataType
    build_id = index.manifest["build"]
    coll = names(settings, build_id)
    for name in coll.values():  # an unfinished earlier attempt at this same build
        if c.has_collection(name):
            c.drop_collection(name)
    dim = int(index.manifest["model"]["dim"])
    max_source = max([len(s.encode()) for s in index.docs] + [1])
    terms = chunk_terms([ch.embed_text for ch in index.chunks], index_settings(index.manifest))
    max_text = max([len(t.encode()) for t in terms] + [1])
    if max_text > 65_535:
        raise IndexCorruptError(f"A chunk of {max_text} bytes is longer than a Milvus VARCHAR holds; use smaller --chunk-tokens.")
    bm25 = pm.Function(name="bm25", function_type=pm.FunctionType.BM25, input_field_names=["terms"], output_field_names=["sparse"])
    _create(c, coll["chunks"], _schema(pm, [
        ("row", D.INT64, {"is_primary": True}),
        ("source", D.VARCHAR, {"max_length": min(65_535, max(256, max_source))}),
        ("terms", D.VARCHAR, {"max_length": 65_535, "enable_analyzer": True, "analyzer_params": BM25_ANALYZER}),
        ("dense", D.FLOAT_VECTOR, {"dim": dim}),
        ("sparse", D.SPARSE_FLOAT_VECTOR, {}),
    ], [bm25]), [("dense", "FLAT", "IP", {}), ("sparse", "SPARSE_INVERTED_INDEX", "BM25", BM25_PARAMS)])
    vecs = np.vstack([index.dense.reconstruct(i) for i in range(index.dense.ntotal)]) if index.dense.ntotal else np.zeros((0, dim))
    _insert(c, coll["chunks"], ({"row": i, "source": ch.source, "terms": terms[i], "dense": vecs[i].tolist()}
                                for i, ch in enumerate(index.chunks)))

    _create(c, coll["sentences"], _schema(pm, [("row", D.INT64, {"is_primary": True}), ("vector", D.FLOAT_VECTOR, {"dim": dim})]),
            [("vector", "FLAT", "IP", {})])
    _insert(c, coll["sentences"], ({"row": i, "vector": v.tolist()} for i, v in enumerate(index.sentences)))

    if index.late is not None:
        late = index.late
        _create(c, coll["tokens"], _schema(pm, [
            ("row", D.INT64, {"is_primary": True}), ("chunk", D.INT64, {}), ("start", D.INT64, {}), ("end", D.INT64, {}),
            ("vector", D.FLOAT_VECTOR, {"dim": int(late.vectors.shape[1])}),
        ]), [("vector", "FLAT", "IP", {})])
        chunk_of = np.repeat(np.arange(len(late.offsets) - 1), np.diff(late.offsets))
        _insert(c, coll["tokens"], ({"row": i, "chunk": int(chunk_of[i]), "start": int(late.spans[i, 0]), "end": int(late.spans[i, 1]),
                                     "vector": late.vectors[i].astype(np.float32).tolist()} for i in range(len(late.vectors))))

    _create(c, coll["records"], _schema(pm, [
        ("key", D.VARCHAR, {"is_primary": True, "max_length": 64}), ("name", D.VARCHAR, {"max_length": 64}),
        ("part", D.INT64, {}), ("data", D.VARCHAR, {"max_length": 65_535}), ("_", D.FLOAT_VECTOR, {"dim": len(PLACEHOLDER)}),
    ]), [("_", "FLAT", "L2", {})])
    docs = "".join(json.dumps(asdict(d), ensure_ascii=False) + "\n" for d in index.docs.values())
    chunks = "".join(json.dumps(store._chunk_row(ch, rows), ensure_ascii=False) + "\n"
                     for ch, rows in zip(index.chunks, index.chunk_sentence_rows))
    manifest = json.dumps(dict(index.manifest, store={"kind": "milvus", "collections": coll}), ensure_ascii=False)
    for name, text in (("docs.jsonl", docs), ("chunks.jsonl", chunks), ("manifest.json", manifest)):
        _insert(c, coll["records"], _record_rows(name, text))
    return coll


def _switch(c, settings: StoreSettings, build_id: str) -> None:
    """Point the current record at ``build_id``: the one write that makes a build live."""
    pm = _pymilvus()
    D = pm.DataType
    name = _current_name(settings)
    if not c.has_collection(name):
        _create(c, name, _schema(pm, [("name", D.VARCHAR, {"is_primary": True, "max_length": 16}),
                                      ("build", D.VARCHAR, {"max_length": 128}), ("_", D.FLOAT_VECTOR, {"dim": len(PLACEHOLDER)})]),
                [("_", "FLAT", "L2", {})])
    c.upsert(name, [{"name": CURRENT, "build": build_id, "_": PLACEHOLDER}])


def _loaded(c, name: str) -> str:
    """``name``, loaded for queries: a Milvus reopened (a Lite file in a new process) holds every collection released."""
    if "Loaded" not in str(c.get_load_state(name).get("state")):
        c.load_collection(name)
    return name


def current_build(c, settings: StoreSettings) -> str | None:
    name = _current_name(settings)
    if not c.has_collection(name):
        return None
    _loaded(c, name)
    got = c.query(name, ids=[CURRENT], output_fields=["build"])
    return got[0]["build"] if got else None


def prune(c, settings: StoreSettings, keep: str) -> None:
    """Drop unfinished collection sets and all but the newest KEEP_BUILDS finished ones (``keep`` among them)."""
    start = f"{settings.milvus_prefix}_b"
    tags = sorted({n[len(settings.milvus_prefix) + 1 :].rsplit("_", 1)[0] for n in c.list_collections() if n.startswith(start)})
    finished = [t for t in tags if c.has_collection(f"{settings.milvus_prefix}_{t}_records")]
    live = _tag(keep)
    drop = [t for t in finished if t != live][: max(0, len(finished) - store.KEEP_BUILDS)]
    drop += [t for t in tags if t not in finished]
    for t in drop:
        for part in ("chunks", "sentences", "tokens", "records"):
            if c.has_collection(f"{settings.milvus_prefix}_{t}_{part}"):
                c.drop_collection(f"{settings.milvus_prefix}_{t}_{part}")


def publish(settings: StoreSettings, index: store.LoadedIndex) -> str:
    """Write a loaded local build to Milvus and make it live there. Call under store.build_lock."""
    c = client(settings.milvus_uri)
    build_id = index.manifest["build"]
    write_build(c, settings, index)
    _switch(c, settings, build_id)
    prune(c, settings, keep=build_id)
    return build_id


# -- reading --------------------------------------------------------------------------------------


def _read_all(c, name: str, fields: list[str]):
    it = c.query_iterator(_loaded(c, name), batch_size=READ_ROWS, filter="", output_fields=fields)
    try:
        while batch := it.next():
            yield from batch
    finally:
        it.close()


def _read_records(c, name: str) -> dict[str, str]:
    parts: dict[str, list[tuple[int, str]]] = {}
    for r in _read_all(c, name, ["name", "part", "data"]):
        parts.setdefault(r["name"], []).append((r["part"], r["data"]))
    return {k: "".join(d for _, d in sorted(v)) for k, v in parts.items()}


def _vectors(c, name: str, count: int, dim: int, extra: tuple[str, ...] = ()) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    out = np.zeros((count, dim), dtype=np.float32)
    cols = {f: np.zeros(count, dtype=np.int64) for f in extra}
    seen = 0
    for r in _read_all(c, name, ["row", "vector", *extra]):
        out[r["row"]] = r["vector"]
        for f in extra:
            cols[f][r["row"]] = r[f]
        seen += 1
    if seen != count:
        raise IndexCorruptError(f"Milvus collection {name} has {seen} rows, the manifest says {count}. Run `python -m qa index --force`.")
    return out, cols


def live_manifest(settings: StoreSettings) -> dict | None:
    """The manifest of the live build in Milvus, or None: enough to tell whether it is stale, without loading it."""
    c = client(settings.milvus_uri)
    build_id = current_build(c, settings)
    if build_id is None:
        return None
    try:
        return json.loads(_read_records(c, names(settings, build_id)["records"])["manifest.json"])
    except Exception:  # unreadable: treated as missing, so it is rebuilt
        return None


def load(settings: StoreSettings) -> store.LoadedIndex:
    """The live build in Milvus, with its first stage answered by Milvus. Raises IndexMissingError or IndexCorruptError."""
    c = client(settings.milvus_uri)
    build_id = current_build(c, settings)
    if build_id is None:
        raise IndexMissingError(f"No index in Milvus at {settings.milvus_uri}: run `python -m qa index --store milvus "
                                f"--milvus-uri {settings.milvus_uri}` to build one.")
    coll = names(settings, build_id)
    try:
        records = _read_records(c, coll["records"])
        manifest = json.loads(records["manifest.json"])
        docs = {}
        for line in records["docs.jsonl"].splitlines():
            d = store._doc_from_row(json.loads(line))
            docs[d.source] = d
        chunks, rows = [], []
        for line in records["chunks.jsonl"].splitlines():
            ch, r = store._chunk_from_row(json.loads(line), docs)
            chunks.append(ch)
            rows.append(r)
        counts, dim = manifest["counts"], int(manifest["model"]["dim"])
        sentences, _ = _vectors(c, coll["sentences"], counts["sentences"], dim)
        late = None
        if counts.get("late_tokens") and c.has_collection(coll["tokens"]):
            n_tok = counts["late_tokens"]
            dim_tok = len(c.query(_loaded(c, coll["tokens"]), ids=[0], output_fields=["vector"])[0]["vector"])
            vecs, cols = _vectors(c, coll["tokens"], n_tok, dim_tok, ("chunk", "start", "end"))
            offsets = np.searchsorted(cols["chunk"], np.arange(len(chunks) + 1), side="left").astype(np.int64)
            vecs = vecs.astype(np.float16)  # as stored locally (qa/late.py), widened below as store.read_late does
            if vecs.size * 4 <= store.LATE_FLOAT32_MAX_BYTES:
                vecs = vecs.astype(np.float32)
            late = TokenIndex(vecs, offsets, np.stack([cols["start"], cols["end"]], axis=1))
    except (IndexCorruptError, MilvusUnavailableError):
        raise
    except Exception as e:
        raise IndexCorruptError(
            f"The Milvus index {build_id} at {settings.milvus_uri} cannot be read ({e.__class__.__name__}: {str(e)[:200]}). "
            f"Run `python -m qa index --force --store milvus --milvus-uri {settings.milvus_uri}`."
        ) from None
    by_source: dict[str, list[int]] = {}
    for i, ch in enumerate(chunks):
        by_source.setdefault(ch.source, []).append(i)
    return store.LoadedIndex(
        path=Path(settings.milvus_uri) / build_id, manifest=manifest, docs=docs, chunks=chunks, chunk_sentence_rows=rows,
        sentences=sentences, dense=None, bm25=None, late=late,
        by_source={k: np.array(v, dtype=np.int64) for k, v in by_source.items()},
        first_stage=MilvusFirstStage(c, _loaded(c, coll["chunks"]), len(chunks), index_settings(manifest)),
    )


class MilvusFirstStage:
    """The Retriever's candidate lists from one build's chunk collection (see Retriever.dense_candidates)."""

    def __init__(self, client, collection: str, size: int, settings: IndexSettings) -> None:
        self.client, self.collection, self.size, self.settings = client, collection, size, settings

    @staticmethod
    def _filter(sources: list[str] | None) -> dict:
        # Milvus Lite does not take filter_params; a JSON list of strings is a valid Milvus list literal.
        return {"filter": f"source in {json.dumps(list(sources), ensure_ascii=False)}"} if sources else {}

    def dense_candidates(self, qvec: np.ndarray, sources: list[str] | None, depth: int) -> np.ndarray:
        """Rows of the ``depth`` chunks nearest to ``qvec`` (inner product, exact), best first."""
        if depth <= 0 or not self.size:
            return np.zeros(0, dtype=np.int64)
        got = self.client.search(self.collection, data=[np.asarray(qvec, dtype=np.float32).tolist()], anns_field="dense",
                                 limit=min(depth, self.size), output_fields=["row"], search_params={"metric_type": "IP"},
                                 **self._filter(sources))[0]
        return np.array([h["row"] for h in got], dtype=np.int64)

    def bm25_scores(self, question: str, sources: list[str] | None, depth: int) -> dict[int, float]:
        """{row: BM25 score} of the ``depth`` best-matching chunks, scored by Milvus's BM25 function over ``terms``."""
        terms = " ".join(lexical.query_terms(question, self.settings))
        if depth <= 0 or not self.size or not terms:
            return {}
        got = self.client.search(self.collection, data=[terms], anns_field="sparse", limit=min(depth, self.size),
                                 output_fields=["row"], search_params={"metric_type": "BM25"}, **self._filter(sources))[0]
        # Milvus Lite reports BM25 as a negated distance (best first, most negative); the score is its size.
        return {int(h["row"]): abs(float(h["distance"])) for h in got if h["distance"] != 0}

    def chunk_vectors(self, rows) -> np.ndarray:
        """The stored chunk vectors of ``rows``, in that order."""
        rows = [int(r) for r in rows]
        got = {r["row"]: r["dense"] for r in self.client.query(self.collection, ids=rows, output_fields=["dense"])}
        return np.array([got[r] for r in rows], dtype=np.float32)
