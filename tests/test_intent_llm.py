"""The intent classifier's LLM assist (``bot/rasa_components/intent_llm.py``): the prompt, the
reading of the answer, and the rule that only a named candidate replaces the classifier's
intent, against a local server speaking OpenAI's chat-completions format."""

from __future__ import annotations

import importlib
import logging
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.app import PROJECT_ROOT, Settings
from bot.app._rasa_runtime import rasa_runtime_environment
from bot.dialogue import EvaluationFailed, Evaluator, load_examples
from bot.dialogue._evaluation import write_rasa_nlu
from tests.chat_standin import HANG, ChatStandIn, chat_standin, completion
from tests.launch import free_port
from tests.llm_server import MODEL_ALIAS, llama_server

# Imported by name: the modules target Rasa's Python 3.10 environment and mypy skips them.
intent_llm: Any = importlib.import_module("bot.rasa_components.intent_llm")
intent_model: Any = importlib.import_module("bot.rasa_components.intent_model")

CANDIDATES = [
    ("check_order_status", ["where is my order", "我的订单到哪了"]),
    ("refund", ["I want my money back"]),
    ("greet", []),
]
NAMES = [name for name, _ in CANDIDATES]
MESSAGE = "my parcel 1234567890 never came, mail me at li.lei@example.com"


@pytest.fixture
def standin() -> Iterator[ChatStandIn]:
    with chat_standin("none") as state:
        yield state


def assist(url: str, timeout_s: float = 5.0, api_key: str | None = "sk-test") -> Any:
    endpoint = intent_llm.Endpoint(url, "standin", api_key)
    return intent_llm.IntentAssist(endpoint, intent_llm.AssistSettings(timeout_s=timeout_s))


def test_the_prompt_offers_the_candidates_with_their_examples_and_none() -> None:
    messages = intent_llm.build_messages(MESSAGE, CANDIDATES)
    assert messages == [
        {"role": "system", "content": intent_llm.SYSTEM_PROMPT},
        {
            "role": "user",
            "content": "Candidate intents:\n\n"
            "intent: check_order_status\nexamples:\n- where is my order\n- 我的订单到哪了\n\n"
            "intent: refund\nexamples:\n- I want my money back\n\n"
            "intent: greet\n\n"
            "intent: none\n(the message fits none of the intents above)\n\n"
            # Personal data and long digit runs never leave: the intent does not need them.
            "Message: my parcel 0000000000 never came, mail me at [email]\n"
            "Which intent? Reply with one of: check_order_status, refund, greet, none",
        },
    ]


# The personal data of a Chinese customer's message, as the redaction module's own samples.
PERSONAL = (
    "我叫李雷，手机13812345678，身份证11010519491231002X，卡号6222021234567890128，"
    "寄到北京市朝阳区建国路88号，订单YX2611010001"
)
SHOWN = "我叫李雷，手机[phone]，身份证[id-number]，卡号[bank-card]，[address]，订单YX0000000000"


def test_the_llm_is_shown_no_personal_data_in_rasas_own_environment() -> None:
    """The assist runs inside Rasa's Python 3.10 environment: the same redaction works there."""
    assert intent_llm.masked(PERSONAL) == SHOWN
    script = (
        "import sys; from bot.rasa_components.intent_llm import masked; "
        "sys.stdout.write(masked(sys.argv[1]))"
    )
    shown = subprocess.run(
        [str(PROJECT_ROOT / ".venv-rasa" / "bin" / "python"), "-c", script, PERSONAL],
        check=True,
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(PROJECT_ROOT)},
    )
    assert shown.stdout == SHOWN


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("refund", "refund"),
        ("  `Refund`.\n", "refund"),
        ('"check_order_status"', "check_order_status"),
        ("Intent: greet", "greet"),
        ("The intent is refund because money", "refund"),
        ("none", intent_llm.NONE),
        ("None of these.", intent_llm.NONE),
        ("refund or greet", None),  # two candidates: no single choice
        ("cancel_order", None),  # not a candidate
        ("check_order", None),  # a prefix of a candidate is not the candidate
        ("", None),
        ("...", None),
    ],
)
def test_the_answer_is_read_as_one_candidate_none_or_nothing(
    answer: str, expected: str | None
) -> None:
    assert intent_llm.parse_answer(answer, NAMES) == expected


