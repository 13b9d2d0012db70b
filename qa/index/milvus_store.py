"""The index in Milvus: a local build written to Milvus incrementally, and loaded back with its first stage.

The local builder (qa/build/builder.py) still does the work: chunks, vectors, ColBERT token
vectors and the caches stay in the index folder. ``publish`` then writes that build to
Milvus. What decides a row besides its document (the settings the build records, the
model, its dimension, the token vectors' dimension) is hashed into a set tag; each tag
has one collection set, all names starting ``<prefix>_<tag>_`` (qa/index/milvus_rows.py)::

    chunks     key, doc, pos, source, dense (chunk vector)
    records    key, owner, name, part, data: text in parts: each document version's record
               (the Document, its chunks, counts), its sentence vectors, ColBERT token vectors
               and their spans packed (base64 of the arrays' bytes, about 64 KB a row), and its
               ``sealed`` mark; each build's manifest
    <build>_terms  key, doc, terms, sparse: one build's BM25 terms, written whole

Rows are keyed by content, not by row number: ``doc`` is a document version's key, a hash
of its record (text, structure, chunks, counts), and ``key`` is ``<doc>:<pos>``, the row's
place within that document. In one set a version decides its rows, so a publish writes:

1. the chunk rows of every version the set has no ``sealed`` mark for (changed and added
   documents; all of them on a first publish or after a settings change, which makes a new
   set), upserted so that a retry rewrites the same keys; then their records; then, last,
   their seals;
2. the build's BM25 terms, every chunk's, into a collection of its own, flushed into one
   segment: Milvus Lite 3.2.2 scores BM25 with each segment's own statistics, rows deleted
   from it included (measured: see milvus_rows.write_terms), so terms shared between builds
   would score otherwise than a build alone, and otherwise than the local store;
3. the build's manifest record, naming its versions, its terms and the build live before it;
4. a claim on the build it read live when it started (qa/index/milvus_claim.py): of the
   builders that started from one live build, on one machine or several, exactly one gets it;
   the others withdraw (drop their terms collection, delete their manifest and the seals of
   versions no kept build names, so those are written again) and say so (PublishConflictError);
5. prune, holding the claim, so that no publisher that could still win is writing rows: the
   new build and the one live before it are kept (build_dirs.KEEP_BUILDS, following each manifest's
   ``previous``). The records of every other build and version are deleted first, then other
   builds' terms and other sets are dropped and other versions' rows deleted (removed
   documents and old versions of changed ones, a publish after they stopped being live;
   whatever a publish killed midway or a withdrawn one left);
6. the record in ``<prefix>_current`` ("<tag>:<build>"): the one write that makes it live;
   then the claim is dropped.

Readers. A loaded build (its first stage: qa/index/first_stage.py ``MilvusFirstStage``)
filters each dense search to its own versions (``doc in [...]``,
or those of the documents asked for) and searches its own terms collection for BM25, so
rows of a publish under way or killed, and rows kept for the build before, are never
candidates; row keys map to the build's own row numbers, so the Retriever, rescoring
(``chunk_vectors``) and document filters work on rows as with the local store. While a
publish is under way, or after one was killed, the live build answers exactly as before:
nothing it reads is written or deleted. An engine loaded before a publish goes on
answering exactly as before, its rows kept, until the next publish; that one deletes its
manifest record before its rows, and every search checks the record afterwards, so from
then on that engine's questions raise IndexStaleError saying to reload, never an answer
from part of a build. The page reloads by itself: it polls the ``current`` record
(``pointer``, one small query) as it polls the local store's CURRENT (qa/page/live.py), so
a page on any machine follows what any builder publishes to a shared Milvus server.

A Milvus server that stops answering (qa/index/milvus_client.py ``guard``) is a
MilvusUnavailableError for the question or publish under way, saying how to start it; the next
call connects again, loading the collections a restarted server holds released.

Dense candidates, BM25 candidates and document filters are Milvus searches, chunk vectors
for rescoring are fetched by key; fusion, rescoring, reranking and answers stay the
project's own code. Sentence and token vectors are read into memory once, at load: every
hit scores its sentences, and ColBERT scores every chunk of a small index, so fetching
them per question would cost a round trip per hit. They are packed per document version
because Milvus Lite reads rows one by one in Python: layout 2, a row per token, took 15.9 s
to read 100,000 token rows and did not finish loading 1,075,887 in 17 minutes; packed, the
same 100,000 vectors were 391 rows, written in 2.5 s and read in 0.4 s (``qa bench
--sections stores`` measures a whole store).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import build_dirs, late_files, milvus_claim, milvus_rows, record_files, store
from .first_stage import MilvusFirstStage
from .milvus_client import MilvusUnavailableError, client, guard, pymilvus, released, server_down
from ..config import StoreSettings
from ..models import second
from ..errors import IndexCorruptError, IndexMissingError, PublishConflictError
from ..records import SPAN_DTYPE, TokenIndex
from .milvus_rows import (DOCUMENT, MANIFEST, PARTS, PLACEHOLDER, SECOND_CHUNKS, SECOND_SENTENCES, SENTENCES, SPANS, TOKENS,
                          index_settings, unpack)

CURRENT = "current"
LAYOUT = 3
"""3: rows keyed by document version, written incrementally, sentence and token vectors packed in records.
2 (a row per sentence and per token) and 1 (a collection set per build, ``<prefix>_b<build>_``, ``current``
naming the build alone) are not read: the engine rebuilds, and the publish after that drops them."""


# -- names --------------------------------------------------------------------------------------------


def _tag(build_id: str) -> str:
    """A build's name in records (and, in layout 1, in collection names)."""
    return "b" + "".join(ch if ch.isalnum() else "_" for ch in build_id)


