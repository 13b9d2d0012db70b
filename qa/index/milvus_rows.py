"""How a build's rows look in Milvus (qa/index/milvus_store.py says why and in what order they are written).

A document version's key hashes its record, so within one collection set equal keys mean
equal rows; rows are upserted, so a row keyed like one a killed publish left replaces it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from dataclasses import dataclass

import numpy as np

from ..ingest import lexical
from . import record_files, store
from ..config import IndexSettings
from ..errors import IndexCorruptError
from ..records import SPAN_DTYPE, stored_spans
from .milvus_client import pymilvus

PART_CHARS = 16_000
"""Characters of record text per row: at most 4 bytes each in UTF-8, so under the 65,535-byte VARCHAR limit."""
PACKED_PART_CHARS = 65_532
"""Characters of a packed array's base64 per row: ASCII, so one byte each, 49,149 bytes of the array."""
INSERT_ROWS = 2_000  # rows per upsert call: a few MB per gRPC message, well under its 64 MB limit
INSERT_BYTES = 16 << 20  # and at most this much text per call, records being up to 64 KB a row
READ_ROWS = 4_000  # rows per query_iterator batch
READ_RECORD_ROWS = 256  # record rows per batch: up to 64 KB each, 16 MB a batch
PARTS = ("chunks", "records")
LAYOUT2_PARTS = ("sentences", "tokens")
"""Collections of a row per sentence and per ColBERT token (layout 2): pruned with their set, never written."""
DOCUMENT, SEALED, MANIFEST = "document", "sealed", "manifest.json"  # record names
SENTENCES, TOKENS, SPANS = "sentences", "tokens", "spans"
SECOND_CHUNKS, SECOND_SENTENCES = "second_chunks", "second_sentences"  # bge vectors (qa/models/second.py), when built
CODEC = "codec"  # record of the set's token codec (owner ``codec_owner(key)``): its codes need it to be read
"""Records of a version's packed arrays: sentence vectors (float32), ColBERT token vectors (float16) and the
document characters each token covers (int32 pairs; int64 as older versions wrote them, told apart by size:
``unpack_spans``), in row order, base64 in PACKED_PART_CHARS parts."""
BM25_ANALYZER = {"tokenizer": "standard"}
"""Milvus only splits the ``terms`` field on spaces: it holds the chunk's terms as qa/ingest/lexical.py makes them
(bm25s's tokeniser, Snowball stemmer, stop list), and a question is sent as its terms the same way, so both
stores read text alike. Milvus Lite 3.2.2's analyzer could not do it itself: it has no "english" type,
ignores the "_english_" stop list and does not stem ("cat" never matched "Cats")."""
BM25_PARAMS = {"bm25_k1": 1.5, "bm25_b": 0.75}
"""bm25s's defaults (k1 1.5, b 0.75), which the local index uses; Milvus's own default k1 is 1.2."""
PLACEHOLDER = [0.0, 1.0]  # the vector of a collection that only needs one to exist


def one_of(field: str, values) -> str:
    """A Milvus filter: ``field`` is one of ``values`` (a JSON list of strings is a valid Milvus list literal)."""
    return f"{field} in {json.dumps(sorted(values), ensure_ascii=False)}"


def record_key(owner: str, name: str, part: int = 0) -> str:
    return f"{owner}:{name}:{part:07d}"


@dataclass(frozen=True)
class Version:
    """One document as a build holds it: its key, its rows in the build and its record."""

    source: str
    key: str
    chunks: list[int]  # rows of the build's chunks, in order
    sentences: list[int]  # rows of the build's sentences, ascending
    record: str


def versions(index: store.LoadedIndex) -> list[Version]:
    """The build's document versions, in its order: a loaded build's rows are its versions' rows one after another."""
    rows: dict[str, list[int]] = {s: [] for s in index.docs}
    for i, ch in enumerate(index.chunks):
        rows[ch.source].append(i)
    if [i for s in index.docs for i in rows[s]] != list(range(len(index.chunks))):
        raise IndexCorruptError("The local build's chunks are not grouped by document in document order, which the Milvus "
                                "store reads them back in. Run `python -m qa index --force`.")
    late, out = index.late, []
    for source, doc in index.docs.items():
        sentences = sorted({r for i in rows[source] for r in index.chunk_sentence_rows[i]})
        within = {r: n for n, r in enumerate(sentences)}
        chunks = []
        for i in rows[source]:
            row = record_files.chunk_row(index.chunks[i], [within[r] for r in index.chunk_sentence_rows[i]])
            if late is not None:
                row["tokens"] = int(late.offsets[i + 1] - late.offsets[i])
            chunks.append(row)
        record = json.dumps({"doc": record_files.doc_row(doc), "chunks": chunks, "sentences": len(sentences)}, ensure_ascii=False, sort_keys=True)
        key = "d" + hashlib.sha256(record.encode()).hexdigest()[:24]
        out.append(Version(source, key, rows[source], sentences, record))
    return out


