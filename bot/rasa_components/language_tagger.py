"""Adds the message's language ("zh" or "en") as a ``language`` entity.

The hub detects the language of each message with the conversation's history in mind and sends
it as ``metadata.language``; a client that talks to Rasa directly gets a detection from the text.
The domain's ``language`` slot is filled from this entity on every turn, and responses pick their
variant by that slot, so the reply follows the customer's latest language.
"""

from __future__ import annotations

from typing import Any, Dict, List

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.language import LANGUAGES, detect_language

ENTITY = "language"


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class LanguageTagger(GraphComponent):
    """Tags every message with its language; trains nothing."""

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "LanguageTagger":
        return cls()

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            language = self._language_of(message)
            if language is None:
                continue
            entities = [e for e in message.get(ENTITIES, []) if e.get("entity") != ENTITY]
            entities.append({"entity": ENTITY, "value": language, "extractor": type(self).__name__})
            message.set(ENTITIES, entities, add_to_output=True)
        return messages

    @staticmethod
    def _language_of(message: Message) -> str | None:
        metadata = message.get("metadata") or {}
        given = metadata.get("language") if isinstance(metadata, dict) else None
        if given in LANGUAGES:
            return str(given)
        return detect_language(message.get(TEXT) or "", previous=None)
