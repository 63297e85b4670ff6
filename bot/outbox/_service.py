"""The durable outbox of the messaging apps, and their inbound de-duplication.

Every message for a customer on an app is a row before anyone tries to send it; a send that
fails is tried again with exponential backoff and jitter until it goes through or the app refuses
it for good. A due row is claimed by pushing its next attempt past a lease, so two workers (or
hub replicas on one database) never send it at the same time, and a worker that dies mid-send
leaves it to be picked up after the lease. Inbound deliveries are kept by the app's message id:
the database's unique key is what tells a retry from a new message, across replicas.

The units of work every message passes through (keep a delivery, mark it handled, enqueue, claim,
record the send) are Core statements built once, at import: through the ORM they cost several
times the CPU of the SQL itself (object construction, flushes, a cache key per statement).

A sent message keeps what the app said of it: the app's id for it (the sender's answer), and
when the recipient read it (``mark_read``, from the app's read event or its read-status query,
which ``unread`` lists the messages to ask about for).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, bindparam, func, insert, null, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.outbox._errors import AlreadySent, OutboxMessageNotFound, Undeliverable
from bot.outbox._tables import InboundRow, OutboundRow
from bot.storage import Database, utcnow

logger = logging.getLogger(__name__)

# Sends the rendered body to the recipient and answers the app's id for the message (None: the
# app gives none that anything can follow); raises Undeliverable for good, anything else: later.
Sender = Callable[[str, dict[str, Any]], Awaitable[str | None]]
PENDING, SENT, GAVE_UP = "pending", "sent", "gave_up"
RECEIVED, HANDLED = "received", "handled"
ERROR_CHARS = 500
RECEIPT_CHARS = 128

_INSERT_INBOUND = insert(InboundRow).returning(InboundRow.id)
_MARK_HANDLED = (
    update(InboundRow)
    .where(InboundRow.id == bindparam("inbound_id"))
    .values(status=HANDLED, body=null(), handled_at=bindparam("now"))
)
_INSERT_OUTBOUND = insert(OutboundRow).returning(OutboundRow.id)
_DUE_COLUMNS = (
    OutboundRow.id,
    OutboundRow.channel,
    OutboundRow.recipient,
    OutboundRow.body,
    OutboundRow.attempts,
    OutboundRow.next_attempt_at,
)
# One message claimed in one statement: of two claimers, the database lets one move the row.
_CLAIM_ONE = (
    update(OutboundRow)
    .where(
        OutboundRow.id == bindparam("message_id"),
        OutboundRow.status == PENDING,
        OutboundRow.next_attempt_at <= bindparam("now"),
    )
    .values(next_attempt_at=bindparam("lease_until"))
    .returning(*_DUE_COLUMNS)
)
_WHERE_SENT = OutboundRow.id == bindparam("message_id")
# What a send changes, by its outcome: a sent message keeps its lease time, a pending one gets
# its next attempt, a given-up one neither.
_RECORD = {
    SENT: update(OutboundRow)
    .where(_WHERE_SENT)
    .values(
        attempts=bindparam("attempts"),
        status=SENT,
        last_error=bindparam("last_error"),
        sent_at=bindparam("now"),
        receipt=bindparam("receipt"),
    ),
    PENDING: update(OutboundRow)
    .where(_WHERE_SENT)
    .values(
        attempts=bindparam("attempts"),
        status=PENDING,
        last_error=bindparam("last_error"),
        next_attempt_at=bindparam("next_attempt_at"),
    ),
    GAVE_UP: update(OutboundRow)
    .where(_WHERE_SENT)
    .values(attempts=bindparam("attempts"), status=GAVE_UP, last_error=bindparam("last_error")),
}


@dataclass(frozen=True)
class RetryPolicy:
    """How failed sends are retried: ``first`` after the first failure, doubling up to ``most``,
    each wait stretched by up to ``jitter`` of itself at random (so a recovering app is not hit
    by every retry at once); after ``max_attempts`` sends the message is given up."""

    first: timedelta = timedelta(seconds=2)
    most: timedelta = timedelta(minutes=10)
    jitter: float = 0.5
    max_attempts: int = 12
    lease: timedelta = timedelta(seconds=60)

    def wait_after(self, attempts: int) -> timedelta:
        """How long to wait after the ``attempts``-th failed send."""
        base = min(self.most, self.first * (1 << min(attempts - 1, 20)))
        return base * (1 + random.uniform(0, self.jitter))


@dataclass(frozen=True)
class OutboundMessage:
    """An outbox row as the admin view and the tests see it."""

    id: int
    channel: str
    recipient: str
    conversation_id: str | None
    source_id: str
    body: dict[str, Any]
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None
    receipt: str | None = None  # the app's id for the sent message
    read_at: datetime | None = None  # when the app said the recipient read it


@dataclass(frozen=True)
class _Due:
    """A claimed outbox row: what a send needs of it."""

    id: int
    channel: str
    recipient: str
    body: dict[str, Any]
    attempts: int

    @classmethod
    def of(cls, row: Row[Any] | OutboundRow) -> _Due:
        return cls(row.id, row.channel, row.recipient, row.body, row.attempts)


@dataclass(frozen=True)
class PendingInbound:
    """An inbound delivery accepted but not handled yet."""

    id: int
    channel: str
    message_id: str
    body: dict[str, Any]


class Outbox:
    """Outbound messages stored before sending and retried until delivered or refused; inbound
    deliveries de-duplicated by the app's message id."""

    def __init__(self, database: Database, policy: RetryPolicy | None = None) -> None:
        self._db = database
        self.policy = policy or RetryPolicy()

    def close(self) -> None:
        """Stop the outbox's storage threads (when it has a database of its own)."""
        self._db.dispose()

    # ---- inbound ------------------------------------------------------------------------

    async def accept_inbound(
        self, channel: str, message_id: str, body: dict[str, Any]
    ) -> int | None:
        """Keep a delivery; its row id, or None when ``message_id`` was seen before (a retry)."""

        values = {"channel": channel, "message_id": message_id, "body": body, "status": RECEIVED}

        def insert(connection: Connection) -> int:
            return int(connection.execute(_INSERT_INBOUND, values).scalar_one())

        try:
            # The app waits for this insert before it hears "received" (WeChat gives 5 s).
            return await self._db.transaction(insert, urgent=True)
        except IntegrityError:
            return None

    async def handled(self, inbound_id: int) -> None:
        """The delivery reached the conversation: forget its text (the conversation keeps it)."""

        def mark(connection: Connection) -> None:
            connection.execute(_MARK_HANDLED, {"inbound_id": inbound_id, "now": utcnow()})

        await self._db.transaction(mark)

    async def unhandled(self, older_than: timedelta, limit: int = 100) -> list[PendingInbound]:
        """Deliveries accepted more than ``older_than`` ago and still not handled (the hub
        stopped in between); each is leased to the caller for ``policy.lease``."""
        now = utcnow()

        def claim(session: Session) -> list[PendingInbound]:
            rows = session.scalars(
                select(InboundRow)
                .where(InboundRow.status == RECEIVED, InboundRow.received_at <= now - older_than)
                .order_by(InboundRow.id)
                .limit(limit)
            ).all()
            claimed = []
            for row in rows:
                moved = session.execute(
                    update(InboundRow)
                    .where(InboundRow.id == row.id, InboundRow.received_at == row.received_at)
                    .values(received_at=now + self.policy.lease)
                )
                if moved.rowcount == 1 and row.body is not None:  # type: ignore[attr-defined]
                    claimed.append(PendingInbound(row.id, row.channel, row.message_id, row.body))
            return claimed

        return await self._db.session(claim)

    # ---- outbound -----------------------------------------------------------------------

    async def enqueue(
        self,
        channel: str,
        recipient: str,
        body: dict[str, Any],
        *,
        source_id: str,
        conversation_id: str | None = None,
    ) -> int | None:
        """Store a message for sending; its id, or None when ``source_id`` was enqueued before."""

        values = {
            "channel": channel,
            "recipient": recipient,
            "conversation_id": conversation_id,
            "source_id": source_id,
            "body": body,
            "status": PENDING,
            "attempts": 0,
        }

        def insert(connection: Connection) -> int:
            now = utcnow()
            row = {**values, "created_at": now, "next_attempt_at": now}
            return int(connection.execute(_INSERT_OUTBOUND, row).scalar_one())

        try:
            # The app waits for this insert before it hears "received" (WeChat gives 5 s).
            return await self._db.transaction(insert, urgent=True)
        except IntegrityError:
            return None

    async def deliver(self, message_id: int, senders: Mapping[str, Sender]) -> str | None:
        """Try one message now if it is due; its status afterwards (None: not claimed)."""
        now = utcnow()
        key = {"message_id": message_id, "now": now, "lease_until": now + self.policy.lease}

        def claim(connection: Connection) -> _Due | None:
            row = connection.execute(_CLAIM_ONE, key).first()
            return None if row is None else _Due.of(row)

        claimed = await self._db.transaction(claim)
        return None if claimed is None else await self._send(claimed, senders)

    async def deliver_due(self, senders: Mapping[str, Sender], limit: int = 200) -> dict[str, int]:
        """Send every due message of the channels in ``senders``; counts by resulting status."""
        counts = {PENDING: 0, SENT: 0, GAVE_UP: 0}
        claimed = await self._claim(OutboundRow.channel.in_(list(senders)), limit=limit)
        for row in claimed:
            counts[await self._send(row, senders)] += 1
        return counts

    async def stuck(self, limit: int = 100) -> list[OutboundMessage]:
        """Messages not delivered after at least one attempt, or given up: the admin's view."""

        def load(session: Session) -> list[OutboundMessage]:
            rows = session.scalars(
                select(OutboundRow)
                .where(
                    (OutboundRow.status == GAVE_UP)
                    | ((OutboundRow.status == PENDING) & (OutboundRow.attempts > 0))
                )
                .order_by(OutboundRow.id.desc())
                .limit(limit)
            ).all()
            return [_message(row) for row in rows]

        return await self._db.session(load)

    async def retry_now(self, message_id: int) -> OutboundMessage:
        """Make a stuck message due at once (a given-up one gets one more attempt); the
        ``outbox-deliver`` job sends it at its next run."""
        return await self._change(message_id, status=PENDING, next_attempt_at=utcnow())

    async def give_up(self, message_id: int, reason: str) -> OutboundMessage:
        """Stop retrying a message (a supervisor's decision), with ``reason`` kept."""
        return await self._change(message_id, status=GAVE_UP, last_error=reason[:ERROR_CHARS])

    async def _change(self, message_id: int, **values: Any) -> OutboundMessage:
        def change(session: Session) -> OutboundMessage:
            row = session.get(OutboundRow, message_id, with_for_update=True)
            if row is None:
                raise OutboxMessageNotFound(f"no outbox message has the id {message_id}")
            if row.status == SENT:
                raise AlreadySent(f"outbox message {message_id} was delivered at {row.sent_at}")
            if values.get("status") == PENDING and row.status == GAVE_UP:
                # One more attempt: the count stays, so the limit allows just this one.
                values["attempts"] = min(row.attempts, self.policy.max_attempts - 1)
            for name, value in values.items():
                setattr(row, name, value)
            session.flush()
            return _message(row)

        message: OutboundMessage = await self._db.session(change)
        logger.info("Outbox message %d is now %s", message_id, message.status)
        return message

    async def messages(self, channel: str) -> list[OutboundMessage]:
        """Every outbox message of ``channel``, oldest first."""

        def load(session: Session) -> list[OutboundMessage]:
            rows = session.scalars(
                select(OutboundRow).where(OutboundRow.channel == channel).order_by(OutboundRow.id)
            ).all()
            return [_message(row) for row in rows]

        return await self._db.session(load)

    async def outcomes(self, channel: str, source_ids: list[str]) -> list[OutboundMessage]:
        """The messages of ``channel`` enqueued under ``source_ids`` (those that are there):
        what a sender of them (a campaign) reads to learn whether each went out or was given
        up. One query on the (channel, source id) unique key."""

        def load(session: Session) -> list[OutboundMessage]:
            rows = session.scalars(
                select(OutboundRow).where(
                    OutboundRow.channel == channel, OutboundRow.source_id.in_(source_ids)
                )
            ).all()
            return [_message(row) for row in rows]

        return await self._db.session(load) if source_ids else []

    # ---- what the app says after taking a message -----------------------------------------

    async def mark_read(
        self, channel: str, receipts: Sequence[str], at: datetime
    ) -> list[OutboundMessage]:
        """The app says the recipient read its messages ``receipts``: each sent message of
        ``channel`` with one of these receipts is read at ``at``, once. The messages this moved:
        a replayed receipt, or one that names no message of ours, moves none."""
        wanted = sorted({r for r in receipts if r})

        def mark(session: Session) -> list[OutboundMessage]:
            rows = session.scalars(
                select(OutboundRow).where(
                    OutboundRow.channel == channel,
                    OutboundRow.receipt.in_(wanted),
                    OutboundRow.status == SENT,
                    OutboundRow.read_at.is_(None),
                )
            ).all()
            moved = []
            for row in rows:
                # Conditional: of two replicas handling one receipt twice, one moves the row.
                done = session.execute(
                    update(OutboundRow)
                    .where(OutboundRow.id == row.id, OutboundRow.read_at.is_(None))
                    .values(read_at=at, follow_reads=False)
                )
                if done.rowcount == 1:  # type: ignore[attr-defined]
                    moved.append(replace(_message(row), read_at=at))
            return moved

        return await self._db.session(mark) if wanted else []

    async def follow_reads(self, channel: str, source_id: str) -> bool:
        """Ask the app whether the message enqueued under ``source_id`` was read (``unread``
        lists it) until it is, or is too old; False when there is no such message."""

        def follow(connection: Connection) -> bool:
            moved = connection.execute(
                update(OutboundRow)
                .where(
                    OutboundRow.channel == channel,
                    OutboundRow.source_id == source_id,
                    OutboundRow.read_at.is_(None),
                )
                .values(follow_reads=True)
            )
            return bool(moved.rowcount)

        return await self._db.transaction(follow)

    async def unread(
        self, channel: str, sent_since: datetime, limit: int = 100
    ) -> list[OutboundMessage]:
        """Followed messages of ``channel`` sent since ``sent_since`` with a receipt and not
        read yet, the least recently asked about first, each marked asked now. Followed
        messages sent earlier, or given up, are no longer followed."""
        now = utcnow()
        followed = (OutboundRow.channel == channel) & OutboundRow.follow_reads.is_(True)

        def claim(session: Session) -> list[OutboundMessage]:
            session.execute(
                update(OutboundRow)
                .where(
                    followed,
                    (OutboundRow.status == GAVE_UP)
                    | ((OutboundRow.status == SENT) & (OutboundRow.sent_at < sent_since)),
                )
                .values(follow_reads=False)
            )
            rows = session.scalars(
                select(OutboundRow)
                .where(
                    followed,
                    OutboundRow.status == SENT,
                    OutboundRow.receipt.is_not(None),
                    OutboundRow.read_at.is_(None),
                )
                # Never asked (NULL) first, on every database: NULLs sort differently.
                .order_by(
                    OutboundRow.read_checked_at.is_not(None),
                    OutboundRow.read_checked_at,
                    OutboundRow.id,
                )
                .limit(limit)
            ).all()
            for row in rows:
                row.read_checked_at = now
            session.flush()
            return [_message(row) for row in rows]

        return await self._db.session(claim)

    async def counts(self) -> dict[str, int]:
        """How many outbox messages have each status."""

        def load(session: Session) -> dict[str, int]:
            rows = session.execute(
                select(OutboundRow.status, func.count()).group_by(OutboundRow.status)
            ).all()
            return {PENDING: 0, SENT: 0, GAVE_UP: 0, **{s: n for s, n in rows}}

        return await self._db.session(load)

    async def erase_recipient(self, channel: str, recipient: str) -> int:
        """Delete a customer's outbox messages (privacy erasure); how many were deleted."""

        def delete(session: Session) -> int:
            rows = session.scalars(
                select(OutboundRow).where(
                    OutboundRow.channel == channel, OutboundRow.recipient == recipient
                )
            ).all()
            for row in rows:
                session.delete(row)
            return len(rows)

        return await self._db.session(delete)

    # ---- internals ----------------------------------------------------------------------

    async def _claim(self, which: Any, limit: int) -> list[_Due]:
        now = utcnow()
        lease_until = now + self.policy.lease

        def claim(connection: Connection) -> list[_Due]:
            rows = connection.execute(
                select(*_DUE_COLUMNS)
                .where(which, OutboundRow.status == PENDING, OutboundRow.next_attempt_at <= now)
                .order_by(OutboundRow.id)
                .limit(limit)
            ).all()
            claimed = []
            for row in rows:
                # Conditional on the attempt time read: of two claimers, one moves the row.
                moved = connection.execute(
                    update(OutboundRow)
                    .where(
                        OutboundRow.id == row.id,
                        OutboundRow.status == PENDING,
                        OutboundRow.next_attempt_at == row.next_attempt_at,
                    )
                    .values(next_attempt_at=lease_until)
                )
                if moved.rowcount == 1:
                    claimed.append(_Due.of(row))
            return claimed

        return await self._db.transaction(claim)

    async def _send(self, row: _Due, senders: Mapping[str, Sender]) -> str:
        sender = senders.get(row.channel)
        attempts = row.attempts + 1
        error: str | None = None
        receipt: str | None = None
        status = SENT
        if sender is None:
            error, status = f"no sender for channel {row.channel!r} is configured", PENDING
        else:
            try:
                receipt = await sender(row.recipient, row.body)
            except Undeliverable as exc:
                error, status = str(exc), GAVE_UP
            # Any failure of the app's API (network, 5xx, a client bug) is kept and retried;
            # only the app's own refusal (Undeliverable) ends the message.
            except Exception as exc:  # noqa: BLE001
                error, status = f"{type(exc).__name__}: {exc}", PENDING
        if status == PENDING and attempts >= self.policy.max_attempts:
            error, status = f"gave up after {attempts} attempts; last error: {error}", GAVE_UP
        now = utcnow()
        values: dict[str, Any] = {"message_id": row.id, "attempts": attempts, "now": now}
        values["last_error"] = None if error is None else error[:ERROR_CHARS]
        if status == PENDING:
            values["next_attempt_at"] = now + self.policy.wait_after(attempts)
        if status == SENT:
            values["receipt"] = receipt[:RECEIPT_CHARS] if isinstance(receipt, str) else None
        if error is not None:
            logger.warning(
                "Outbox message %d on %s: attempt %d failed (%s): %s",
                row.id,
                row.channel,
                attempts,
                status,
                error[:ERROR_CHARS],
            )

        def record(connection: Connection) -> None:
            connection.execute(_RECORD[status], values)

        await self._db.transaction(record)
        return status


def _message(row: OutboundRow) -> OutboundMessage:
    return OutboundMessage(
        row.id,
        row.channel,
        row.recipient,
        row.conversation_id,
        row.source_id,
        row.body,
        row.status,
        row.attempts,
        row.last_error,
        row.created_at,
        row.next_attempt_at,
        row.sent_at,
        row.receipt,
        row.read_at,
    )