def test_a_named_candidate_is_chosen(standin: ChatStandIn) -> None:
    standin.reply = lambda body: (200, completion("refund"))
    choice = assist(standin.url).choose(MESSAGE, CANDIDATES)
    assert (choice.intent, choice.outcome) == ("refund", "chosen")
    assert choice.latency_s > 0
    [(path, headers, body)] = standin.requests
    assert (path, headers["Authorization"]) == ("/v1/chat/completions", "Bearer sk-test")
    assert body == {
        "model": "standin",
        "messages": intent_llm.build_messages(MESSAGE, CANDIDATES),
        "temperature": 0,
        "max_tokens": 16,
    }
    assert choice.as_output(NAMES) == {
        "candidates": NAMES,
        "intent": "refund",
        "outcome": "chosen",
        "latency_ms": round(choice.latency_s * 1000, 1),
    }


def test_no_key_sends_no_authorization(standin: ChatStandIn) -> None:
    assist(standin.url, api_key=None).choose(MESSAGE, CANDIDATES)
    assert "Authorization" not in standin.requests[0][1]


@pytest.mark.parametrize(
    ("status", "payload", "outcome"),
    [
        (200, completion("none"), "none"),
        (200, completion("cancel_order"), "unrecognised"),  # not a candidate
        (200, completion("refund, greet"), "unrecognised"),
        (500, b'{"error": "boom"}', "http_error"),
        (401, b'{"error": "bad key"}', "http_error"),
        (200, b"{not json", "bad_response"),
        (200, b'{"choices": []}', "bad_response"),
        (200, b'{"error": "overloaded"}', "bad_response"),
        (200, completion(None), "bad_response"),
        (200, completion(["refund"]), "bad_response"),
    ],
)
def test_anything_but_a_named_candidate_keeps_the_classifier_answer(
    standin: ChatStandIn, status: int, payload: bytes, outcome: str
) -> None:
    standin.reply = lambda body: (status, payload)
    choice = assist(standin.url).choose(MESSAGE, CANDIDATES)
    assert (choice.intent, choice.outcome) == (None, outcome)


def test_a_slow_llm_times_out_and_keeps_the_classifier_answer(standin: ChatStandIn) -> None:
    standin.reply = lambda body: (HANG, b"")
    choice = assist(standin.url, timeout_s=0.3).choose(MESSAGE, CANDIDATES)
    assert (choice.intent, choice.outcome) == (None, "timeout")
    assert 0.3 <= choice.latency_s < 5


def test_an_unreachable_llm_keeps_the_classifier_answer() -> None:
    choice = assist(f"http://127.0.0.1:{free_port()}/v1").choose(MESSAGE, CANDIDATES)
    assert (choice.intent, choice.outcome) == (None, "unreachable")


