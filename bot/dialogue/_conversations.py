"""The conversation benchmark: multi-turn conversations posted to a running hub's REST API.

Each conversation gets a fresh sender, so each starts a new Rasa conversation (and, the REST
channel vouching for its sender as a shop customer, one no order belongs to: orders need the
phone check). A turn lists the domain responses its reply must contain (``expect``; shell
patterns such as ``utter_order_status_*`` and alternatives ``a|b`` allowed) and may say
that the message is not an answer to the question pending before it (``answer: false``); a
conversation may list responses that some turn must give (``expect``), when the order of
handling is the bot's choice (several requests in one message).

Reported per conversation and overall:
- task success: every turn's expected responses were in its reply;
- turns to success: the number of turns of a successful conversation;
- trapped turns: after a message that was not an answer, a reply that only asks the same
  question again (with or without an error such as "the digits don't match"): the message was
  not understood as what it was. Answering it and then asking again is not a trap;
- wrong-language replies: replies not in the conversation's language (``language`` of the
  conversation, or of the turn), judged by the domain variant they match, else by
  ``bot.language.detect_language``.
"""

from __future__ import annotations

import fnmatch
import logging
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from bot.dialogue._errors import EvaluationFailed
from bot.language import LANGUAGES, Language, detect_language

logger = logging.getLogger(__name__)

DOMAIN_DIR = Path(__file__).resolve().parents[1] / "domain"
# Pseudo-responses a turn may expect besides the domain's.
KNOWLEDGE = "knowledge"  # a knowledge-base answer that did not abstain
ANY_KNOWLEDGE = "knowledge_or_abstain"  # any knowledge-base reply
HANDOFF = "handoff"  # the conversation went to a human (mode waiting or human)
# Replies that say the message was not understood as an answer.
ERRORS = frozenset(
    {
        "utter_phone_mismatch",
        "utter_order_id_invalid",
        "utter_address_invalid",
        "utter_budget_invalid",
        "utter_category_invalid",
        "utter_default",
        "utter_please_rephrase",
    }
)
TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Turn:
    """One customer message and what its reply must contain."""

    user: str
    expect: tuple[str, ...] = ()
    answer: bool = True
    language: Language | None = None


@dataclass(frozen=True)
class Conversation:
    """A scripted conversation in one language (turns may override it)."""

    id: str
    language: Language
    turns: tuple[Turn, ...]
    tags: tuple[str, ...] = ()
    expect: tuple[str, ...] = ()  # responses some turn's reply must contain


@dataclass
class _Variant:
    name: str
    language: Language
    pattern: re.Pattern[str]


@dataclass
class ResponseMatcher:
    """Tells which domain response (and which language variant) a reply text is."""

    variants: list[_Variant] = field(default_factory=list)

    @classmethod
    def from_domain(cls, domain_dir: Path = DOMAIN_DIR) -> ResponseMatcher:
        matcher = cls()
        for path in sorted(domain_dir.glob("*.yml")):
            responses = (
                yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader).get(
                    "responses"
                )
                or {}
            )
            for name, variants in responses.items():
                for variant in variants:
                    text = variant.get("text")
                    if not text:
                        continue
                    conditions = variant.get("condition") or []
                    zh = any(c.get("value") == "zh" for c in conditions)
                    matcher.variants.append(
                        _Variant(name, "zh" if zh else "en", _template(str(text)))
                    )
        # Longer templates first: "utter_ask_return_confirmed" before a short fragment.
        matcher.variants.sort(key=lambda v: -len(v.pattern.pattern))
        return matcher

    def match(self, text: str) -> tuple[str, Language] | None:
        """(response name, language) of a reply text, or None for text no response makes."""
        for variant in self.variants:
            if variant.pattern.fullmatch(text.strip()):
                return variant.name, variant.language
        return None


def _template(text: str) -> re.Pattern[str]:
    parts = re.split(r"\{[a-z_]+\}", text.strip())
    return re.compile("(?s)" + ".+?".join(re.escape(p) for p in parts))