def schema(pm, fields: list[tuple], functions: list = ()):
    out = pm.MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    for name, dtype, kwargs in fields:
        out.add_field(name, dtype, **kwargs)
    for f in functions:
        out.add_function(f)
    return out


INDEX_WAIT_S = 60.0
"""How long a new collection's indexes may take to be built (an empty collection's are built at once)."""


def create(c, name: str, fields, indexes: list[tuple]) -> None:
    """Create collection ``name`` with its ``indexes`` (field, type, metric, params), loaded for queries.

    What ``create_collection(index_params=...)`` does, but waiting for each index by asking at once and then
    more slowly, where pymilvus sleeps half a second before it first asks: 2.5 s of every first publish (five
    collections)."""
    params = c.prepare_index_params()
    for field, index_type, metric, extra in indexes:
        params.add_index(field_name=field, index_type=index_type, metric_type=metric, params=extra)
    try:
        c.create_collection(name, schema=fields, consistency_level="Strong")
        c.create_index(name, params, sync=False)
        for field, *_ in indexes:
            wait_for_index(c, name, field)
        c.load_collection(name)
    except Exception:
        if not c.has_collection(name):
            raise
        # another publisher created it meanwhile (a shared Milvus server): the same name means the same schema


def wait_for_index(c, name: str, field: str) -> None:
    """Return once the index on ``field`` of collection ``name`` is built; raise if Milvus says it failed."""
    end, pause = time.monotonic() + INDEX_WAIT_S, 0.005
    while True:
        got = c.describe_index(name, field) or {}
        if got.get("state") == "Finished":
            return
        if got.get("state") == "Failed" or time.monotonic() > end:
            raise RuntimeError(f"the index on {field} of Milvus collection {name} was not built "
                               f"({got.get('state', 'no index')}: {got.get('index_state_fail_reason', '')})")
        time.sleep(pause)
        pause = min(2 * pause, 0.25)


DROP_SETTLE_S = 2.0
"""How long a failed drop waits for a drop of the same collection by another publisher to finish: Milvus Lite
3.2.2 fails one of two simultaneous drops ("No such file or directory") while the other is still removing it."""


def drop(c, name: str) -> None:
    """Drop collection ``name`` if it exists; another publisher dropping it at the same moment is not an error."""
    try:
        if c.has_collection(name):
            c.drop_collection(name)
    except Exception:
        end = time.monotonic() + DROP_SETTLE_S
        while c.has_collection(name):
            if time.monotonic() > end:
                raise
            time.sleep(0.05)


def write(c, name: str, rows) -> None:
    """Upsert ``rows`` in batches: a row keyed like one a killed publish left replaces it."""
    batch, size = [], 0
    for row in rows:
        batch.append(row)
        size += len(row.get("data", ""))
        if len(batch) == INSERT_ROWS or size >= INSERT_BYTES:
            c.upsert(name, batch)
            batch, size = [], 0
    if batch:
        c.upsert(name, batch)


def record_rows(owner: str, name: str, text: str, part_chars: int = PART_CHARS):
    for part, at in enumerate(range(0, max(len(text), 1), part_chars)):
        yield {"key": record_key(owner, name, part), "owner": owner, "name": name, "part": part,
               "data": text[at : at + part_chars], "_": PLACEHOLDER}


def index_settings(manifest: dict) -> IndexSettings:
    return IndexSettings.from_dict(manifest.get("all_settings", {}).get("index", {}))


def chunk_terms(texts: list[str], settings: IndexSettings) -> list[str]:
    """Each text's BM25 terms (qa/ingest/lexical.py), space-separated, in order: what Milvus's BM25 function counts."""
    if not texts:
        return []
    tokens = lexical.tokenize(texts, settings)
    inv = {v: k for k, v in tokens.vocab.items()}
    return [" ".join(inv[i] for i in ids) for ids in tokens.ids]


