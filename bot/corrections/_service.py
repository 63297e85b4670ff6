"""Agents correct the intent the bot gave a customer message; supervisors accept or reject the
correction; accepted ones become training examples (see ``training_yaml``). Supervisors also go
through the messages the bot was unsure about (``unsure``) and settle each with one click
(``settle``): an accepted correction straight away, the same training example.

The text is redacted (``bot.privacy.redact``) before it is stored: a training example outlives
the conversation it came from, so it must not carry the customer's phone number or address.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

import yaml
from sqlalchemy import Connection, Row, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from bot.conversations import customer_key
from bot.corrections._errors import CorrectionNotFound, CorrectionReviewed, InvalidCorrection
from bot.corrections._tables import IntentCorrection, RetrainReport
from bot.insights import (
    UnsureMessage,
    intent_of_message,
    intents_of_messages,
    unsure_messages,
)
from bot.language import LANGUAGES
from bot.privacy import redact
from bot.storage import Conversation, Database, Message, utcnow

logger = logging.getLogger(__name__)

Status = Literal["pending", "accepted", "rejected"]
STATUSES: tuple[Status, ...] = ("pending", "accepted", "rejected")
ACTOR_MAX = 64
UNSURE_MAX = 200  # messages listed at once


@dataclass(frozen=True)
class Correction:
    """A correction as stored (its text already redacted)."""

    id: int
    message_id: int | None
    conversation_id: str
    text: str
    language: str
    wrong_intent: str | None
    right_intent: str
    agent: str
    created_at: datetime
    status: str
    reviewer: str | None
    reviewed_at: datetime | None

    def as_json(self) -> dict[str, Any]:
        """Plain JSON for the console (no customer key: agents need not see who wrote it)."""
        return {
            "id": self.id,
            "message_id": self.message_id,
            "conversation_id": self.conversation_id,
            "text": self.text,
            "language": self.language,
            "wrong_intent": self.wrong_intent,
            "right_intent": self.right_intent,
            "agent": self.agent,
            "created_at": self.created_at.isoformat(),
            "status": self.status,
            "reviewer": self.reviewer,
            "reviewed_at": None if self.reviewed_at is None else self.reviewed_at.isoformat(),
        }


@dataclass(frozen=True)
class TrainingExample:
    """An accepted correction as a training example."""

    intent: str
    text: str
    language: str


@dataclass(frozen=True)
class UnsureItem:
    """A message the bot was unsure about, as supervisors see it (text redacted)."""

    message_id: int
    conversation_id: str
    text: str
    language: str
    intent: str
    confidence: float | None
    alternatives: tuple[tuple[str, float], ...]  # the rest of the ranking's top, best first
    reasons: tuple[str, ...]  # low_confidence | fallback | handoff
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        """Plain JSON for the console (no customer key)."""
        return {
            "message_id": self.message_id,
            "conversation_id": self.conversation_id,
            "text": self.text,
            "language": self.language,
            "intent": self.intent,
            "confidence": self.confidence,
            "alternatives": [{"intent": n, "confidence": c} for n, c in self.alternatives],
            "reasons": list(self.reasons),
            "created_at": self.created_at.isoformat(),
        }


class CorrectionService:
    """Intent corrections: proposed by agents, reviewed by supervisors, exported for training."""

    def __init__(
        self, database: Database, intents: Collection[str], *, unsure_below: float = 0.6
    ) -> None:
        if not intents:
            raise ValueError("the domain declares no intents: corrections need its intent list")
        if not 0.0 < unsure_below <= 1.0:
            raise ValueError(f"unsure_below must be in (0, 1], not {unsure_below}")
        self._database = database
        self._intents = frozenset(intents)
        self._unsure_below = unsure_below

    @property
    def intents(self) -> list[str]:
        """The intents an agent may pick (the Rasa domain's)."""
        return sorted(self._intents)

    async def correct(
        self, *, message_id: int, conversation_id: str, agent: str, right_intent: str
    ) -> Correction:
        """Record that the customer message ``message_id`` of ``conversation_id`` meant
        ``right_intent``. A pending correction of the same message is replaced (the agent
        changed their mind); a reviewed one is final."""
        self._check_intent(right_intent)
        if not 1 <= len(agent) <= ACTOR_MAX:
            raise InvalidCorrection(f"the agent's name must be 1 to {ACTOR_MAX} characters")

        def work(connection: Connection) -> int:
            found = connection.execute(
                select(
                    Message.direction,
                    Message.author,
                    Message.text,
                    Message.language,
                    Conversation.public_id,
                    Conversation.channel,
                    Conversation.sender,
                )
                .join(Conversation, Conversation.id == Message.conversation_id)
                .where(Message.id == message_id)
            ).first()
            if found is None or found.public_id != conversation_id:
                raise CorrectionNotFound(
                    f"conversation {conversation_id} has no message {message_id}"
                )
            message = found
            if message.direction != "in" or message.author != "customer":
                raise InvalidCorrection(
                    f"message {message_id} is not the customer's: only what a customer wrote "
                    "has an intent to correct"
                )
            text = redact(message.text).strip()
            if not text:
                raise InvalidCorrection(f"message {message_id} has no text to learn from")
            predicted = intent_of_message(connection, message_id)
            wrong = None if predicted is None else predicted[0]
            if wrong == right_intent:
                raise InvalidCorrection(
                    f"the bot already gave message {message_id} the intent {right_intent!r}"
                )
            existing = connection.execute(
                select(IntentCorrection.id, IntentCorrection.status).where(
                    IntentCorrection.message_id == message_id
                )
            ).first()
            if existing is not None and existing.status != "pending":
                raise CorrectionReviewed(
                    f"the correction of message {message_id} was {existing.status} already"
                )
            values = {
                "conversation_id": conversation_id,
                "customer": customer_key(found.channel, found.sender),
                "text": text,
                "language": message.language or "zh",
                "wrong_intent": wrong,
                "right_intent": right_intent,
                "agent": agent,
                "created_at": utcnow(),
                "status": "pending",
            }
            if existing is not None:
                connection.execute(
                    update(IntentCorrection)
                    .where(IntentCorrection.id == existing.id)
                    .values(**values)
                )
                return int(existing.id)
            result = connection.execute(
                insert(IntentCorrection).values(message_id=message_id, **values)
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]

        correction_id = await self._database.transaction(work)
        logger.info("Agent correction %d of message %d recorded", correction_id, message_id)
        return await self.get(correction_id)

    async def unsure(
        self, *, language: str | None = None, limit: int = 50, before_id: int | None = None
    ) -> list[UnsureItem]:
        """Customer messages the bot was unsure about and nobody corrected yet, newest first
        (``before_id``: the page after the one that ended there)."""
        if language is not None and language not in LANGUAGES:
            raise InvalidCorrection(f"language must be one of {', '.join(sorted(LANGUAGES))}")
        if not 1 <= limit <= UNSURE_MAX:
            raise InvalidCorrection(f"limit must be 1 to {UNSURE_MAX}")
        corrected = select(IntentCorrection.message_id).where(
            IntentCorrection.message_id.is_not(None)
        )

        def work(connection: Connection) -> list[UnsureMessage]:
            return unsure_messages(
                connection,
                below=self._unsure_below,
                language=language,
                limit=limit,
                before_id=before_id,
                leave_out=corrected,
            )

        found = await self._database.transaction(work)
        return [_unsure_item(m) for m in found]

    async def settle(self, *, message_id: int, intent: str, supervisor: str) -> Correction:
        """A supervisor says what an unsure message meant (the bot's intent, confirmed, or
        another): an accepted correction at once, so a training example like a reviewed one."""
        self._check_intent(intent)
        if not 1 <= len(supervisor) <= ACTOR_MAX:
            raise InvalidCorrection(f"the supervisor's name must be 1 to {ACTOR_MAX} characters")

        def work(connection: Connection) -> int:
            found = _customer_message(connection, message_id)
            if found is None:
                raise CorrectionNotFound(f"no customer message {message_id}")
            existing = connection.execute(
                select(IntentCorrection.status).where(IntentCorrection.message_id == message_id)
            ).scalar()
            if existing is not None:
                raise CorrectionReviewed(
                    f"message {message_id} has a correction already ({existing}): "
                    "review that one in the list of corrections"
                )
            text = redact(found.text).strip()
            if not text:
                raise InvalidCorrection(f"message {message_id} has no text to learn from")
            predicted = intent_of_message(connection, message_id)
            now = utcnow()
            result = connection.execute(
                insert(IntentCorrection).values(
                    message_id=message_id,
                    conversation_id=found.public_id,
                    customer=customer_key(found.channel, found.sender),
                    text=text,
                    language=found.language or "zh",
                    wrong_intent=None if predicted is None else predicted[0],
                    right_intent=intent,
                    agent=supervisor,
                    created_at=now,
                    status="accepted",
                    reviewer=supervisor,
                    reviewed_at=now,
                )
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]

        try:
            correction_id = await self._database.transaction(work)
        except IntegrityError as exc:  # two supervisors at once: the unique message id decides
            raise CorrectionReviewed(f"message {message_id} was settled meanwhile") from exc
        logger.info("Unsure message %d settled as correction %d", message_id, correction_id)
        return await self.get(correction_id)

    def _check_intent(self, intent: str) -> None:
        if intent not in self._intents:
            raise InvalidCorrection(
                f"unknown intent {intent[:64]!r}: pick one of the domain's intents "
                f"({', '.join(self.intents)})"
            )

    async def get(self, correction_id: int) -> Correction:
        """One correction, or ``CorrectionNotFound``."""

        def work(connection: Connection) -> Correction:
            row = connection.execute(
                select(IntentCorrection).where(IntentCorrection.id == correction_id)
            ).first()
            if row is None:
                raise CorrectionNotFound(f"no correction {correction_id}")
            return _correction(row)

        return await self._database.transaction(work)

    async def review(self, correction_id: int, *, reviewer: str, accept: bool) -> Correction:
        """Accept or reject a pending correction; a review is final."""
        if not 1 <= len(reviewer) <= ACTOR_MAX:
            raise InvalidCorrection(f"the reviewer's name must be 1 to {ACTOR_MAX} characters")
        status: Status = "accepted" if accept else "rejected"

        def work(connection: Connection) -> None:
            done = connection.execute(
                update(IntentCorrection)
                .where(IntentCorrection.id == correction_id, IntentCorrection.status == "pending")
                .values(status=status, reviewer=reviewer, reviewed_at=utcnow())
            )
            if done.rowcount == 1:
                return
            current = connection.execute(
                select(IntentCorrection.status).where(IntentCorrection.id == correction_id)
            ).scalar()
            if current is None:
                raise CorrectionNotFound(f"no correction {correction_id}")
            raise CorrectionReviewed(f"correction {correction_id} was {current} already")

        await self._database.transaction(work)
        logger.info("Correction %d %s", correction_id, status)
        return await self.get(correction_id)

    async def listed(self, status: Status | None = None, limit: int = 100) -> list[Correction]:
        """Corrections, newest first, of one status when given."""
        if status is not None and status not in STATUSES:
            raise InvalidCorrection(f"status must be one of {', '.join(STATUSES)}")

        def work(connection: Connection) -> list[Correction]:
            query = select(IntentCorrection).order_by(IntentCorrection.id.desc()).limit(limit)
            if status is not None:
                query = query.where(IntentCorrection.status == status)
            return [_correction(row) for row in connection.execute(query)]

        return await self._database.transaction(work)

    async def accepted_examples(self) -> list[TrainingExample]:
        """Every accepted correction as a training example, oldest first."""

        def work(connection: Connection) -> list[TrainingExample]:
            rows = connection.execute(
                select(
                    IntentCorrection.right_intent, IntentCorrection.text, IntentCorrection.language
                )
                .where(IntentCorrection.status == "accepted")
                .order_by(IntentCorrection.id)
            )
            return [TrainingExample(r.right_intent, r.text, r.language) for r in rows]

        return await self._database.transaction(work)

    async def export_customer(self, customer_id: str) -> dict[str, object]:
        """The customer's corrected messages (redacted text) and the intent the bot gave each
        of their messages, for their data export."""

        def work(connection: Connection) -> dict[str, object]:
            rows = connection.execute(
                select(IntentCorrection).where(IntentCorrection.customer == customer_id)
            )
            return {
                "corrections": [_correction(r).as_json() for r in rows],
                "message_intents": _message_intents(connection, customer_id),
            }

        return await self._database.transaction(work)

    async def erase_customer(self, customer_id: str) -> dict[str, int]:
        """Delete the customer's corrections (accepted ones leave the next training)."""

        def work(connection: Connection) -> int:
            done = connection.execute(
                delete(IntentCorrection).where(IntentCorrection.customer == customer_id)
            )
            return int(done.rowcount)

        return {"corrections": await self._database.transaction(work)}

    async def record_retrain(self, model: str, swapped: bool, report: dict[str, Any]) -> None:
        """Keep the report of an NLU retraining (shown on the corrections page)."""

        def work(connection: Connection) -> None:
            connection.execute(
                insert(RetrainReport).values(
                    created_at=utcnow(), model=model[:64], swapped=swapped, report=report
                )
            )

        await self._database.transaction(work)

    async def last_retrain(self) -> dict[str, Any] | None:
        """The newest retraining report, with its time, model and whether it was swapped in."""

        def work(connection: Connection) -> dict[str, Any] | None:
            row = connection.execute(
                select(RetrainReport).order_by(RetrainReport.id.desc()).limit(1)
            ).first()
            if row is None:
                return None
            return {
                **row.report,
                "at": row.created_at.isoformat(timespec="seconds"),
                "model": row.model,
                "swapped": row.swapped,
            }

        return await self._database.transaction(work)

    async def count(self) -> dict[str, int]:
        """How many corrections there are of each status."""

        def work(connection: Connection) -> dict[str, int]:
            rows = connection.execute(
                select(IntentCorrection.status, func.count()).group_by(IntentCorrection.status)
            )
            counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
            counts.update({str(status): int(n) for status, n in rows})
            return counts

        return await self._database.transaction(work)


def near_duplicate_key(text: str) -> str:
    """The same message however it is cased, spaced or punctuated (as tests/test_nlu_data.py)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in folded if ch.isalnum())


def training_yaml(examples: Iterable[TrainingExample], known: Collection[str]) -> str:
    """Rasa NLU YAML of the examples, leaving out any that is (near) a message already known
    (``known``: the ``near_duplicate_key``s of the train, dev and test splits: a dev or test
    message in training would flatter the scores, a train one adds nothing or contradicts it)
    and repeats. Empty string when nothing is left."""
    by_intent: dict[str, list[str]] = {}
    seen: set[str] = set(known)
    for example in examples:
        key = near_duplicate_key(example.text)
        if not key or key in seen:
            continue
        seen.add(key)
        by_intent.setdefault(example.intent, []).append(example.text)
    if not by_intent:
        return ""
    nlu = [
        {"intent": intent, "examples": "".join(f"- {_one_line(t)}\n" for t in texts)}
        for intent, texts in sorted(by_intent.items())
    ]
    header = (
        "# Generated by `python -m bot train` from accepted console corrections: do not edit.\n"
    )
    body = yaml.dump(
        {"version": "3.1", "nlu": nlu}, allow_unicode=True, sort_keys=False, Dumper=_Dumper
    )
    return header + body


def _one_line(text: str) -> str:
    # A customer's "[x](y)" would read as an entity annotation in Rasa's format: break it.
    return " ".join(text.split()).replace("](", "] (").replace("]{", "] {")


class _Dumper(yaml.SafeDumper):
    """Writes the examples as a literal block, the way Rasa's own files do."""


def _literal(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _literal)


def _customer_message(connection: Connection, message_id: int) -> Row[Any] | None:
    """The customer message ``message_id`` with its conversation; None if it is not one."""
    found = connection.execute(
        select(
            Message.text,
            Message.language,
            Conversation.public_id,
            Conversation.channel,
            Conversation.sender,
        )
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Message.id == message_id, Message.direction == "in", Message.author == "customer")
    ).first()
    return cast("Row[Any] | None", found)


