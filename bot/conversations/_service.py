"""A customer message's way through the hub: store, detect language, route by mode, store replies.

In ``bot`` mode the message goes to Rasa (its sentiment is scored meanwhile), unless the hub
answers it itself (the ``commands`` hook: a privacy request typed in the chat); a handoff marker in
the bot's replies, an angry or very negative message, or a VIP's unhappy one queues the
conversation for a human. In ``waiting`` and ``human`` mode the bot is not asked: the message waits
for the agent, and the customer gets a queue notice at most. Every stored message is published to
listeners (web-chat sockets, the agent console).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol

from bot.conversations._errors import EmptyMessage, MessageTooLong
from bot.conversations._events import ConversationEvent, ConversationEvents, StoredMessage
from bot.conversations._lookup import find_conversation
from bot.conversations._notices import (
    csat_buttons,
    csat_score,
    is_cancel,
    notice,
    queue_notice,
)
from bot.conversations._store import (
    ConversationPreview,
    OpenTurn,
    close_turn,
    conversation_key,
    customer_export,
    customer_texts,
    erase_conversation,
    expire_messages,
    history,
    inbound_message,
    last_notice_at,
    message_before,
    open_turn,
    previews,
    recent_senders,
    replied_questions,
    sender_of,
    store_outbound,
)
from bot.conversations._summary import Summarizer
from bot.dialogue import TURN_KEY, BotReply, DialogueUnavailable, RasaClient, TurnIntent
from bot.handoff import (
    AgentProfile,
    BusinessHours,
    HandoffService,
    HandoffTicket,
    HandoffView,
    handoff_reason,
    skill_for_intent,
)
from bot.insights import (
    RepliedQuestion,
    Sentiment,
    SentimentAnalyzer,
    record_message_intent,
    reply_strategy,
    store_message_intent,
)
from bot.language import Language, detect_language
from bot.privacy import customer_id, customer_key
from bot.storage import Database, utcnow

logger = logging.getLogger(__name__)

VipLookup = Callable[[str, str], Awaitable[bool]]
# The person an app identity is linked to (channel, sender), None when it is not linked.
LinkedCustomer = Callable[[str, str], Awaitable[str | None]]
# Given what a customer wrote, forget it; counts of what went, by cache.
ForgetTexts = Callable[[list[str]], Awaitable[dict[str, int]]]
TRANSCRIPT_MESSAGES = 30  # the latest messages a ticket opened for an unattended request carries
MAX_COUNTED_SENDERS = 100_000  # a count of recent anonymous senders stops here
# Conversations whose customer's id is kept in memory: every reply's delivery asks for it.
KNOWN_SENDERS = 10_000


@dataclass(frozen=True)
class UnattendedRequest:
    """A customer asked for a human while no agent was online: what a ticket for it needs."""

    conversation_id: str
    channel: str
    customer_key: str  # see ``customer_key``
    language: Language
    reason: str
    intent: str | None
    skill: str
    transcript: str  # the conversation's latest messages, oldest first
    angry: bool
    sentiment: float


@dataclass(frozen=True)
class TicketReceipt:
    """The ticket opened for an unattended request, as the customer is told."""

    number: str
    first_response_due_at: datetime | None


# Opens a ticket for an unattended request; the wiring passes the ticketing module's.
UnattendedTickets = Callable[[UnattendedRequest], Awaitable[TicketReceipt]]


@dataclass(frozen=True)
class CustomerCommand:
    """A customer message in ``bot`` mode, offered to the hub's own commands (a privacy request
    typed in the chat) before the dialogue sees it."""

    conversation_id: str
    channel: str
    sender: str
    text: str  # what the dialogue would get (a tapped button's payload, else the text)
    language: Language
    # The conversation's message just before this one (None: it is the first), read on demand.
    earlier: Callable[[], Awaitable[StoredMessage | None]]


@dataclass(frozen=True)
class CommandAnswer:
    """The hub answered the message itself; the dialogue is not asked. ``replies`` are the
    hub's; with ``erased`` the conversation is gone (the customer erased it), so they are
    delivered once (a ``notice`` event, the turn's replies) and stored nowhere. With ``kept``,
    the conversation stores ``kept`` instead and ``replies`` are delivered once the same way
    (a secret meant for the customer alone, such as a download link)."""

    replies: list[BotReply]
    erased: bool = False
    kept: list[BotReply] | None = None


# The hub's own commands: the answer to a message, or None to let the dialogue answer it.
CustomerCommands = Callable[[CustomerCommand], Awaitable[CommandAnswer | None]]


async def _nobody_is_vip(_channel: str, _sender: str) -> bool:
    return False


@dataclass(frozen=True)
class InboundMessage:
    """A customer message, normalized by its channel connector."""

    channel: str
    sender: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    # What Rasa gets instead of ``text``, when the channel knows better than the stored words:
    # an intent trigger built from a screenshot's order id, while ``text`` says "[图片] …".
    dialogue_text: str | None = None


@dataclass(frozen=True)
class Turn:
    """What came of one inbound message: the replies to show and the conversation's mode."""

    conversation_id: str
    replies: list[BotReply]
    language: Language
    mode: str
    messages: list[StoredMessage] = field(default_factory=list)  # the stored replies


@dataclass(frozen=True)
class HandoffPolicy:
    """When the hub hands a conversation to a human on its own."""

    sentiment_threshold: float = -0.6
    notice_interval: timedelta = timedelta(minutes=2)
    business_hours: str = "09:00-21:00"


class ConversationLocks(Protocol):
    """One holder at a time per conversation key (``channel:sender``), across hub replicas;
    raises ``ConversationBusy`` when the wait is too long."""

    def hold(self, key: str) -> AbstractAsyncContextManager[None]: ...


async def anonymous_senders(database: Database, channel: str, since: datetime) -> int:
    """How many senders wrote on ``channel`` since ``since`` whom the channel does not vouch for
    (anonymous web-chat sessions), counted up to ``MAX_COUNTED_SENDERS``."""
    senders = await database.transaction(
        lambda c: recent_senders(c, channel, since, MAX_COUNTED_SENDERS)
    )
    return sum(1 for sender in senders if customer_id(channel, sender) is None)


class ConversationService:
    """Stores every message in both directions and routes customer messages by mode."""

    def __init__(
        self,
        database: Database,
        dialogue: RasaClient,
        handoffs: HandoffService,
        hours: BusinessHours,
        *,
        max_text_chars: int,
        default_language: Language,
        sentiment: SentimentAnalyzer | None = None,
        events: ConversationEvents | None = None,
        policy: HandoffPolicy | None = None,
        is_vip: VipLookup = _nobody_is_vip,
        summaries: Summarizer | None = None,
        locks: ConversationLocks | None = None,
        unattended: UnattendedTickets | None = None,
        intents_from_tracker: bool = True,
        linked_customer: LinkedCustomer | None = None,
        forget_texts: ForgetTexts | None = None,
        commands: CustomerCommands | None = None,
    ) -> None:
        """``forget_texts``: the caches outside this module that keep customers' texts (the
        knowledge base's answers and vectors…), told what a customer wrote when it is erased.
        ``commands``: what the hub answers itself in ``bot`` mode before the dialogue (the
        privacy requests typed in the chat)."""
        self._db = database
        self._commands = commands
        self._forget_texts = forget_texts
        # Off when Rasa's events reach the hub by an event broker, which stores the intents.
        self._intents_from_tracker = intents_from_tracker
        self._dialogue = dialogue
        self._handoffs = handoffs
        self._hours = hours
        self._max_text_chars = max_text_chars
        self._default_language = default_language
        self._sentiment = sentiment or SentimentAnalyzer()
        self.events = events or ConversationEvents()
        self._policy = policy or HandoffPolicy()
        # None: a request for a human always queues, even with nobody online to take it.
        self._unattended = unattended
        self._linked_customer = linked_customer
        self._is_vip = is_vip
        # The summary cache quotes messages: an erasure or expiry must empty it too.
        self._summaries = summaries
        self._locks = locks
        # Per conversation, the read of its latest message's intent that runs after the reply
        # was sent; the next message goes to Rasa only once it is done (see _read_intent_later).
        self._intent_reads: dict[str, asyncio.Task[None]] = {}
        # Conversation id -> the channel's id of its customer, which never changes: the apps'
        # connectors ask for it on every reply, and a message just received already says it.
        self._senders: OrderedDict[str, str] = OrderedDict()

    async def receive(self, inbound: InboundMessage) -> Turn:
        """Handle one customer message; raises ``MessageRejected`` or ``DialogueUnavailable``.

        With ``locks`` (several hub replicas), one customer's messages are handled one at a time
        in the order they took the lock, whichever replica got each."""
        if self._locks is None:
            return await self._receive(inbound)
        async with self._locks.hold(f"{inbound.channel}:{inbound.sender}"):
            return await self._receive(inbound)

    async def _receive(self, inbound: InboundMessage) -> Turn:
        text = self._checked_text(inbound.text)
        # Scored while it is stored: the score travels to Rasa with the message, and a message
        # with letters has the language the store will give it (letterless ones take the
        # conversation's, known only once stored).
        guess = detect_language(text)
        early = asyncio.create_task(asyncio.to_thread(self._score, text, guess)) if guess else None
        # Stored before anyone sees it: if Rasa fails, the message is kept, marked "failed".
        try:
            turn = await self._db.transaction(
                partial(
                    open_turn,
                    channel=inbound.channel,
                    sender=inbound.sender,
                    text=text,
                    metadata=inbound.metadata,
                    default_language=self._default_language,
                )
            )
        except BaseException:
            if early is not None:
                early.cancel()
            raise
        self._remember_sender(turn.conversation_id, inbound.sender)
        if early is not None and guess == turn.language:
            scoring = early
        else:
            if early is not None:
                early.cancel()
            scoring = asyncio.create_task(asyncio.to_thread(self._score, text, turn.language))
        if turn.mode == "closed":
            return await self._after_close(turn, text, scoring, inbound)
        if turn.mode in ("waiting", "human"):
            return await self._while_with_humans(turn, text, scoring)
        if csat_score(text) is not None:
            # Handed back to the bot, the customer answers the satisfaction question.
            rated = await self._record_csat(turn, text, scoring)
            if rated is not None:
                return rated
        return await self._with_bot(turn, text, scoring, inbound)

    async def post(
        self,
        conversation_id: str,
        text: str,
        *,
        author: str,
        payload: dict[str, Any] | None = None,
    ) -> StoredMessage:
        """Store a message to the customer from an agent or the hub, and tell listeners."""
        checked = self._checked_text(text)

        def store(connection: Any) -> tuple[StoredMessage, str]:
            pk, channel, language = conversation_key(connection, conversation_id)
            stored = store_outbound(
                connection, pk, conversation_id, checked, payload, language, author
            )
            return stored, channel

        message, channel = await self._db.transaction(store)
        await self._publish_messages(channel, [message])
        return message

    async def history(
        self, conversation_id: str, *, after_id: int | None = None, limit: int = 200
    ) -> list[StoredMessage]:
        """The conversation's messages in order (both directions), after ``after_id`` if given."""
        return await self._db.transaction(
            partial(history, conversation_id=conversation_id, after_id=after_id, limit=limit)
        )

    async def find(self, channel: str, sender: str) -> str | None:
        """The public id of ``sender``'s conversation on ``channel``; None before it has one."""
        return await find_conversation(self._db, channel, sender)

    async def replied_questions(self, since: datetime, limit: int) -> list[RepliedQuestion]:
        """Customer messages and the bot replies with a payload that followed them, since
        ``since``, newest reply first (the insights module's knowledge-gap report reads them)."""
        return await self._db.transaction(lambda c: replied_questions(c, since, limit))

    async def anonymous_senders(self, channel: str, since: datetime) -> int:
        """How many senders wrote on ``channel`` since ``since`` whom the channel does not vouch
        for (anonymous web-chat sessions), counted up to ``MAX_COUNTED_SENDERS``."""
        return await anonymous_senders(self._db, channel, since)

    # ---- personal data: what the hub holds about a customer, and its erasure -------------

    async def export_customer(self, channel: str, sender: str) -> dict[str, Any] | None:
        """The customer's conversation on ``channel``: messages with their sentiment, handoffs
        and agents' notes, as JSON; None when the hub holds none."""
        conversation = await self._db.transaction(
            partial(customer_export, channel=channel, sender=sender)
        )
        if conversation is None:
            return None
        conversation.update(await self._handoffs.export_conversation(conversation["id"]))
        return conversation

    async def erase_customer(self, channel: str, sender: str) -> dict[str, int]:
        """Delete the customer's conversation on ``channel`` everywhere this module keeps it:
        messages (so the knowledge-gap report, read from them, forgets their questions),
        handoffs, notes and cached summaries. Erasing what is gone erases nothing."""
        conversation_id = await self.find(channel, sender)
        if conversation_id is None:
            return {"conversations": 0, "messages": 0, "handoffs": 0, "notes": 0, "summaries": 0}
        texts = await self._db.transaction(partial(customer_texts, conversation_id=conversation_id))
        # Before anything is deleted: a cache that cannot be reached fails the erasure, and
        # asking again still finds what the customer wrote.
        forgotten = await self._forget_texts(texts) if self._forget_texts else {}
        forgotten["emotion_vectors"] = self._sentiment.forget(texts)
        counts = await self._handoffs.erase_conversation(conversation_id)
        messages = await self._db.transaction(
            partial(erase_conversation, conversation_id=conversation_id)
        )
        summaries = self._summaries.forget(conversation_id) if self._summaries else 0
        self._senders.pop(conversation_id, None)
        return {
            "conversations": 1,
            "messages": messages,
            **counts,
            "summaries": summaries,
            **forgotten,
        }

    async def expire_messages(self, before: datetime, *, dry_run: bool) -> dict[str, int]:
        """Retention: messages older than ``before`` and conversations left empty, counted
        (``dry_run``) or deleted."""
        counts = await self._db.transaction(
            partial(expire_messages, before=before, dry_run=dry_run)
        )
        if not dry_run and counts["messages"] and self._summaries is not None:
            self._summaries.forget()
        if not dry_run and counts["conversations"]:
            self._senders.clear()  # some of them are gone; the rest are read again when asked
        return counts

    async def previews(self, conversation_ids: Sequence[str]) -> dict[str, ConversationPreview]:
        """Who each conversation is with and their latest message (cut to 200 characters);
        unknown ids are left out."""
        return await self._db.transaction(partial(previews, conversation_ids=conversation_ids))

    async def sender_of(self, conversation_id: str) -> str:
        """The channel's id of the conversation's customer."""
        known = self._senders.get(conversation_id)
        if known is not None:
            self._senders.move_to_end(conversation_id)
            return known
        sender = await self._db.transaction(partial(sender_of, conversation_id=conversation_id))
        self._remember_sender(conversation_id, sender)
        return sender

    def _remember_sender(self, conversation_id: str, sender: str) -> None:
        self._senders[conversation_id] = sender
        self._senders.move_to_end(conversation_id)
        if len(self._senders) > KNOWN_SENDERS:
            self._senders.popitem(last=False)

    async def notify_mode(self, conversation_id: str, channel: str, mode: str) -> None:
        """Tell listeners a conversation changed mode (the console acts on handoffs)."""
        await self.events.publish(
            ConversationEvent("mode", conversation_id, channel, data={"mode": mode})
        )

    async def resume_bot(self, conversation_id: str) -> None:
        """Un-pause Rasa for a conversation that is back with the bot."""
        try:
            await self._dialogue.resume(conversation_id)
        except DialogueUnavailable:
            # The hub routes by its own mode, so a paused tracker only means Rasa stays silent
            # until it is reachable again; the next hand back resumes it.
            logger.warning("Could not resume conversation %s in Rasa", conversation_id)

    # ---- agents take over and hand back: the mode's one owner ---------------------------

    async def accept_handoff(self, agent: AgentProfile, handoff_id: int) -> HandoffView:
        """An agent takes the conversation (mode ``human``); the customer is told who."""
        view = await self._handoffs.accept(agent, handoff_id)
        await self.post(
            view.conversation_id,
            notice("accepted", _language(view), agent=agent.display_name),
            author="system",
        )
        await self.notify_mode(view.conversation_id, view.channel, "human")
        return view

    async def transfer_handoff(
        self,
        agent: AgentProfile,
        handoff_id: int,
        *,
        to_agent: int | None = None,
        to_skill: str | None = None,
    ) -> HandoffView:
        """The agent passes the conversation on (mode ``waiting`` again)."""
        view = await self._handoffs.transfer(
            agent, handoff_id, to_agent=to_agent, to_skill=to_skill
        )
        await self.notify_mode(view.conversation_id, view.channel, "waiting")
        return view

    async def return_to_bot(self, agent: AgentProfile, handoff_id: int) -> HandoffView:
        """The agent hands back (mode ``bot``): Rasa resumes, the customer is told and asked
        how the agent did."""
        view = await self._handoffs.return_to_bot(agent, handoff_id)
        await self.resume_bot(view.conversation_id)
        await self.post(view.conversation_id, notice("returned", _language(view)), author="system")
        text, payload = csat_question(_language(view))
        await self.post(view.conversation_id, text, author="system", payload=payload)
        await self.notify_mode(view.conversation_id, view.channel, "bot")
        return view

    async def close_handoff(
        self, agent: AgentProfile, handoff_id: int, resolution: str
    ) -> HandoffView:
        """The agent closes the conversation (mode ``closed``) and the customer is asked how the
        agent did; their next message goes back to the bot."""
        view = await self._handoffs.close(agent, handoff_id, resolution)
        text, payload = csat_question(_language(view))
        await self.post(view.conversation_id, text, author="system", payload=payload)
        await self.notify_mode(view.conversation_id, view.channel, "closed")
        return view

    # ---- by mode ----------------------------------------------------------------------------

    async def _with_bot(
        self, turn: OpenTurn, text: str, scoring: asyncio.Task[Sentiment], inbound: InboundMessage
    ) -> Turn:
        answered = await self._hub_command(turn, text, scoring, inbound)
        if answered is not None:
            return answered
        metadata = {
            **inbound.metadata,
            "channel": inbound.channel,
            # The customer's account id, where the channel vouches for it: actions show that
            # customer's orders without asking for the phone number's last four digits.
            "customer_id": customer_id(inbound.channel, inbound.sender),
            # Whom tickets opened in the dialogue belong to, vouched for or not.
            "customer_key": customer_key(inbound.channel, inbound.sender),
            "language": turn.language,
            # Tags the message in Rasa's tracker, so its intent is read back for this turn only.
            TURN_KEY: turn.message_id,
        }
        if self._linked_customer is not None:
            # The person this app identity is linked to by a verified phone: recommendations
            # read and record that person's events, whichever app they write from.
            linked = await self._linked_customer(inbound.channel, inbound.sender)
            if linked is not None:
                metadata["linked_customer"] = linked
        # Scored once, here, and passed on: actions read it from the metadata.
        sentiment = await scoring
        metadata["sentiment"] = sentiment.to_metadata()
        await self._after_intent_read(turn.conversation_id)
        try:
            replies = await self._dialogue.send(
                turn.conversation_id, inbound.dialogue_text or text, metadata
            )
        except DialogueUnavailable:
            await self._db.transaction(
                partial(close_turn, turn=turn, status="failed", sentiment=sentiment.score)
            )
            await self._publish_inbound(turn, text, sentiment)
            raise
        reason, intent, from_bot = await self._handoff_reason(turn, inbound, replies, sentiment)
        # A handoff routes by the message's intent, so it is read now; so is it with several
        # hub replicas (``locks``), whose next message may reach another replica that cannot
        # wait for this one's read. Otherwise the intent, kept for analytics only, is read after
        # the reply is sent.
        read_now = reason is not None or self._locks is not None
        parsed = await self._turn_intent(turn) if read_now else None
        if intent is None and parsed is not None:
            intent = parsed.name
        replies = _without_markers(replies)
        mode = turn.mode
        if reason is not None and await self._nobody_to_answer():
            receipt = await self._ticket_instead(turn, reason, intent, from_bot, inbound, sentiment)
            due = receipt.first_response_due_at
            when = due.astimezone(self._hours.zone).strftime("%Y-%m-%d %H:%M") if due else "—"
            text = notice("ticketed", turn.language, number=receipt.number, due=when)
            replies = [*replies, _system(text, kind="ticket", ticket=receipt.number)]
        elif reason is not None:
            ticket = await self._request_handoff(turn, reason, intent, from_bot, inbound)
            replies = [*replies, self._queue_reply(turn.language, ticket)]
            mode = "waiting"
        finished = await self._finish(turn, text, sentiment, "answered", replies, mode, parsed)
        if not read_now:
            self._read_intent_later(turn)
        return finished

    async def _hub_command(
        self, turn: OpenTurn, text: str, scoring: asyncio.Task[Sentiment], inbound: InboundMessage
    ) -> Turn | None:
        """The hub's own answer to the message (a privacy request), or None for the dialogue.
        Only in ``bot`` mode: with a human, the agent reads the message as any other."""
        if self._commands is None:
            return None
        command = CustomerCommand(
            turn.conversation_id,
            inbound.channel,
            inbound.sender,
            inbound.dialogue_text or text,
            turn.language,
            partial(self._message_before, turn),
        )
        try:
            answer = await self._commands(command)
        except Exception:
            # Kept, marked failed, as when Rasa fails (an erasure that cannot reach a cache).
            scoring.cancel()
            await self._db.transaction(partial(close_turn, turn=turn, status="failed"))
            raise
        if answer is None:
            return None
        # The hub's own messages, whatever the command put in them.
        replies = _as_system(answer.replies)
        if answer.erased:
            scoring.cancel()
            await self._tell_unstored(turn, inbound.sender, replies)
            return Turn(turn.conversation_id, replies, turn.language, "bot")
        if answer.kept is None:
            return await self._finish(turn, text, await scoring, "answered", replies, turn.mode)
        # The kept version is stored but not sent: the customer gets the real one, once.
        kept = _as_system(answer.kept)
        finished = await self._finish(
            turn, text, await scoring, "answered", kept, turn.mode, publish=False
        )
        await self._tell_unstored(turn, inbound.sender, replies)
        return replace(finished, replies=replies)

    async def _message_before(self, turn: OpenTurn) -> StoredMessage | None:
        return await self._db.transaction(
            partial(
                message_before,
                conversation_pk=turn.conversation_pk,
                conversation_id=turn.conversation_id,
                message_id=turn.message_id,
            )
        )

    async def _tell_unstored(self, turn: OpenTurn, sender: str, replies: list[BotReply]) -> None:
        """Deliver replies that are stored nowhere (the conversation was erased this turn, or
        they hold what is the customer's alone): each is a ``notice`` event naming its
        recipient, for the channels to send as it is."""
        for reply in replies:
            message = StoredMessage(
                0,
                turn.conversation_id,
                "out",
                "system",
                reply.text or "",
                reply.model_dump(exclude={"text"}, exclude_defaults=True) or None,
                turn.language,
                utcnow(),
            )
            data = {"sender": sender, "notice_id": uuid.uuid4().hex}
            await self.events.publish(
                ConversationEvent("notice", turn.conversation_id, turn.channel, message, data)
            )

    async def _while_with_humans(
        self, turn: OpenTurn, text: str, scoring: asyncio.Task[Sentiment]
    ) -> Turn:
        sentiment = await scoring
        replies: list[BotReply] = []
        mode = turn.mode
        handoff = await self._handoffs.open_handoff(turn.conversation_id)
        if turn.mode == "waiting" and handoff is not None and is_cancel(text):
            await self._handoffs.cancel_by_customer(turn.conversation_id)
            await self.resume_bot(turn.conversation_id)
            replies, mode = [_system(notice("cancelled", turn.language))], "bot"
        elif turn.mode == "waiting" and handoff is not None and await self._notice_due(turn):
            position = await self._handoffs.position(handoff.id)
            opens_at = None if self._hours.is_open(utcnow()) else self._hours.next_opening(utcnow())
            ticket = HandoffTicket(handoff, position, opens_at)
            replies = [self._queue_reply(turn.language, ticket)]
        return await self._finish(turn, text, sentiment, "stored", replies, mode)

    async def _after_close(
        self, turn: OpenTurn, text: str, scoring: asyncio.Task[Sentiment], inbound: InboundMessage
    ) -> Turn:
        await self._handoffs.reopen_for_bot(turn.conversation_id)
        await self.resume_bot(turn.conversation_id)
        await self.notify_mode(turn.conversation_id, turn.channel, "bot")
        reopened = replace(turn, mode="bot")
        rated = await self._record_csat(reopened, text, scoring)
        if rated is not None:
            return rated
        return await self._with_bot(reopened, text, scoring, inbound)

    async def _record_csat(
        self, turn: OpenTurn, text: str, scoring: asyncio.Task[Sentiment]
    ) -> Turn | None:
        """The answer to the satisfaction question of the last human session, if it is one."""
        score = csat_score(text)
        pending = await self._handoffs.pending_csat(turn.conversation_id)
        if pending is None or score is None:
            return None
        await self._handoffs.record_csat(pending.id, score)
        replies = [_system(notice("csat_thanks", turn.language))]
        return await self._finish(turn, text, await scoring, "answered", replies, "bot")

    async def _finish(
        self,
        turn: OpenTurn,
        text: str,
        sentiment: Sentiment,
        status: str,
        replies: list[BotReply],
        mode: str,
        intent: TurnIntent | None = None,
        *,
        publish: bool = True,
    ) -> Turn:
        """Store the turn's outcome (with the intent Rasa gave the message), tell listeners (the
        replies too unless ``publish`` is false), and say what came of it."""

        def store(connection: Any) -> list[StoredMessage]:
            if intent is not None:
                store_message_intent(
                    connection, turn.message_id, intent.name, intent.confidence, intent.ranking
                )
            return close_turn(
                connection, turn=turn, status=status, replies=replies, sentiment=sentiment.score
            )

        stored = await self._db.transaction(store)
        await self._publish_inbound(turn, text, sentiment)
        if publish:
            await self._publish_messages(turn.channel, stored)
        if mode != turn.mode:
            await self.notify_mode(turn.conversation_id, turn.channel, mode)
        return Turn(turn.conversation_id, replies, turn.language, mode, stored)

    async def _turn_intent(self, turn: OpenTurn) -> TurnIntent | None:
        if not self._intents_from_tracker:
            return None
        return await self._dialogue.turn_intent(turn.conversation_id, turn.message_id)

    # ---- intents read after the reply ---------------------------------------------------------
    # Rasa's REST reply does not carry the intent, and reading its tracker cost every turn a
    # round trip before the reply. The read now runs after the reply, as a task per conversation;
    # the conversation's next message waits for it before going to Rasa, because the tracker
    # only keeps its latest message's parse: sent first, the next message would hide this one.

    def _read_intent_later(self, turn: OpenTurn) -> None:
        """Keep the turn's intent once the reply is on its way (one read in flight per
        conversation: the next message waits for it)."""
        if not self._intents_from_tracker:
            return
        task = asyncio.create_task(self._keep_intent(turn), name=f"intent-{turn.message_id}")
        self._intent_reads[turn.conversation_id] = task
        task.add_done_callback(partial(self._intent_read_done, turn.conversation_id))

    async def _keep_intent(self, turn: OpenTurn) -> None:
        intent = await self._turn_intent(turn)
        if intent is None:
            return  # logged by the client; the turn is kept without one
        # A message erased meanwhile (privacy) is not recreated: record_ checks it exists.
        await self._db.transaction(
            partial(
                record_message_intent,
                message_id=turn.message_id,
                intent=intent.name,
                confidence=intent.confidence,
                ranking=intent.ranking,
            )
        )

    def _intent_read_done(self, conversation_id: str, task: asyncio.Task[None]) -> None:
        if self._intent_reads.get(conversation_id) is task:
            del self._intent_reads[conversation_id]
        if not task.cancelled() and (error := task.exception()) is not None:
            logger.error("The intent of a message was not kept", exc_info=error)

    async def _after_intent_read(self, conversation_id: str) -> None:
        """Wait until the intent of the conversation's previous message has been read."""
        pending = self._intent_reads.get(conversation_id)
        if pending is not None:
            await asyncio.wait({pending})

    async def settle(self) -> None:
        """Wait for the intents still being read (before the hub closes its Rasa client)."""
        if self._intent_reads:
            await asyncio.wait(set(self._intent_reads.values()))

    # ---- handoff ----------------------------------------------------------------------------

    async def _handoff_reason(
        self,
        turn: OpenTurn,
        inbound: InboundMessage,
        replies: list[BotReply],
        sentiment: Sentiment,
    ) -> tuple[str | None, str | None, bool]:
        """Why this turn goes to a human (or None), the intent if known, and whether Rasa asked."""
        requested: str | None = None
        intent: str | None = None
        for reply in replies:
            marker = (reply.custom or {}).get("handoff")
            if isinstance(marker, dict):
                requested = str(marker.get("reason") or "customer_request")
                intent = str(marker["intent"]) if marker.get("intent") else None
                break
        negative = sentiment.label == "negative"
        reason = handoff_reason(
            requested,
            angry=sentiment.angry,
            score=sentiment.score,
            negative=negative,
            vip=negative and requested is None and await self._vip(inbound),
            threshold=self._policy.sentiment_threshold,
            anxious=reply_strategy(sentiment) == "reassurance_and_next_step",
        )
        return reason, intent, requested is not None

    async def _request_handoff(
        self,
        turn: OpenTurn,
        reason: str,
        intent: str | None,
        from_bot: bool,
        inbound: InboundMessage,
    ) -> HandoffTicket:
        if intent is None:
            intent = await self._latest_intent(turn.conversation_id)
        if not from_bot:
            # Rasa's action_handoff pauses the tracker itself; a handoff the hub decides on is
            # mirrored there so Rasa stays silent however a message reaches it.
            try:
                await self._dialogue.pause(turn.conversation_id)
            except DialogueUnavailable:
                logger.warning("Could not pause conversation %s in Rasa", turn.conversation_id)
        vip = await self._vip(inbound)
        return await self._handoffs.request(
            turn.conversation_id,
            reason,
            language=turn.language,
            skill=skill_for_intent(intent),
            vip=vip,
            intent=intent,
        )

    async def _nobody_to_answer(self) -> bool:
        """Whether a request for a human becomes a ticket: configured so, and no agent online."""
        return self._unattended is not None and not await self._handoffs.any_agent_online()

    async def _ticket_instead(
        self,
        turn: OpenTurn,
        reason: str,
        intent: str | None,
        from_bot: bool,
        inbound: InboundMessage,
        sentiment: Sentiment,
    ) -> TicketReceipt:
        """Open a ticket with the conversation attached; the customer stays with the bot."""
        assert self._unattended is not None
        if intent is None:
            intent = await self._latest_intent(turn.conversation_id)
        if from_bot:
            # Rasa's action_handoff paused the tracker, but no human is coming to take over.
            await self.resume_bot(turn.conversation_id)
        messages = await self.history(turn.conversation_id)
        transcript = "\n".join(
            f"{m.author}: {m.text}" for m in messages[-TRANSCRIPT_MESSAGES:] if m.text
        )
        request = UnattendedRequest(
            conversation_id=turn.conversation_id,
            channel=inbound.channel,
            customer_key=customer_key(inbound.channel, inbound.sender),
            language=turn.language,
            reason=reason,
            intent=intent,
            skill=skill_for_intent(intent),
            transcript=transcript or inbound.text,
            angry=sentiment.angry,
            sentiment=sentiment.score,
        )
        receipt = await self._unattended(request)
        logger.info(
            "No agent online: conversation %s became ticket %s",
            turn.conversation_id,
            receipt.number,
        )
        return receipt

    async def _vip(self, inbound: InboundMessage) -> bool:
        """Whether an identified customer is a VIP (an anonymous one never is)."""
        account = customer_id(inbound.channel, inbound.sender)
        return account is not None and await self._is_vip(inbound.channel, account)

    async def _latest_intent(self, conversation_id: str) -> str | None:
        try:
            tracker = await self._dialogue.tracker(conversation_id)
        except DialogueUnavailable:
            return None
        intent = (tracker.get("latest_message") or {}).get("intent") or {}
        name = intent.get("name")
        return str(name) if name else None

    def _queue_reply(self, language: Language, ticket: HandoffTicket) -> BotReply:
        text = queue_notice(
            language,
            ticket.position.position,
            ticket.position.estimated_wait,
            ticket.opens_at,
            self._policy.business_hours,
            self._hours.zone,
        )
        return _system(text, kind="queue", handoff_id=ticket.handoff.id)

    async def _notice_due(self, turn: OpenTurn) -> bool:
        last = await self._db.transaction(
            partial(last_notice_at, conversation_pk=turn.conversation_pk)
        )
        return last is None or utcnow() - last >= self._policy.notice_interval

    # ---- helpers ----------------------------------------------------------------------------

    def _score(self, text: str, language: Language) -> Sentiment:
        return self._sentiment.analyze(text, language)

    def _checked_text(self, text: str) -> str:
        stripped = text.strip()
        if not stripped:
            raise EmptyMessage("text is empty; send at least one visible character")
        if len(stripped) > self._max_text_chars:
            raise MessageTooLong(
                f"text is {len(stripped)} characters long; the limit is {self._max_text_chars}"
            )
        return stripped

    async def _publish_inbound(self, turn: OpenTurn, text: str, sentiment: Sentiment) -> None:
        message = inbound_message(turn, text, sentiment.score)
        await self.events.publish(
            ConversationEvent("message", turn.conversation_id, turn.channel, message)
        )

    async def _publish_messages(self, channel: str, messages: list[StoredMessage]) -> None:
        for message in messages:
            await self.events.publish(
                ConversationEvent("message", message.conversation_id, channel, message)
            )


def _system(text: str, **extra: object) -> BotReply:
    """A message from the hub itself (not the bot), marked as such for channels and the store."""
    return BotReply(text=text, custom={"author": "system", **extra})


def _as_system(replies: list[BotReply]) -> list[BotReply]:
    """The hub's own messages, whatever a command put in them."""
    return [
        r.model_copy(update={"custom": {**(r.custom or {}), "author": "system"}}) for r in replies
    ]


def _without_markers(replies: list[BotReply]) -> list[BotReply]:
    """The replies the customer sees: Rasa's handoff marker is for the hub alone."""
    shown = []
    for reply in replies:
        custom = {k: v for k, v in (reply.custom or {}).items() if k != "handoff"}
        if reply.text or reply.buttons or reply.image or custom:
            shown.append(reply.model_copy(update={"custom": custom or None}))
    return shown


def csat_question(language: Language) -> tuple[str, dict[str, Any]]:
    """The satisfaction question and its quick-reply buttons."""
    return notice("csat", language), {"buttons": csat_buttons(), "custom": {"kind": "csat"}}


def _language(view: HandoffView) -> Language:
    return "en" if view.language == "en" else "zh"
