"""The conversation benchmark: reading conversation files, telling replies apart, and a run of
four conversations through the real platform."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.dialogue import EvaluationFailed
from bot.dialogue._conversations import (
    ResponseMatcher,
    evaluate_conversations,
    load_conversations,
)
from tests.conftest import response_text
from tests.launch import PlatformProcess

PROJECT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "conversations.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


TURN = {"user": "你好", "expect": ["utter_greet"]}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "needs a non-empty `conversations:` list"),
        ({"conversations": []}, "needs a non-empty `conversations:` list"),
        ({"conversations": [{"turns": [TURN]}]}, "needs an `id` and `turns`"),
        (
            {"conversations": [{"id": "a", "language": "zh", "turns": []}]},
            "needs an `id` and `turns`",
        ),
        (
            {"conversations": [{"id": "a", "language": "fr", "turns": [TURN]}]},
            "`language` must be one of",
        ),
        (
            {"conversations": [{"id": "a", "language": "zh", "turns": [{"expect": ["x"]}]}]},
            "turn 1: each turn needs `user` text",
        ),
        (
            {
                "conversations": [
                    {"id": "a", "language": "zh", "turns": [TURN]},
                    {"id": "a", "language": "en", "turns": [TURN]},
                ]
            },
            "the id 'a' is used twice",
        ),
    ],
)
def test_bad_conversation_files_say_what_is_wrong(tmp_path: Path, data: Any, message: str) -> None:
    with pytest.raises(EvaluationFailed, match=message):
        load_conversations(write(tmp_path, data))


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(EvaluationFailed, match="cannot read conversations from"):
        load_conversations(tmp_path / "missing.yml")


def test_the_shipped_conversations_are_many_and_kept_apart() -> None:
    dev = load_conversations(PROJECT / "nlu_data/conversations/dev.yml")
    test = load_conversations(PROJECT / "nlu_data/conversations/test.yml")
    assert len(dev) + len(test) >= 150
    for split in (dev, test):
        assert {c.language for c in split} == {"zh", "en"}
    # Dev and test never open with the same message (short answers such as "6633" recur).
    assert {c.turns[0].user for c in dev} & {c.turns[0].user for c in test} == set()


@pytest.mark.parametrize(
    ("name", "language", "fields"),
    [
        ("utter_ask_phone_last4", "zh", {"order_id": "YX2611010005"}),
        ("utter_ask_phone_last4", "en", {"order_id": "YX2611010005"}),
        ("utter_greet", "zh", {}),
        ("utter_task_paused", "en", {"new_task": "a", "task": "b", "order_id": "YX2611010005"}),
    ],
)
def test_replies_are_told_by_their_response(
    name: str, language: str, fields: dict[str, str]
) -> None:
    text = response_text(name, language).format(**fields)
    assert ResponseMatcher.from_domain().match(text) == (name, language)


def test_text_no_response_makes_is_not_matched() -> None:
    assert ResponseMatcher.from_domain().match("退货运费由买家承担。") is None


@pytest.mark.integration
def test_conversations_through_the_real_platform(platform: PlatformProcess, tmp_path: Path) -> None:
    ask = ["utter_ask_phone_last4"]
    conversations = [
        {
            "id": "status",
            "language": "zh",
            "turns": [
                {"user": "订单YX2611010016到哪了", "expect": ask},
                {"user": "5764", "expect": ["utter_phone_verified", "utter_order_status_*"]},
            ],
        },
        {
            "id": "switch",
            "language": "zh",
            "turns": [
                {"user": "订单YX2611010016到哪了", "expect": ask},
                {"user": "算了，帮我推荐个耳机吧", "answer": False, "expect": ["utter_ask_budget"]},
            ],
        },
        {
            # Wrong digits marked as "not an answer": the benchmark must see the re-ask as a trap.
            "id": "trap-detector",
            "language": "en",
            "turns": [
                {"user": "check order YX2611010016", "expect": ask},
                {"user": "0000", "answer": False},
            ],
        },
        {
            # An expectation the bot does not meet: the conversation fails, the rest does not.
            "id": "unmet",
            "language": "en",
            "turns": [{"user": "hello", "expect": ["utter_goodbye"]}],
        },
    ]
    report = evaluate_conversations(
        write(tmp_path, {"conversations": conversations}), platform.hub_url
    )
    results = {r["id"]: r for r in report["conversations"]}
    assert {
        k: (r["success"], r["trapped_turns"], r["turns_to_success"]) for k, r in results.items()
    } == {
        "status": (True, 0, 2),
        "switch": (True, 0, 2),
        "trap-detector": (True, 1, 2),
        "unmet": (False, 0, None),
    }
    assert results["unmet"]["failed_turns"] == [
        {
            "turn": 1,
            "user": "hello",
            "expected": ["utter_goodbye"],
            "got": ["utter_greet"],
            "ok": False,
            "trapped": False,
            "wrong_language": [],
        }
    ]
    assert report["overall"] == {
        "conversations": 4,
        "task_success": 0.75,
        "trapped_turns": 1,
        "replies": report["overall"]["replies"],
        "wrong_language_replies": 0,
        "wrong_language_rate": 0.0,
        "mean_turns_to_success": 2.0,
    }
    assert report["overall"]["replies"] >= 8


def test_the_command_says_what_is_wrong(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from bot.app import app
    from tests.launch import free_port

    broken = tmp_path / "broken.yml"
    broken.write_text("conversations: [oops\n", encoding="utf-8")
    nobody = f"http://127.0.0.1:{free_port()}"
    runner = CliRunner()
    for args in (
        ["eval", "conversations", str(broken), "--hub-url", nobody],
        ["eval", "conversations", str(tmp_path / "missing.yml"), "--hub-url", nobody],
    ):
        result = runner.invoke(app, args, env={"BOT_VAR_DIR": str(tmp_path)})
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith("error: ")
        assert result.stdout == ""
