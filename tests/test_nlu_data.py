"""The NLU data: enough examples per intent and language, and held-out data kept apart."""

from __future__ import annotations

import unicodedata
from collections import Counter
from pathlib import Path

import pytest
import yaml

from bot.app import PROJECT_ROOT
from bot.dialogue import load_examples

TRAIN = PROJECT_ROOT / "nlu_data" / "train"
DEV = PROJECT_ROOT / "nlu_data" / "dev"  # for choosing pipelines and thresholds
TEST = PROJECT_ROOT / "nlu_data" / "test"  # reported once
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
    "open_ticket",
    "ticket_status",
    "add_ticket_info",
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


@pytest.mark.parametrize("split", [DEV, TEST], ids=["dev", "test"])
@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_intent_is_in_both_held_out_splits(split: Path, language: str) -> None:
    counts = Counter(e.intent for e in load_examples(split / language))
    assert set(counts) == INTENTS
    assert min(counts.values()) >= 5


def near_duplicate_key(text: str) -> str:
    """The same message however it is cased, spaced or punctuated (full- or half-width)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in folded if ch.isalnum())


@pytest.mark.parametrize(
    ("one", "other"), [("I want a refund!", "i want a  refund"), ("退货，怎么弄？", "退货怎么弄")]
)
def test_near_duplicates_are_caught(one: str, other: str) -> None:
    assert near_duplicate_key(one) == near_duplicate_key(other)


@pytest.mark.parametrize(
    ("held_out", "seen"),
    [(DEV, [TRAIN]), (TEST, [TRAIN, DEV])],
    ids=["dev-vs-train", "test-vs-train-and-dev"],
)
def test_held_out_messages_never_appear_elsewhere(held_out: Path, seen: list[Path]) -> None:
    known = {near_duplicate_key(e.text) for folder in seen for e in load_examples(folder)}
    leaked = [e.text for e in load_examples(held_out) if near_duplicate_key(e.text) in known]
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