def set_tag(manifest: dict, token_dim: int | None, codec_key: str | None = None) -> str:
    """The collection set a build's rows go to: what decides a row besides its document, hashed
    (``token_dim``: bytes of a token's codes, or its float16 dimensions; the codec's key when there is one)."""
    what = {"layout": LAYOUT, "settings": manifest.get("settings"), "model": manifest.get("model"), "tokens": token_dim}
    if codec_key is not None:
        what["codec"] = codec_key
    return "s" + hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:12]


def names(settings: StoreSettings, tag: str) -> dict[str, str]:
    return {part: f"{settings.milvus_prefix}_{tag}_{part}" for part in PARTS}


def terms_name(settings: StoreSettings, tag: str, build_id: str) -> str:
    """The collection of one build's BM25 terms (see milvus_rows.write_terms)."""
    return f"{settings.milvus_prefix}_{tag}_{_tag(build_id)}_terms"


def _current_name(settings: StoreSettings) -> str:
    return f"{settings.milvus_prefix}_current"


def _split(ref: str) -> tuple[str, str]:
    """(set tag, build id) of a ``current`` value; layout 1 wrote the build id alone."""
    tag, _, build_id = ref.rpartition(":")
    return (tag, build_id) if tag else (_tag(ref), ref)


# -- writing ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Written:
    """What ``write_build`` wrote of a build not yet live: its ``current`` value, and what withdrawing it deletes."""

    ref: str
    records: str  # the set's records collection
    terms: str  # its own terms collection
    owner: str  # its manifest record's owner
    new: tuple[str, ...]  # document versions it wrote (unsealed again if it is withdrawn)


