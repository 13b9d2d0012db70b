"""Extractive question answering over a folder of documents, with checkable citations.

    from qa import Engine
    engine = Engine()                 # seeds/ and index/, building the index if needed
    answer = engine.ask("Who leads Surrey Heartlands?", k=5)
    for p in answer.passages:
        print(p.citation, p.text)
"""

from .config import AnswerSettings, ChunkSettings, IndexSettings, RerankSettings, RetrievalSettings, Settings, StoreSettings
from .engine import Engine
from .errors import (
    BadQuestionError,
    CorpusError,
    CorpusMismatchError,
    DiskFullError,
    PublishConflictError,
    IndexBusyError,
    IndexCorruptError,
    IndexMissingError,
    IndexStaleError,
    ModelNotFoundError,
    QAError,
    UnknownDocumentError,
)
from .records import Answer, Chunk, Document, Hit, Passage

__all__ = [
    "Answer", "AnswerSettings", "BadQuestionError", "Chunk", "CorpusMismatchError", "ChunkSettings", "CorpusError", "DiskFullError", "Document", "PublishConflictError", "Engine",
    "Hit", "IndexBusyError", "IndexCorruptError", "IndexMissingError", "IndexSettings", "IndexStaleError",
    "ModelNotFoundError", "Passage", "QAError", "RerankSettings", "RetrievalSettings", "Settings", "StoreSettings",
    "UnknownDocumentError",
]
