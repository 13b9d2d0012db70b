"""Extractive question answering over a folder of documents, with checkable citations.

    from qa import Engine
    engine = Engine()                 # seeds/ and index/, building the index if needed
    answer = engine.ask("Who leads Surrey Heartlands?", k=5)
    for p in answer.passages:
        print(p.citation, p.text)
"""

from .config import ChunkSettings
from .engine import Engine
from .errors import (
    BadQuestionError,
    CorpusError,
    IndexCorruptError,
    IndexMissingError,
    ModelNotFoundError,
    QAError,
    UnknownDocumentError,
)
from .records import Answer, Chunk, Document, Hit, Passage

__all__ = [
    "Answer", "BadQuestionError", "Chunk", "ChunkSettings", "CorpusError", "Document", "Engine", "Hit",
    "IndexCorruptError", "IndexMissingError", "ModelNotFoundError", "Passage", "QAError", "UnknownDocumentError",
]
