"""The dialogue engine: the hub's client of Rasa, and training and evaluating the Rasa model."""

from bot.dialogue._clauses import (
    carries_on,
    clause_task,
    drops_current_task,
    is_question,
    means_any_budget,
    names_any_budget,
    order_message_task,
    other_requests,
)
from bot.dialogue._client import (
    TURN_KEY,
    BotReply,
    Button,
    RasaClient,
    TurnIntent,
    intent_ranking,
)
from bot.dialogue._conversations import evaluate_conversations
from bot.dialogue._errors import (
    DialogueError,
    DialogueUnavailable,
    EvaluationFailed,
    TrainingFailed,
)
from bot.dialogue._evaluation import (
    DEV_DATA,
    TEST_DATA,
    TEST_STORIES,
    Evaluator,
    Example,
    load_examples,
    score,
)
from bot.dialogue._tracker_store import TrackerStoreEvents
from bot.dialogue._training import (
    CONFIG,
    DOMAIN,
    PROJECT_ROOT,
    TRAINING_DATA,
    RasaToolchain,
    domain_intents,
    model_path,
    rasa_environment,
    train,
    training_fingerprint,
)

__all__ = [
    "CONFIG",
    "DEV_DATA",
    "DOMAIN",
    "PROJECT_ROOT",
    "TEST_DATA",
    "TEST_STORIES",
    "TRAINING_DATA",
    "TURN_KEY",
    "BotReply",
    "Button",
    "DialogueError",
    "DialogueUnavailable",
    "EvaluationFailed",
    "Evaluator",
    "Example",
    "RasaClient",
    "RasaToolchain",
    "TrackerStoreEvents",
    "TrainingFailed",
    "TurnIntent",
    "carries_on",
    "clause_task",
    "domain_intents",
    "drops_current_task",
    "evaluate_conversations",
    "intent_ranking",
    "is_question",
    "load_examples",
    "means_any_budget",
    "model_path",
    "names_any_budget",
    "order_message_task",
    "other_requests",
    "rasa_environment",
    "score",
    "train",
    "training_fingerprint",
]
