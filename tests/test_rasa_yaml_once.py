"""Rasa's YAML schema check remembered for texts that passed (bot/app/rasa_main.py): a model
load re-validates its unchanged domain no more, a text that fails is checked every time."""

from __future__ import annotations

import pytest

from bot.app.rasa_main import VALID_TEXTS_KEPT, remember_valid

DOMAIN = "version: '3.1'\nintents:\n  - greet\n"
BROKEN = "version: '3.1'\nintents: 7\n"


class SchemaCheck:
    """A stand-in for pykwalify's check with its contract: returns, or raises what is wrong."""

    def __init__(self) -> None:
        self.checked: list[tuple[str, tuple[str, ...]]] = []

    def __call__(self, text: str, *schema: str) -> None:
        self.checked.append((text, schema))
        if "intents: 7" in text:
            raise ValueError("intents must be a list")


def test_a_text_that_passed_is_not_checked_again_against_the_same_schema() -> None:
    check = SchemaCheck()
    validate = remember_valid(check)
    validate(DOMAIN, "domain.yml")
    validate(DOMAIN, "domain.yml")
    validate(DOMAIN, "domain.yml", "rasa")  # another schema (package): checked
    validate(DOMAIN + "  - bye\n", "domain.yml")  # another text: checked
    assert check.checked == [
        (DOMAIN, ("domain.yml",)),
        (DOMAIN, ("domain.yml", "rasa")),
        (DOMAIN + "  - bye\n", ("domain.yml",)),
    ]


def test_a_text_that_failed_fails_every_time() -> None:
    check = SchemaCheck()
    validate = remember_valid(check)
    for _ in range(2):
        with pytest.raises(ValueError, match="intents must be a list"):
            validate(BROKEN, "domain.yml")
    assert len(check.checked) == 2


def test_only_the_latest_passes_are_remembered() -> None:
    check = SchemaCheck()
    validate = remember_valid(check)
    texts = [f"{DOMAIN}# {n}\n" for n in range(VALID_TEXTS_KEPT + 1)]
    for text in texts:
        validate(text, "domain.yml")
    validate(texts[-1], "domain.yml")  # remembered
    validate(texts[0], "domain.yml")  # the oldest was forgotten: checked again
    assert [text for text, _ in check.checked] == [*texts, texts[0]]