def write_build(c, settings: StoreSettings, index: store.LoadedIndex, live: str | None, rewrite: bool = False) -> Written:
    """Write what the set lacks of a build (with ``rewrite``, all of it: upserted over the same keys, so a damaged
    row is replaced and rows a reader may be reading keep their content), then its manifest naming ``live`` as the
    build before (not yet live)."""
    build_id = index.manifest["build"]
    token_dim = None if index.late is None else int(index.late.vectors.shape[1])
    codec = None if index.late is None else index.late.codec
    tag = set_tag(index.manifest, token_dim, None if codec is None else codec.key)
    coll = names(settings, tag)
    milvus_rows.create_set(c, coll, int(index.manifest["model"]["dim"]))
    if codec is not None:
        milvus_rows.write_codec(c, coll, codec, rewrite)
    have = set() if rewrite else milvus_rows.sealed(c, coll)
    docs = milvus_rows.versions(index)
    new = [v for v in docs if v.key not in have]
    milvus_rows.write_versions(c, coll, index, new)
    ref, terms, owner = f"{tag}:{build_id}", terms_name(settings, tag, build_id), _tag(build_id)
    written = Written(ref, coll["records"], terms, owner, tuple(v.key for v in new))
    if ref == live:
        return written  # published before: it is live as it is
    milvus_rows.write_terms(c, terms, index, docs)
    manifest = dict(index.manifest, store={"kind": "milvus", "layout": LAYOUT, "set": tag, "collections": coll, "terms": terms,
                                           "token_dim": token_dim, "token_codec": None if codec is None else codec.key,
                                           "documents": [[v.source, v.key] for v in docs], "previous": live})
    c.delete(milvus_rows.loaded(c, coll["records"]), filter=f'owner == "{owner}"')  # a longer manifest of a killed attempt
    milvus_rows.write(c, coll["records"], milvus_rows.record_rows(owner, MANIFEST, json.dumps(manifest, ensure_ascii=False)))
    for name in coll.values():  # sealed now: loading the seed build just after publishing it took 27 s, 4.6 s flushing + 7.9 s so
        if c.has_collection(name):
            c.flush(name)
    return written


def withdraw(c, settings: StoreSettings, written: Written) -> None:
    """Take back a build that lost its claim: its terms and manifest go, and the seals of the versions it wrote that no
    kept build names (a concurrent prune may have deleted some of their rows), so the next publish writes them again."""
    milvus_rows.drop(c, written.terms)
    records = milvus_rows.loaded(c, written.records)
    c.delete(records, filter=f'owner == "{written.owner}"')
    live = current(c, settings)
    kept = {key for _, m in (kept_builds(c, settings, live) if live else []) if m for _, key in m["store"]["documents"]}
    unseal = sorted(set(written.new) - kept)
    if unseal:
        c.delete(records, filter=f'name == "{milvus_rows.SEALED}" and {milvus_rows.one_of("owner", unseal)}')


def _switch(c, settings: StoreSettings, ref: str) -> None:
    """Point the current record at ``ref`` ("<set tag>:<build>"): the one write that makes a build live."""
    pm = pymilvus()
    D = pm.DataType
    name = _current_name(settings)
    if not c.has_collection(name):
        fields = [("name", D.VARCHAR, {"is_primary": True, "max_length": 16}), ("build", D.VARCHAR, {"max_length": 128}),
                  ("_", D.FLOAT_VECTOR, {"dim": len(PLACEHOLDER)})]
        milvus_rows.create(c, name, milvus_rows.schema(pm, fields), [("_", "FLAT", "L2", {})])
    c.upsert(name, [{"name": CURRENT, "build": ref, "_": PLACEHOLDER}])
    c.flush(name)  # a server killed right after still names it when it comes back


def current(c, settings: StoreSettings) -> str | None:
    """The ``current`` value: "<set tag>:<build>" of the live build (a build id alone from layout 1), or None."""
    name = _current_name(settings)
    if not c.has_collection(name):
        return None
    got = c.query(milvus_rows.loaded(c, name), ids=[CURRENT], output_fields=["build"])
    return got[0]["build"] if got else None