def _message_intents(connection: Connection, customer_id: str) -> list[dict[str, object]]:
    """Every kept intent of the customer's messages (the customer key as ``customer_key``)."""
    # The key is the shop's id (the sender on a channel that vouches for it) or channel:sender.
    senders = {customer_id, customer_id.partition(":")[2]} - {""}
    conversations = [
        row.id
        for row in connection.execute(
            select(Conversation.id, Conversation.channel, Conversation.sender).where(
                Conversation.sender.in_(senders)
            )
        )
        if customer_key(row.channel, row.sender) == customer_id
    ]
    if not conversations:
        return []
    messages = connection.execute(
        select(Message.id, Conversation.public_id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Message.conversation_id.in_(conversations), Message.direction == "in")
        .order_by(Message.id)
    ).all()
    kept = intents_of_messages(connection, [m.id for m in messages])
    return [
        {
            "conversation_id": m.public_id,
            "message_id": m.id,
            "intent": kept[m.id][0],
            "confidence": kept[m.id][1],
            "ranking": [{"intent": n, "confidence": c} for n, c in kept[m.id][2]],
        }
        for m in messages
        if m.id in kept
    ]


def _unsure_item(found: UnsureMessage) -> UnsureItem:
    alternatives = tuple((n, c) for n, c in found.ranking if n != found.intent)
    return UnsureItem(
        found.message_id,
        found.conversation_id,
        redact(found.text).strip(),
        found.language,
        found.intent,
        found.confidence,
        alternatives,
        found.reasons,
        found.created_at,
    )


def _correction(row: Row[Any]) -> Correction:
    return Correction(
        row.id,
        row.message_id,
        row.conversation_id,
        row.text,
        row.language,
        row.wrong_intent,
        row.right_intent,
        row.agent,
        row.created_at,
        row.status,
        row.reviewer,
        row.reviewed_at,
    )
