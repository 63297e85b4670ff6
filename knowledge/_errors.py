"""Errors of the knowledge base; the admin API and the CLI map each to a status in one place."""


class KnowledgeError(Exception):
    """Base class of knowledge-base errors."""


class UnsupportedSource(KnowledgeError):
    """The file's type cannot be ingested (unknown extension, or an image without OCR)."""


class InvalidSource(KnowledgeError):
    """The file is of a supported type but cannot be read: malformed, empty or undecodable."""


class SourceNotFound(KnowledgeError):
    """No source with that name is in the knowledge base."""


class EmbeddingUnavailable(KnowledgeError):
    """The embedding model cannot be loaded, or does not match the one the index was built with."""


class StoreUnavailable(KnowledgeError):
    """The vector store (Chroma) cannot be opened or answered with an error."""


class InvalidQuestion(KnowledgeError):
    """The question cannot be answered as asked: empty, too long, or in an unknown language."""
