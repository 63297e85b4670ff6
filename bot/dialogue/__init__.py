"""The dialogue engine: the hub's client of Rasa, and training and running the Rasa model."""

from bot.dialogue._clauses import drops_current_task, is_question, other_requests
from bot.dialogue._client import BotReply, Button, RasaClient
from bot.dialogue._commands import eval_app
from bot.dialogue._conversations import evaluate_conversations
from bot.dialogue._errors import (
    DialogueError,
    DialogueUnavailable,
    EvaluationFailed,
    TrainingFailed,
)
from bot.dialogue._evaluation import Evaluator, Example, load_examples, score
from bot.dialogue._runtime import rasa_runtime_environment, write_rasa_runtime_files
from bot.dialogue._training import model_path, rasa_environment, train, training_fingerprint

__all__ = [
    "BotReply",
    "Button",
    "DialogueError",
    "DialogueUnavailable",
    "EvaluationFailed",
    "Evaluator",
    "Example",
    "RasaClient",
    "TrainingFailed",
    "drops_current_task",
    "eval_app",
    "evaluate_conversations",
    "is_question",
    "load_examples",
    "model_path",
    "other_requests",
    "rasa_environment",
    "rasa_runtime_environment",
    "score",
    "train",
    "training_fingerprint",
    "write_rasa_runtime_files",
]
