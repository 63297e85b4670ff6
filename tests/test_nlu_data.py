"""The NLU data: enough examples per intent and language, and held-out data kept apart."""

from __future__ import annotations

from collections import Counter

import pytest
import yaml

from bot.app import PROJECT_ROOT
from bot.dialogue import load_examples

TRAIN = PROJECT_ROOT / "nlu_data" / "train"
TEST = PROJECT_ROOT / "nlu_data" / "test"
INTENTS = {
    "greet",
    "goodbye",
    "thanks",
    "affirm",
    "deny",
    "bot_challenge",
    "chitchat",
    "out_of_scope",
    "ask_knowledge",
    "check_order_status",
    "request_return_refund",
    "cancel_order",
    "change_address",
    "complain",
    "request_human",
    "ask_recommendation",
    "inform",
    "give_feedback",
    "stop",
    "request_unsupported",
}


def domain_intents() -> set[str]:
    intents: set[str] = set()
    for path in (PROJECT_ROOT / "bot" / "domain").glob("*.yml"):
        intents |= set(yaml.safe_load(path.read_text(encoding="utf-8")).get("intents") or [])
    return intents


def test_the_domain_declares_every_intent() -> None:
    assert domain_intents() == INTENTS


@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_intent_has_30_training_examples_per_language(language: str) -> None:
    counts = Counter(e.intent for e in load_examples(TRAIN / language))
    assert set(counts) == INTENTS
    assert min(counts.values()) >= 30, counts.most_common()[-3:]


@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_intent_is_in_the_held_out_data(language: str) -> None:
    counts = Counter(e.intent for e in load_examples(TEST / language))
    assert set(counts) == INTENTS
    assert min(counts.values()) >= 10


def test_held_out_messages_never_appear_in_training() -> None:
    training = {e.text.strip().lower() for e in load_examples(TRAIN)}
    leaked = [e.text for e in load_examples(TEST) if e.text.strip().lower() in training]
    assert leaked == []


def test_annotated_entities_are_declared() -> None:
    declared: set[str] = set()
    for path in (PROJECT_ROOT / "bot" / "domain").glob("*.yml"):
        declared |= {
            e if isinstance(e, str) else next(iter(e))
            for e in yaml.safe_load(path.read_text(encoding="utf-8")).get("entities") or []
        }
    used = {
        entity.entity for e in load_examples(PROJECT_ROOT / "nlu_data") for entity in e.entities
    }
    assert used <= declared
    assert {"order_id", "phone", "email", "product_category", "budget", "quantity"} <= used