def key_field(D) -> tuple:
    return ("key", D.VARCHAR, {"is_primary": True, "max_length": 256})


def create_set(c, coll: dict[str, str], dim: int) -> None:
    """The collections of a set that do not exist yet (all of them for a new set)."""
    pm = pymilvus()
    D = pm.DataType
    key, doc = key_field(D), [("doc", D.VARCHAR, {"max_length": 32}), ("pos", D.INT64, {})]
    specs = {
        "chunks": ([key, *doc, ("source", D.VARCHAR, {"max_length": 65_535}), ("dense", D.FLOAT_VECTOR, {"dim": dim})],
                   [("dense", "FLAT", "IP", {})]),
        "records": ([key, ("owner", D.VARCHAR, {"max_length": 160}), ("name", D.VARCHAR, {"max_length": 64}), ("part", D.INT64, {}),
                     ("data", D.VARCHAR, {"max_length": 65_535}), ("_", D.FLOAT_VECTOR, {"dim": len(PLACEHOLDER)})],
                    [("_", "FLAT", "L2", {})]),
    }
    for part, (fields, indexes) in specs.items():
        if not c.has_collection(coll[part]):
            create(c, coll[part], schema(pm, fields), indexes)


def write_terms(c, name: str, index: store.LoadedIndex, docs: list[Version]) -> None:
    """A new collection of every chunk's BM25 terms, keyed as its chunk row, flushed into one sealed segment.

    Milvus Lite 3.2.2 scores BM25 with each segment's own statistics (row count, lengths, document
    frequencies), those of a sealed segment counting its deleted rows too. Measured on 60 rows scored
    alone: the same rows split over two segments, or sharing one with 40 more rows later deleted (even
    after compact()), scored differently. Flushed, a reopened process finds the same single segment.
    So terms shared between builds would not score as the build alone does; written whole they do. Sealed,
    a document filter scores with the whole build's statistics, as the local store does (a growing segment
    scores with the filtered rows' alone).
    """
    pm = pymilvus()
    D = pm.DataType
    bm25 = pm.Function(name="bm25", function_type=pm.FunctionType.BM25, input_field_names=["terms"], output_field_names=["sparse"])
    terms = {"max_length": 65_535, "enable_analyzer": True, "analyzer_params": BM25_ANALYZER}
    fields = [key_field(D), ("doc", D.VARCHAR, {"max_length": 32}), ("terms", D.VARCHAR, terms), ("sparse", D.SPARSE_FLOAT_VECTOR, {})]
    if c.has_collection(name):  # a killed attempt at this build
        c.drop_collection(name)
    create(c, name, schema(pm, fields, [bm25]), [("sparse", "SPARSE_INVERTED_INDEX", "BM25", BM25_PARAMS)])
    texts = chunk_terms([ch.embed_text for ch in index.chunks], index_settings(index.manifest))
    longest = max([len(t.encode()) for t in texts] + [0])
    if longest > 65_535:
        raise IndexCorruptError(f"A chunk of {longest} bytes is longer than a Milvus VARCHAR holds; use smaller --chunk-tokens.")
    write(c, name, ({"key": f"{v.key}:{p}", "doc": v.key, "terms": texts[i]} for v in docs for p, i in enumerate(v.chunks)))
    c.flush(name)


def sealed(c, coll: dict[str, str]) -> set[str]:
    """The document versions whose rows are all written (their seal is written after them)."""
    return {r["owner"] for r in read_all(c, coll["records"], ["owner"], f'name == "{SEALED}"')}


