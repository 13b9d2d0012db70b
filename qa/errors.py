"""Domain errors. Each message says what to do; the CLI and the page print it as is."""

from __future__ import annotations


class QAError(Exception):
    """Base class for errors a user can act on."""


class ModelNotFoundError(QAError):
    """The embedding model cannot be loaded from this machine."""


class IndexMissingError(QAError):
    """There is no usable index and building one was not allowed."""


class IndexStaleError(IndexMissingError):
    """The index no longer matches its documents or settings, and rebuilding it was not allowed."""


class CorpusMismatchError(IndexStaleError):
    """The index was built from another folder than the one asked about; it is not silently rebuilt."""


class IndexCorruptError(QAError):
    """The index on disk does not match its manifest or cannot be read."""


class IndexBusyError(QAError):
    """Another process holds the index folder's build lock for longer than we may wait."""


class DiskFullError(QAError):
    """The disk holding the index folder filled up while building; the live index is untouched."""


class PublishConflictError(QAError):
    """Another build was published to the same Milvus while this one was being written; this one was withdrawn."""


class CorpusError(QAError):
    """The document folder is missing or holds nothing that can be indexed."""


class BadQuestionError(QAError):
    """The question cannot be searched (empty, or nothing left after cleaning)."""


class UnknownDocumentError(QAError):
    """A document was asked for that is not in the index."""


class EvalSetError(QAError):
    """An evaluation question file is malformed or does not match the documents."""


class Unreadable(Exception):
    """A document file that is skipped while loading; the message says why and what to do.

    Not a QAError: the loader catches it, skips the file and carries on with the rest.
    """