def pointer(settings: StoreSettings) -> str | None:
    """The ``current`` value, read with one small query: what a page polls to notice a build published elsewhere.
    MilvusUnavailableError when the server does not answer."""
    with guard(settings.milvus_uri):
        c = client(settings.milvus_uri)
        try:
            got = c.query(_current_name(settings), ids=[CURRENT], output_fields=["build"])
        except Exception as e:
            if not (released(e) or not c.has_collection(_current_name(settings))):
                raise
            return current(c, settings)  # released (a restarted server), or nothing published yet
        return got[0]["build"] if got else None


def current_build(c, settings: StoreSettings) -> str | None:
    ref = current(c, settings)
    return None if ref is None else _split(ref)[1]


def kept_builds(c, settings: StoreSettings, live: str) -> list[tuple[str, dict | None]]:
    """The live build and the ones live before it, newest first, up to build_dirs.KEEP_BUILDS: (ref, manifest or None)."""
    out: list[tuple[str, dict | None]] = []
    ref: str | None = live
    while ref and len(out) < build_dirs.KEEP_BUILDS and ref not in [r for r, _ in out]:
        m = manifest_of(c, settings, ref)
        out.append((ref, m))
        ref = (m or {}).get("store", {}).get("previous")
    return out


def prune(c, settings: StoreSettings, live: str, touch=lambda: None) -> None:
    """Delete what no kept build reads: other sets, and in a kept set the records, then the rows, of other versions.
    ``touch`` is called before each step (the publisher's claim is still held: milvus_claim.touch)."""
    kept = kept_builds(c, settings, live)
    tags = {_split(ref)[0] for ref, _ in kept}
    sets = [(tag, names(settings, tag)) for tag in tags if tag.startswith("s")]  # layout 1 (tag "b..."): kept whole, then dropped
    docs: dict[str, set[str]] = {}
    for tag, coll in sets:
        manifests = [m for ref, m in kept if m is not None and _split(ref)[0] == tag]
        docs[tag] = {key for m in manifests for _, key in m["store"]["documents"]}
        owners = docs[tag] | {_tag(m["build"]) for m in manifests}
        owners |= {milvus_rows.codec_owner(m["store"]["token_codec"]) for m in manifests if m["store"].get("token_codec")}
        # the manifests first: a reader whose manifest is still there after a search saw all its rows (MilvusFirstStage.check)
        if c.has_collection(coll["records"]):
            touch()
            c.delete(milvus_rows.loaded(c, coll["records"]), filter=f"not ({milvus_rows.one_of('owner', owners)})")
    terms = {m["store"]["terms"] for _, m in kept if m is not None}
    start = settings.milvus_prefix + "_"
    for name in c.list_collections():
        tag, _, part = name[len(start):].rpartition("_")
        unkept = part in PARTS + milvus_rows.LAYOUT2_PARTS and tag not in tags or part == "terms" and name not in terms
        if name.startswith(start) and tag[:1] in ("b", "s") and unkept:
            touch()
            milvus_rows.drop(c, name)  # another set (older settings, layout 1, a killed publish's), or an unkept build's terms
    for tag, coll in sets:
        if c.has_collection(coll["chunks"]):
            touch()
            c.delete(milvus_rows.loaded(c, coll["chunks"]), filter=f"not ({milvus_rows.one_of('doc', docs[tag])})")