def test_the_logs_never_hold_the_message(
    standin: ChatStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot.rasa_components.intent_llm")
    replies = [(200, completion("refund")), (500, b"{}"), (200, b"garbage")]
    standin.reply = lambda body: replies[len(standin.requests) - 1]
    for _ in replies:
        assist(standin.url).choose(MESSAGE, CANDIDATES)
    assert len(standin.requests) == len(replies)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "HTTP 500" in logged  # the failures are logged...
    assert "parcel" not in logged  # ...without the message
    assert "1234567890" not in logged
    assert "sk-test" not in logged


def test_only_low_confidence_messages_are_asked_with_the_top_candidates() -> None:
    settings = intent_llm.AssistSettings(below=0.7, candidates=2, examples=1)
    helper = intent_llm.IntentAssist(intent_llm.Endpoint("http://unused/v1", "m"), settings)
    assert (helper.wants(0.69), helper.wants(0.7)) == (True, False)
    # A message the classifier rejected as out of scope stays rejected unless llm_rejected.
    assert helper.wants(0.2, rejected=True) is False
    asks_rejected = intent_llm.AssistSettings(below=0.7, rejected=True)
    endpoint = intent_llm.Endpoint("http://unused/v1", "m")
    assert intent_llm.IntentAssist(endpoint, asks_rejected).wants(0.2, rejected=True) is True
    ranking = [("refund", 0.5), ("greet", 0.3), ("check_order_status", 0.2)]
    examples = {"refund": ["money back", "refund me"], "check_order_status": ["where"]}
    assert helper.candidates(ranking, examples) == [("refund", ["money back"]), ("greet", [])]


def test_the_endpoint_comes_from_the_bot_llm_variables() -> None:
    assert intent_llm.Endpoint.from_environment({}) is None
    endpoint = intent_llm.Endpoint.from_environment(
        {
            "BOT_LLM_BASE_URL": "http://llm:8080/v1/",
            "BOT_LLM_MODEL": "qwen",
            "BOT_LLM_API_KEY": "sk-secret",
        }
    )
    assert endpoint == intent_llm.Endpoint("http://llm:8080/v1", "qwen", "sk-secret")
    assert "sk-secret" not in repr(endpoint)
    with pytest.raises(ValueError, match="BOT_LLM_MODEL is not"):
        intent_llm.Endpoint.from_environment({"BOT_LLM_BASE_URL": "http://llm/v1"})


def test_rasa_gets_the_llm_settings_of_the_platform(tmp_path: Path) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        var_dir=tmp_path,
        llm_base_url="http://llm:8080/v1",
        llm_model="qwen",
        llm_api_key="sk-secret",
    )
    environment = rasa_runtime_environment(settings)
    assert {k: v for k, v in environment.items() if k.startswith("BOT_LLM_")} == {
        "BOT_LLM_BASE_URL": "http://llm:8080/v1",
        "BOT_LLM_MODEL": "qwen",
        "BOT_LLM_API_KEY": "sk-secret",
    }
    unset = rasa_runtime_environment(Settings(_env_file=None, var_dir=tmp_path))  # type: ignore[call-arg]
    assert not [k for k in unset if k.startswith("BOT_LLM_")]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"below": 0.0}, "llm_below is a probability"),
        ({"below": 1.5}, "llm_below is a probability"),
        ({"candidates": 1}, "llm_candidates must be from 2 to 10"),
        ({"candidates": 11}, "llm_candidates must be from 2 to 10"),
        ({"examples": -1}, "llm_examples must not be negative"),
        ({"timeout_s": 0}, "llm_timeout_s must be positive"),
    ],
)
def test_bad_assist_settings_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        intent_llm.AssistSettings(**options)


def test_the_model_keeps_typical_examples_of_each_intent(tmp_path: Path) -> None:
    texts = ["a1", "a2", "a3", "b1", "b1", "b2"]
    labels = ["a", "a", "a", "b", "b", "b"]
    # "a3" lies far from the other two: the two typical ones are kept, duplicates once.
    embeddings = intent_model.np.array(
        [[1, 0], [0.9, 0.1], [0, 1], [1, 0], [1, 0], [0, 1]], dtype="float32"
    )
    assert intent_model.typical_examples(texts, labels, embeddings, kept=2) == {
        "a": ["a1", "a2"],
        "b": ["b1", "b2"],
    }
    assert intent_model.typical_examples(texts, labels, None, kept=2) == {
        "a": ["a1", "a2"],
        "b": ["b1", "b2"],
    }
    settings = intent_model.Settings(use_e5=False)
    model = intent_model.IntentModel.fit(texts, labels, settings)
    model.save(tmp_path)
    assert intent_model.IntentModel.load(tmp_path).examples == {
        "a": ["a1", "a2", "a3"],
        "b": ["b1", "b2"],
    }


# Through Rasa: a tiny model trained with the assist on (every message asked), parsed by the
# component in Rasa's environment as the platform parses, with the LLM from the environment.
TINY = Path(__file__).parent / "data" / "nlu_tiny"
ASSISTED_CONFIG = """\
recipe: default.v1
assistant_id: llm-assist-test
language: zh
pipeline:
  - name: JiebaTokenizer
  - name: bot.rasa_components.IntentClassifier
    llm_assist: true
    llm_below: 1.0
    llm_candidates: 3
    llm_timeout_s: 120
"""
ASSIST_OUTCOMES = {"chosen", "none", "unrecognised", "timeout", "unreachable", "http_error"}


@dataclass(frozen=True)
class AssistedModel:
    evaluator: Any
    model: Path
    messages: list[Any]