def write_versions(c, coll: dict[str, str], index: store.LoadedIndex, new: list[Version]) -> None:
    """Rows, records (packed sentence and token vectors, then the document's) and, last, seals of ``new`` versions."""
    write(c, coll["chunks"], ({"key": f"{v.key}:{p}", "doc": v.key, "pos": p, "source": v.source,
                               "dense": index.dense.reconstruct(i).tolist()} for v in new for p, i in enumerate(v.chunks)))
    late = index.late

    def packed(v: Version):
        yield from record_rows(v.key, SENTENCES, pack(index.sentences[v.sentences], np.float32), PACKED_PART_CHARS)
        if index.second is not None:
            yield from record_rows(v.key, SECOND_CHUNKS, pack(index.second.chunks[v.chunks], np.float32), PACKED_PART_CHARS)
            yield from record_rows(v.key, SECOND_SENTENCES, pack(index.second.sentences[v.sentences], np.float32),
                                   PACKED_PART_CHARS)
        if late is not None:
            rows = np.concatenate([np.arange(late.offsets[i], late.offsets[i + 1]) for i in v.chunks] or [np.zeros(0, np.int64)])
            yield from record_rows(v.key, TOKENS, pack(late.vectors[rows], token_dtype(late.codec)), PACKED_PART_CHARS)
            yield from record_rows(v.key, SPANS, pack(stored_spans(late.spans[rows]), SPAN_DTYPE), PACKED_PART_CHARS)
        yield from record_rows(v.key, DOCUMENT, v.record)

    write(c, coll["records"], (row for v in new for row in packed(v)))
    write(c, coll["records"], (row for v in new for row in record_rows(v.key, SEALED, "")))


def token_dtype(codec) -> type:
    """How token rows are packed: a codec's uint8 codes, or float16 vectors."""
    return np.float16 if codec is None else np.uint8


def codec_owner(key: str) -> str:
    return f"codec-{key}"


def write_codec(c, coll: dict[str, str], codec, rewrite: bool = False) -> None:
    """The set's token codec, once (a set holds the codes of one codec: its key is in the set's tag); again with
    ``rewrite``."""
    owner = codec_owner(codec.key)
    if rewrite or next(read_all(c, coll["records"], ["owner"], f'owner == "{owner}" and name == "{SEALED}"'), None) is None:
        write(c, coll["records"], record_rows(owner, CODEC, pack(codec.to_bytes(), np.uint8), PACKED_PART_CHARS))
        write(c, coll["records"], record_rows(owner, SEALED, ""))


def read_codec(c, coll: dict[str, str], key: str):
    from ..models import late_codec

    text = read_records(c, coll["records"], [codec_owner(key)]).get(codec_owner(key), {}).get(CODEC)
    if text is None:
        raise IndexCorruptError(f"Milvus holds no token codec {key}, which the build's token codes need.")
    return late_codec.from_bytes(np.frombuffer(base64.b64decode(text), dtype=np.uint8))


def pack(array: np.ndarray, dtype) -> str:
    """An array's values as ``dtype``, row-major bytes in base64 (its shape is in the version's record)."""
    return base64.b64encode(np.ascontiguousarray(array, dtype=dtype).tobytes()).decode("ascii")


def unpack(text: str, dtype, width: int, rows: int, what: str) -> np.ndarray:
    """The (rows, width) array ``pack`` wrote; IndexCorruptError if its size is not that."""
    out = np.frombuffer(base64.b64decode(text), dtype=dtype)
    if out.size != rows * width:
        raise IndexCorruptError(f"Milvus holds {out.size} values of {what}, its record says {rows} x {width}.")
    return out.reshape(rows, width)


def unpack_spans(text: str, rows: int, what: str) -> np.ndarray:
    """The (rows, 2) token spans ``pack`` wrote: int32 pairs, or int64 pairs from a version an older qa wrote
    (told apart by their size, which differs whenever there is a token)."""
    dtype = np.int64 if len(base64.b64decode(text)) == rows * 2 * np.dtype(np.int64).itemsize and rows else SPAN_DTYPE
    return unpack(text, dtype, 2, rows, what)


def loaded(c, name: str) -> str:
    """``name``, loaded for queries: a Milvus reopened (a Lite file in a new process) holds every collection released."""
    if "Loaded" not in str(c.get_load_state(name).get("state")):
        c.load_collection(name)
    return name


def read_all(c, name: str, fields: list[str], filter: str = "", batch_rows: int = READ_ROWS):
    it = c.query_iterator(loaded(c, name), batch_size=batch_rows, filter=filter, output_fields=fields)
    try:
        while batch := it.next():
            yield from batch
    finally:
        it.close()


def read_records(c, name: str, owners) -> dict[str, dict[str, str]]:
    """{owner: {record name: text}} of ``owners``."""
    parts: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for r in read_all(c, name, ["owner", "name", "part", "data"], one_of("owner", owners), READ_RECORD_ROWS):
        parts.setdefault((r["owner"], r["name"]), []).append((r["part"], r["data"]))
    out: dict[str, dict[str, str]] = {}
    for (owner, rec), got in parts.items():
        out.setdefault(owner, {})[rec] = "".join(d for _, d in sorted(got))
    return out