def publish(settings: StoreSettings, index: store.LoadedIndex, rewrite: bool = False) -> str:
    """Write a loaded local build to Milvus, incrementally, and make it live there, unless another publisher made
    another build live since this one started (PublishConflictError; this one is withdrawn). Call under
    build_dirs.build_lock, which serialises the builds of one index folder; the claim serialises publishers of any."""
    uri = settings.milvus_uri
    with guard(uri):
        c = client(uri)
        expected = current(c, settings)
        written = write_build(c, settings, index, expected, rewrite)
        if written.ref == expected:
            return index.manifest["build"]
        try:
            held = milvus_claim.take(c, settings, expected, written.ref)
        except PublishConflictError:
            withdraw(c, settings, written)
            raise
        try:
            live = current(c, settings)
            if live != expected:  # moved before our claim: by a publisher that started earlier, or broke a claim
                raise PublishConflictError(
                    f"Another build ({_split(live)[1] if live else 'none'}) was published to Milvus at {uri} while this one "
                    f"({index.manifest['build']}) was being written, which was withdrawn; run `python -m qa index --store "
                    f"milvus --milvus-uri {uri}` again to publish over it.")
            prune(c, settings, written.ref, touch=lambda: milvus_claim.touch(c, held, uri))
            milvus_claim.touch(c, held, uri)
            _switch(c, settings, written.ref)
        except BaseException as e:
            with contextlib.suppress(Exception):
                milvus_claim.release(c, held)
                if isinstance(e, PublishConflictError):
                    withdraw(c, settings, written)
            raise
        with contextlib.suppress(Exception):
            milvus_claim.release(c, held)
    return index.manifest["build"]


# -- reading ------------------------------------------------------------------------------------------


def manifest_of(c, settings: StoreSettings, ref: str) -> dict | None:
    """The manifest of build ``ref`` in its set, or None (none, unreadable, or layout 1)."""
    tag, build_id = _split(ref)
    coll = names(settings, tag)
    if not tag.startswith("s") or not c.has_collection(coll["records"]):
        return None
    try:
        return json.loads(milvus_rows.read_records(c, coll["records"], [_tag(build_id)])[_tag(build_id)][MANIFEST])
    except Exception as e:  # unreadable: treated as missing; a server gone is not
        if server_down(settings.milvus_uri, e):
            raise
        return None


def live_manifest(settings: StoreSettings) -> dict | None:
    """The manifest of the live build in Milvus, or None (also when written in a layout ``load`` does not read):
    enough to tell whether it is stale, without loading it."""
    with guard(settings.milvus_uri):
        c = client(settings.milvus_uri)
        ref = current(c, settings)
        manifest = None if ref is None else manifest_of(c, settings, ref)
    return manifest if (manifest or {}).get("store", {}).get("layout") == LAYOUT else None


def load(settings: StoreSettings) -> store.LoadedIndex:
    """The live build in Milvus, with its first stage answered by Milvus. Raises IndexMissingError or IndexCorruptError."""
    with guard(settings.milvus_uri):
        return _load(settings)


