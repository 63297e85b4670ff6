"""The retrieval layer: loaders, splitting, embeddings, Chroma index, retrievers, answers.

A library: it imports nothing from ``bot``, ``channels`` or ``actions``; settings values and an
OCR callable for images are passed in by the wiring.
"""

from knowledge._base import (
    KnowledgeBase,
    KnowledgeConfig,
    RankedDocument,
    forget_cached_questions,
)
from knowledge._cache import AnswerCache, MemoryAnswerCache, RedisAnswerCache
from knowledge._calibration import SelfCalibration
from knowledge._embeddings import (
    E5Embedder,
    Embedder,
    SentenceTransformerEmbedder,
    build_embedder,
    set_embedding_threads,
)
from knowledge._errors import (
    EmbeddingUnavailable,
    InvalidQuestion,
    InvalidSource,
    KnowledgeError,
    SourceNotFound,
    StoreUnavailable,
    UnsupportedSource,
)
from knowledge._eval import EvalReport, GroundingReport, evaluate, grounding_report
from knowledge._generation import LLMConfig, chat_model, summarize_conversation
from knowledge._loaders import SUPPORTED_SUFFIXES
from knowledge._text import question_key
from knowledge._types import (
    Answer,
    AnswerKind,
    Citation,
    IngestReport,
    LanguageDetector,
    RelatedQuestion,
    SourceInfo,
)

__all__ = [
    "SUPPORTED_SUFFIXES",
    "Answer",
    "AnswerCache",
    "AnswerKind",
    "Citation",
    "E5Embedder",
    "Embedder",
    "EmbeddingUnavailable",
    "EvalReport",
    "GroundingReport",
    "IngestReport",
    "InvalidQuestion",
    "InvalidSource",
    "KnowledgeBase",
    "KnowledgeConfig",
    "KnowledgeError",
    "LLMConfig",
    "LanguageDetector",
    "MemoryAnswerCache",
    "RankedDocument",
    "RedisAnswerCache",
    "RelatedQuestion",
    "SelfCalibration",
    "SentenceTransformerEmbedder",
    "SourceInfo",
    "SourceNotFound",
    "StoreUnavailable",
    "UnsupportedSource",
    "build_embedder",
    "chat_model",
    "evaluate",
    "forget_cached_questions",
    "grounding_report",
    "question_key",
    "set_embedding_threads",
    "summarize_conversation",
]
