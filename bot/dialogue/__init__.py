"""The dialogue engine: the hub's client of Rasa, and training and running the Rasa model."""

from bot.dialogue._client import BotReply, Button, RasaClient
from bot.dialogue._errors import DialogueError, DialogueUnavailable, TrainingFailed
from bot.dialogue._runtime import rasa_runtime_environment, write_rasa_runtime_files
from bot.dialogue._training import model_path, rasa_environment, train, training_fingerprint

__all__ = [
    "BotReply",
    "Button",
    "DialogueError",
    "DialogueUnavailable",
    "RasaClient",
    "TrainingFailed",
    "model_path",
    "rasa_environment",
    "rasa_runtime_environment",
    "train",
    "training_fingerprint",
    "write_rasa_runtime_files",
]
