"""Errors of the dialogue engine client."""


class DialogueError(Exception):
    """Base class: the dialogue engine (Rasa) could not handle a message."""


class DialogueUnavailable(DialogueError):
    """Rasa or the action server cannot be reached or failed; the message should be retried."""


class TrainingFailed(DialogueError):
    """``rasa train`` exited with an error."""


class EvaluationFailed(DialogueError):
    """An evaluation could not run: bad input data, or Rasa failed while evaluating."""
