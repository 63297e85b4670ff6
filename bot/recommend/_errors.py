"""Errors of the recommendation module; the hub maps each to an HTTP status in one place."""


class RecommendError(Exception):
    """Base class of recommendation errors."""


class CatalogueError(RecommendError):
    """A catalogue file cannot be read at all (missing, wrong format, no usable header)."""


class EventImportError(RecommendError):
    """An events or ratings file cannot be read at all (missing, unknown format, no header)."""


class UnknownModel(RecommendError):
    """A model name that this module does not provide."""


class NotFitted(RecommendError):
    """A model was asked for results before ``fit`` was called."""


class InvalidEvent(RecommendError):
    """An interaction event that cannot be recorded; the message says which field to fix."""


class TrainingEngineUnavailable(RecommendError):
    """The engine a model trains on (Spark) cannot be started; the message says what is missing."""