def _load(settings: StoreSettings) -> store.LoadedIndex:
    c = client(settings.milvus_uri)
    ref = current(c, settings)
    if ref is None:
        raise IndexMissingError(f"No index in Milvus at {settings.milvus_uri}: run `python -m qa index --store milvus "
                                f"--milvus-uri {settings.milvus_uri}` to build one.")
    tag, build_id = _split(ref)
    redo = f"Run `python -m qa index --force --store milvus --milvus-uri {settings.milvus_uri}`."
    manifest = manifest_of(c, settings, ref)
    if manifest is None:
        raise IndexCorruptError(f"The live Milvus index {build_id} at {settings.milvus_uri} has no readable manifest "
                                f"(or an older version of qa wrote it). {redo}")
    coll, info = names(settings, tag), manifest["store"]
    if info.get("layout") != LAYOUT:
        raise IndexCorruptError(f"The live Milvus index {build_id} at {settings.milvus_uri} was written in an older layout "
                                f"(row per sentence and token). {redo}")
    try:
        keys = [key for _, key in info["documents"]]
        records = milvus_rows.read_records(c, coll["records"], keys)
        dim, token_dim = int(manifest["model"]["dim"]), info.get("token_dim")
        codec = milvus_rows.read_codec(c, coll, info["token_codec"]) if token_dim and info.get("token_codec") else None
        token_dtype = milvus_rows.token_dtype(codec)
        docs, chunks, sentence_rows, chunk_keys, tokens = {}, [], [], [], []
        sentences, token_vecs, spans, n_sentences = [], [], [], 0
        has_second = bool(manifest.get("settings", {}).get("second_dense"))
        second_chunks, second_sentences = [], []
        for key in keys:  # the build's rows: its versions' rows one after another
            got = records[key]
            rec = json.loads(got[DOCUMENT])
            d = record_files.doc_from_row(rec["doc"])
            docs[d.source] = d
            n_tokens = 0
            for p, row in enumerate(rec["chunks"]):
                ch, within = record_files.chunk_from_row(row, docs)
                chunks.append(ch)
                sentence_rows.append([n_sentences + r for r in within])
                chunk_keys.append(f"{key}:{p}")
                tokens.append(row.get("tokens", 0))
                n_tokens += tokens[-1]
            n_sentences += rec["sentences"]
            sentences.append(unpack(got[SENTENCES], np.float32, dim, rec["sentences"], f"sentence vectors of {d.source}"))
            if has_second:
                second_chunks.append(unpack(got[SECOND_CHUNKS], np.float32, second.DIM, len(rec["chunks"]),
                                            f"bge chunk vectors of {d.source}"))
                second_sentences.append(unpack(got[SECOND_SENTENCES], np.float32, second.DIM, rec["sentences"],
                                               f"bge sentence vectors of {d.source}"))
            if token_dim:
                token_vecs.append(unpack(got[TOKENS], token_dtype, int(token_dim), n_tokens, f"token vectors of {d.source}"))
                spans.append(milvus_rows.unpack_spans(got[SPANS], n_tokens, f"token spans of {d.source}"))
        counts = manifest["counts"]
        if (len(chunks), n_sentences) != (counts["chunks"], counts["sentences"]):
            raise IndexCorruptError(f"it has {len(chunks)} chunks and {n_sentences} sentences, its manifest says "
                                    f"{counts['chunks']} and {counts['sentences']}.")
        sentences = np.concatenate(sentences) if sentences else np.zeros((0, dim), dtype=np.float32)
        vectors_of = None
        if has_second:
            empty = np.zeros((0, second.DIM), dtype=np.float32)
            vectors_of = second.SecondVectors(np.concatenate(second_chunks) if second_chunks else empty,
                                              np.concatenate(second_sentences) if second_sentences else empty)
        late = None
        if token_dim:
            vecs = np.concatenate(token_vecs) if token_vecs else np.zeros((0, int(token_dim)), dtype=token_dtype)
            offsets = np.concatenate([[0], np.cumsum(tokens, dtype=np.int64)]).astype(np.int64)
            late = late_files.with_floats(TokenIndex(vecs, offsets, np.concatenate(spans) if spans else np.zeros((0, 2), dtype=SPAN_DTYPE),
                                                     codec=codec))
    except MilvusUnavailableError:
        raise
    except IndexCorruptError as e:  # rows that are not what the manifest and the records say
        raise IndexCorruptError(f"The Milvus index {build_id} at {settings.milvus_uri} is damaged: {e} {redo}") from None
    except Exception as e:
        if server_down(settings.milvus_uri, e):
            raise
        raise IndexCorruptError(f"The Milvus index {build_id} at {settings.milvus_uri} cannot be read "
                                f"({e.__class__.__name__}: {str(e)[:200]}). {redo}") from None
    by_source: dict[str, list[int]] = {}
    for i, ch in enumerate(chunks):
        by_source.setdefault(ch.source, []).append(i)
    return store.LoadedIndex(
        path=Path(settings.milvus_uri) / build_id, manifest=manifest, docs=docs, chunks=chunks, chunk_sentence_rows=sentence_rows,
        sentences=sentences, dense=None, bm25=None, late=late, second=vectors_of,
        by_source={k: np.array(v, dtype=np.int64) for k, v in by_source.items()},
        first_stage=MilvusFirstStage(settings.milvus_uri, coll, info["terms"], build_id,
                                     milvus_rows.record_key(_tag(build_id), MANIFEST), chunk_keys, dict(info["documents"]),
                                     index_settings(manifest)),
    )