@pytest.fixture(scope="module")
def assisted(tmp_path_factory: pytest.TempPathFactory) -> AssistedModel:
    folder = tmp_path_factory.mktemp("assisted")
    config, data = folder / "config.yml", folder / "train.yml"
    config.write_text(ASSISTED_CONFIG, encoding="utf-8")
    write_rasa_nlu(load_examples(TINY / "train.csv"), data)
    toolchain = Settings(_env_file=None, var_dir=folder / "var").rasa_toolchain  # type: ignore[call-arg]
    evaluator = Evaluator(toolchain, config=config)
    model = evaluator.train_nlu(data, folder / "out", cache=folder / "cache")
    return AssistedModel(evaluator, model, load_examples(TINY / "test.csv"))


def last_candidate(body: dict[str, Any]) -> tuple[int, bytes]:
    """Answer with the last intent offered: never the classifier's first choice."""
    offered = body["messages"][1]["content"].rsplit("Reply with one of: ", 1)[1].split(", ")
    return 200, completion(offered[-2])  # the last is "none"


def test_the_component_takes_a_named_candidate_and_nothing_else(
    assisted: AssistedModel, standin: ChatStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BOT_LLM_BASE_URL", raising=False)
    alone = assisted.evaluator.predict(assisted.model, assisted.messages)
    assert [p["llm_assist"] for p in alone] == [None] * len(alone)  # no endpoint: not asked

    monkeypatch.setenv("BOT_LLM_BASE_URL", standin.url)
    monkeypatch.setenv("BOT_LLM_MODEL", "standin")
    standin.reply = last_candidate
    steered = assisted.evaluator.predict(assisted.model, assisted.messages)
    for before, after in zip(alone, steered, strict=True):
        offered = after["llm_assist"]["candidates"]
        assert offered == [r["name"] for r in before["ranking"][:3]]
        assert (after["intent"], after["llm_assist"]["outcome"]) == (offered[-1], "chosen")
        assert after["ranking"][0] == {
            "name": offered[-1],  # first, with the classifier's own confidence in it
            "confidence": next(r for r in before["ranking"] if r["name"] == offered[-1])[
                "confidence"
            ],
        }
    assert len(standin.requests) == len(assisted.messages)

    standin.reply = lambda body: (500, b'{"error": "down"}')
    failed = assisted.evaluator.predict(assisted.model, assisted.messages)
    assert [p["intent"] for p in failed] == [p["intent"] for p in alone]
    assert {p["llm_assist"]["outcome"] for p in failed} == {"http_error"}


@pytest.mark.integration
def test_the_real_small_llm_answers_an_assisted_parse(
    assisted: AssistedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end with llama-cpp's server and the Qwen2.5-0.5B GGUF: the path works and its
    latency is recorded; whether the small model is right is bench/nlu_llm.py's question."""
    with llama_server(tmp_path) as url:
        monkeypatch.setenv("BOT_LLM_BASE_URL", url)
        monkeypatch.setenv("BOT_LLM_MODEL", MODEL_ALIAS)
        parsed = assisted.evaluator.predict(assisted.model, assisted.messages)
    assisted_parses = [p["llm_assist"] for p in parsed]
    assert all(a is not None and a["latency_ms"] > 0 for a in assisted_parses), assisted_parses
    assert {a["outcome"] for a in assisted_parses} <= ASSIST_OUTCOMES - {"unreachable"}
    chosen = [p for p in parsed if p["llm_assist"]["outcome"] == "chosen"]
    assert chosen, assisted_parses  # clear greetings and order questions: it names some
    for parse in chosen:
        assert parse["intent"] == parse["llm_assist"]["intent"]
        assert parse["intent"] in parse["llm_assist"]["candidates"]


def test_a_bad_assist_option_fails_the_training_with_the_reason(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    config, data = tmp_path / "config.yml", tmp_path / "train.yml"
    config.write_text(ASSISTED_CONFIG.replace("llm_candidates: 3", "llm_candidates: 1"), "utf-8")
    write_rasa_nlu(load_examples(TINY / "train.csv"), data)
    toolchain = Settings(_env_file=None, var_dir=tmp_path / "var").rasa_toolchain  # type: ignore[call-arg]
    with pytest.raises(EvaluationFailed, match="rasa train nlu failed"):
        Evaluator(toolchain, config=config).train_nlu(data, tmp_path / "out", tmp_path / "cache")
    assert "llm_candidates must be from 2 to 10; got 1" in capfd.readouterr().err