def load_conversations(path: Path) -> list[Conversation]:
    """Conversations from a YAML file; EvaluationFailed says what is wrong with it."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    except (OSError, yaml.YAMLError) as exc:
        raise EvaluationFailed(f"cannot read conversations from {path}: {exc}") from exc
    items = data.get("conversations") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise EvaluationFailed(f"{path} needs a non-empty `conversations:` list")
    found, seen = [], set()
    for index, item in enumerate(items):
        where = f"{path}, conversation {index + 1}"
        if not isinstance(item, dict) or not item.get("id") or not item.get("turns"):
            raise EvaluationFailed(f"{where}: each conversation needs an `id` and `turns`")
        if item["id"] in seen:
            raise EvaluationFailed(f"{where}: the id {item['id']!r} is used twice")
        seen.add(item["id"])
        language = item.get("language")
        if language not in LANGUAGES:
            raise EvaluationFailed(f"{where}: `language` must be one of {list(LANGUAGES)}")
        turns = []
        for number, turn in enumerate(item["turns"], 1):
            if not isinstance(turn, dict) or not str(turn.get("user") or "").strip():
                raise EvaluationFailed(f"{where}, turn {number}: each turn needs `user` text")
            expect = turn.get("expect") or []
            turns.append(
                Turn(
                    str(turn["user"]),
                    tuple([expect] if isinstance(expect, str) else expect),
                    bool(turn.get("answer", True)),
                    turn.get("language"),
                )
            )
        expect = item.get("expect") or []
        found.append(
            Conversation(
                str(item["id"]),
                language,
                tuple(turns),
                tuple(item.get("tags") or ()),
                tuple([expect] if isinstance(expect, str) else expect),
            )
        )
    return found


def evaluate_conversations(
    path: Path | str, hub_url: str, api_key: str | None = None
) -> dict[str, Any]:
    """Run every conversation of ``path`` through the hub at ``hub_url``; the report dict."""
    conversations = load_conversations(Path(path))
    matcher = ResponseMatcher.from_domain()
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    results = []
    with httpx.Client(base_url=hub_url.rstrip("/"), headers=headers, timeout=TIMEOUT_S) as client:
        for conversation in conversations:
            results.append(_run(client, conversation, matcher))
    return _summary(results)


def _post(client: httpx.Client, sender: str, text: str) -> dict[str, Any]:
    try:
        response = client.post("/api/messages", json={"sender": sender, "text": text})
    except httpx.HTTPError as exc:
        raise EvaluationFailed(f"the hub at {client.base_url} did not answer: {exc}") from exc
    if response.status_code != 200:
        raise EvaluationFailed(
            f"the hub answered {response.status_code} to a message: {response.text[:200]}"
            + (" (set the API key)" if response.status_code == 401 else "")
        )
    answer: dict[str, Any] = response.json()
    return answer


def _names(answer: dict[str, Any], matcher: ResponseMatcher) -> list[tuple[str, Language | None]]:
    """(name, language) of each reply: a domain response, a knowledge answer or "other"."""
    found: list[tuple[str, Language | None]] = []
    for reply in answer.get("replies") or []:
        text = str(reply.get("text") or "")
        knowledge = ((reply.get("custom") or {}).get("knowledge")) or None
        if knowledge is not None:
            name = "knowledge_abstained" if knowledge.get("abstained") else KNOWLEDGE
            if not text and found and found[-1][0] == "other":
                # Rasa's REST channel sends an answer's text and its data as two messages.
                found[-1] = (name, found[-1][1])
            else:
                found.append((name, detect_language(text) if text else None))
            continue
        if not text:
            continue
        matched = matcher.match(text)
        found.append(matched if matched else ("other", detect_language(text)))
    return found


def _met(expected: str, names: list[str], answer: dict[str, Any]) -> bool:
    if expected == HANDOFF:
        return answer.get("mode") in {"waiting", "human"}
    if "|" in expected:  # alternatives: "utter_recommendations|utter_no_recommendations"
        return any(_met(option, names, answer) for option in expected.split("|"))
    if expected == ANY_KNOWLEDGE:
        return KNOWLEDGE in names or "knowledge_abstained" in names
    return any(fnmatch.fnmatchcase(name, expected) for name in names)


def _run(
    client: httpx.Client, conversation: Conversation, matcher: ResponseMatcher
) -> dict[str, Any]:
    sender = f"eval-{conversation.id}-{uuid.uuid4().hex[:8]}"
    pending_ask: str | None = None
    turns, trapped, wrong_language, replies = [], 0, 0, 0
    seen: list[str] = []
    answers: list[dict[str, Any]] = []
    for number, turn in enumerate(conversation.turns, 1):
        answer = _post(client, sender, turn.user)
        got = _names(answer, matcher)
        names = [name for name, _ in got]
        seen += names
        answers.append(answer)
        language = turn.language or conversation.language
        wrong = [name for name, lang in got if lang is not None and lang != language]
        replies += len(got)
        wrong_language += len(wrong)
        missing = [e for e in turn.expect if not _met(e, names, answer)]
        is_trap = (
            not turn.answer
            and pending_ask is not None
            and pending_ask in names
            and all(name in ERRORS or name == pending_ask for name in names)
        )
        trapped += is_trap
        turns.append(
            {
                "turn": number,
                "user": turn.user,
                "expected": list(turn.expect),
                "got": names,
                "ok": not missing,
                "trapped": is_trap,
                "wrong_language": wrong,
            }
        )
        asks = [n for n in names if n.startswith("utter_ask_")]
        pending_ask = asks[-1] if asks else None
    unmet = [e for e in conversation.expect if not any(_met(e, seen, a) for a in answers)]
    success = all(t["ok"] for t in turns) and not unmet
    return {
        "id": conversation.id,
        "language": conversation.language,
        "tags": list(conversation.tags),
        "success": success,
        "turns": len(turns),
        "turns_to_success": len(turns) if success else None,
        "trapped_turns": trapped,
        "replies": replies,
        "wrong_language_replies": wrong_language,
        "unmet_expectations": unmet,
        "failed_turns": [t for t in turns if not t["ok"] or t["trapped"] or t["wrong_language"]],
    }


def _summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    def figures(group: list[dict[str, Any]]) -> dict[str, Any]:
        succeeded = [r for r in group if r["success"]]
        replies = sum(r["replies"] for r in group)
        return {
            "conversations": len(group),
            "task_success": round(len(succeeded) / len(group), 4) if group else None,
            "trapped_turns": sum(r["trapped_turns"] for r in group),
            "replies": replies,
            "wrong_language_replies": sum(r["wrong_language_replies"] for r in group),
            "wrong_language_rate": (
                round(sum(r["wrong_language_replies"] for r in group) / replies, 4)
                if replies
                else None
            ),
            "mean_turns_to_success": (
                round(sum(r["turns_to_success"] for r in succeeded) / len(succeeded), 2)
                if succeeded
                else None
            ),
        }

    tags = sorted({tag for r in results for tag in r["tags"]})
    return {
        "overall": figures(results),
        "by_language": {
            language: figures([r for r in results if r["language"] == language])
            for language in LANGUAGES
        },
        "by_tag": {tag: figures([r for r in results if tag in r["tags"]]) for tag in tags},
        "conversations": results,
    }
