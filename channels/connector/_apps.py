"""The messaging apps' shared contract: de-duplicate → normalize → hand to the conversations
service; outbound: render natively → durable outbox → the app's send API.

An app package (``channels/wechat``, ``channels/wecom``…) verifies the webhook's signature with
its SDK, parses the delivery into an ``AppMessage`` and calls ``AppConnector.accept``, which keeps
it (the unique message id is the de-duplication, across replicas) and answers at once: the bot's
reply travels through the app's send API, never in the webhook's response, so WeChat's 5 s and
Slack's 3 s windows are met whatever Rasa takes. Every stored message to the customer (bot, agent,
hub notice, satisfaction question) reaches the app the same way: the connector listens to the
conversation events, renders the message for the app and stores it in the outbox before sending.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, Protocol, cast

from bot.conversations import (
    ConversationEvent,
    ConversationService,
    InboundMessage,
    StoredMessage,
    customer_key,
)
from bot.dialogue import DialogueUnavailable
from bot.language import Language, detect_language
from bot.media import KeptButUnreadable, MediaIntake, MediaUpload, UploadTooLarge
from bot.outbox import Outbox, PendingInbound, SendFailed
from bot.recommend import Event, InvalidEvent, RecommendService
from bot.storage import utcnow
from channels.connector._acks import AckFirst
from channels.connector._cards import FeedbackKind, choices_of, feedback_of
from channels.connector._errors import status_of
from channels.connector._links import (
    APP_NAMES,
    LINK_REPLIES,
    PHONE_OFFER,
    PhoneLinks,
    PhoneOffer,
    last_four,
    link_reply,
    offers_phone,
)
from channels.connector._uploads import REPLIES
from channels.media import MediaError

logger = logging.getLogger(__name__)

# ``contact``: a phone number the app vouches for as the sender's own (Telegram's shared contact).
Kind = Literal["text", "payload", "voice", "image", "file", "contact"]
# A delivery still unhandled this long after it came in was interrupted (the hub stopped).
UNHANDLED_AFTER = timedelta(seconds=60)
MAX_CHOICES = 20
CONTACT_SHOWN = "📱"  # a shared contact answering the order check, as the conversation shows it
CHOICE_LOOKBACK = 6  # messages back to look for the buttons a number answers
# Deliveries handled at once per app: more would only queue in the storage threads, where the
# webhooks' own small insert (the acknowledgement) would wait behind them.
HANDLING_AT_ONCE = 8
# Customers whose share-my-number keyboard is remembered (to take it away once they type past it).
KEYBOARDS_REMEMBERED = 10_000


@dataclass(frozen=True)
class AppMessage:
    """One delivery from an app, normalized: who, what, and the app's id of it."""

    message_id: str
    sender: str
    kind: Kind
    text: str = ""  # the words, or for ``payload`` what the customer saw and chose
    payload: str | None = None  # a button's payload, for the dialogue
    media_id: str | None = None  # the app's id of a voice message, image or file
    media_format: str | None = None  # the format the app names (amr, speex, jpg…)
    choice: int | None = None  # the number of the button the customer tapped (1-based)
    metadata: dict[str, Any] = field(default_factory=dict)
    # ``contact``: the verified number, in memory only; ``accept`` keeps its keyed hash instead,
    # and its last four digits, which answer the order check as typed digits would.
    phone: str | None = None
    phone_hash: str | None = None
    phone_last4: str | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AppMessage:
        return cls(**data)


class AppClient(Protocol):
    """What an app package provides the contract: its API (send, media) and its rendering."""

    channel: str

    def render(self, text: str, payload: dict[str, Any] | None) -> dict[str, Any]:
        """A stored message in the app's native format, as its send API takes it."""

    async def send(self, recipient: str, body: dict[str, Any]) -> str | None:
        """Send one rendered message; the app's id for it when its read receipts name it (kept
        by the outbox), else None. Raise ``Undeliverable`` when the app refuses it for good."""

    async def fetch_media(self, media_id: str, folder: Path, max_bytes: int) -> Path:
        """Download a customer's file into ``folder``; raise ``UploadTooLarge`` past
        ``max_bytes``, ``SendFailed`` when the app does not give it."""


class AppConnector:
    """One app's side of the contract, bound to the conversation service and the outbox."""

    def __init__(
        self,
        client: AppClient,
        conversations: ConversationService,
        outbox: Outbox,
        *,
        default_language: Language,
        media: MediaIntake | None = None,
        recommendations: RecommendService | None = None,
        links: PhoneLinks | None = None,
        acks: AckFirst | None = None,
    ) -> None:
        self.client = client
        self._recommendations = recommendations
        self._links = links
        self._acks = acks  # the hub's webhooks being answered go first (_acks.py)
        self.channel = client.channel
        self._conversations = conversations
        self._outbox = outbox
        self._media = media
        self._default_language = default_language
        self._tasks: set[asyncio.Task[None]] = set()
        # One customer's deliveries are handled, and their replies sent, in order.
        self._inbound_locks = KeyedLocks()
        self._send_locks = KeyedLocks()
        self._handling = asyncio.Semaphore(HANDLING_AT_ONCE)
        # Customers shown the share-my-number keyboard, and those who typed past it (their next
        # reply takes it away). In memory: another replica, or a restart, leaves the keyboard
        # up, which costs nothing but a button.
        self._keyboard_shown: dict[str, None] = {}
        self._keyboard_dismissed: set[str] = set()
        conversations.events.subscribe(self._on_event)

    async def accept(self, message: AppMessage) -> bool:
        """Keep a delivery and start handling it; False when it was delivered before."""
        if message.phone is not None:
            # Minimisation: the number itself is never stored, not even in the delivery log.
            hashed = self._links.phone_hash(message.phone) if self._links is not None else None
            digits = last_four(message.phone) if hashed is not None else None
            message = replace(message, phone=None, phone_hash=hashed, phone_last4=digits)
        inbound_id = await self._outbox.accept_inbound(
            self.channel, message.message_id, message.as_json()
        )
        if inbound_id is None:
            logger.info("Duplicate %s delivery %s acknowledged", self.channel, message.message_id)
            return False
        self._spawn(self._handle(inbound_id, message))
        return True

    async def resume_unhandled(self) -> int:
        """Handle deliveries a stopped hub accepted but never handled; how many."""
        pending: list[PendingInbound] = await self._outbox.unhandled(UNHANDLED_AFTER)
        mine = [p for p in pending if p.channel == self.channel]
        for item in mine:
            await self._handle(item.id, AppMessage.from_json(item.body))
        return len(mine)

    async def deliver_due(self) -> dict[str, int]:
        """Send (or retry) every due outbox message of this app."""
        return await self._outbox.deliver_due({self.channel: self.client.send})

    async def drain(self) -> None:
        """Wait for the deliveries being handled and the sends in flight (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # ---- inbound ------------------------------------------------------------------------

    async def _handle(self, inbound_id: int, message: AppMessage) -> None:
        async with self._inbound_locks.hold(message.sender):
            if self._acks is not None:
                await self._acks.turn()
            async with self._handling:
                await self._handle_in_turn(inbound_id, message)

    async def _handle_in_turn(self, inbound_id: int, message: AppMessage) -> None:
        if message.sender in self._keyboard_shown:
            if message.kind == "text":  # typed instead of tapping: the next reply takes it away
                del self._keyboard_shown[message.sender]
                self._keyboard_dismissed.add(message.sender)
            elif message.kind == "contact" and message.phone_hash is not None:
                del self._keyboard_shown[message.sender]  # tapped: the app hid it
        try:
            if message.kind in ("voice", "image", "file") and message.media_id:
                await self._receive_media(message)
            elif message.kind == "contact":
                await self._link_contact(message)
            elif message.kind == "text" and self._links and self._links.asks_to_link(message.text):
                await self._link_requested(message)
            else:
                chosen = await self._chosen(message)
                feedback = feedback_of(chosen.payload) if chosen.kind == "payload" else None
                if feedback is not None:
                    await self._record_feedback(chosen, *feedback)
                else:
                    await self._conversations.receive(self._inbound(chosen))
        except DialogueUnavailable as exc:
            # The message is stored (marked failed); the customer is told to send it again.
            logger.warning("%s message stored but not answered: %s", self.channel, exc)
            await self._tell(message, "dialogue_unavailable", str(inbound_id))
        except SendFailed as exc:  # the app would not give us the customer's file
            logger.warning("%s file could not be downloaded: %s", self.channel, exc)
            await self._tell(message, "bad_request", str(inbound_id))
        except (MediaError, KeptButUnreadable, UploadTooLarge) as exc:
            reason = status_of(exc)[1]
            logger.info("%s file from a customer not read: %s", self.channel, exc)
            await self._tell(message, reason, str(inbound_id))
        await self._outbox.handled(inbound_id)

    def _inbound(self, message: AppMessage) -> InboundMessage:
        metadata = {**message.metadata, "app_message_id": message.message_id}
        offer = self._phone_offer(message)
        if offer is not None:
            metadata[PHONE_OFFER] = offer  # the order check offers it with its question
        if message.kind == "payload" and message.payload:
            shown = message.text.strip() or message.payload
            return InboundMessage(self.channel, message.sender, shown, metadata, message.payload)
        text = message.text if message.text.strip() else f"[{message.kind}]"
        return InboundMessage(self.channel, message.sender, text, metadata)

    async def _chosen(self, message: AppMessage) -> AppMessage:
        """A tapped menu entry or a bare number answering the last buttons shown: the button's
        payload for the dialogue (apps without buttons show them as numbered choices)."""
        number = message.choice
        if number is None and message.kind == "text" and message.text.strip().isdigit():
            number = int(message.text.strip())
        if number is None or not 1 <= number <= MAX_CHOICES:
            return message
        conversation_id = await self._conversations.find(self.channel, message.sender)
        if conversation_id is None:
            return message
        recent = await self._conversations.history(conversation_id, limit=CHOICE_LOOKBACK)
        for stored in reversed(recent):
            choices = choices_of(stored.payload) if stored.direction == "out" else []
            if not choices:
                continue
            if number > len(choices):
                return message
            choice = choices[number - 1]
            if not choice.payload:
                return message
            return replace(message, kind="payload", text=choice.title, payload=choice.payload)
        return message

    # ---- recommendation feedback and identity links -------------------------------------------

    async def _record_feedback(self, message: AppMessage, kind: FeedbackKind, item_id: str) -> None:
        """A card's "Details" (click) or "Not interested" (dismiss): the same event the widget
        records, then the item's description or an acknowledgement."""
        language = await self._language(message)
        if self._recommendations is None:
            await self._say(message, LINK_REPLIES["no_recommendations"][language])
            return
        key = await self._customer_key(message.sender)
        try:
            await self._recommendations.record_event(
                Event(key, item_id, kind, utcnow(), channel=self.channel)
            )
        except InvalidEvent as exc:
            logger.info("%s recommendation feedback not recorded: %s", self.channel, exc)
            await self._say(message, LINK_REPLIES["unknown_item"][language])
            return
        item = (await self._recommendations.catalogue())[item_id]
        if kind == "click":
            description = item.description_zh if language == "zh" else item.description_en
            text = f"{item.name(language)}: {description or item.name(language)}"
        else:
            text = LINK_REPLIES["dismissed"][language].format(name=item.name(language))
        await self._say(message, text)

    async def _customer_key(self, sender: str) -> str:
        if self._links is not None:
            return await self._links.customer_key(self.channel, sender)
        return customer_key(self.channel, sender)

    async def _link_contact(self, message: AppMessage) -> None:
        """Telegram's shared contact: linked when it was the sender's own number."""
        language = await self._language(message)
        if self._links is None:
            await self._say(message, LINK_REPLIES["unavailable"][language])
        elif message.phone_hash is None:
            await self._say(message, LINK_REPLIES["not_own"][language])
        else:
            asked = await self._digits_asked(message.sender)
            others = await self._links.link(self.channel, message.sender, message.phone_hash)
            await self._say(message, link_reply(others, language))
            if asked and message.phone_last4 is not None:
                await self._answer_digits(message, message.phone_last4)

    async def _link_requested(self, message: AppMessage) -> None:
        """The customer asked to link: the app's directory vouches, or the app asks the
        customer to share their own number; a number typed in text never links."""
        assert self._links is not None
        language = await self._language(message)
        # What an app offers, if anything: Telegram's client a message that asks for the
        # customer's own contact (``phone_request``, None in groups), Feishu's, WeCom's and
        # DingTalk's the mobile from their directory (``verified_phone``).
        ask = getattr(self.client, "phone_request", None)
        lookup = getattr(self.client, "verified_phone", None)
        texts = LINK_REPLIES["share_phone"][language], LINK_REPLIES["share_button"][language]
        body = ask(message, *texts) if ask is not None else None
        if body is not None:
            self._showing_keyboard(message.sender)
            await self.send_direct(message.sender, body, source_id=f"link:{message.message_id}")
            return
        if lookup is None:
            await self._say(message, LINK_REPLIES["cannot_vouch"][language])
            return
        try:
            phone = await lookup(message)
        except SendFailed as exc:
            logger.warning("%s gave no verified phone: %s", self.channel, exc)
            phone = None
        hashed = self._links.phone_hash(phone) if phone is not None else None
        if phone is None or hashed is None:
            await self._say(message, LINK_REPLIES["no_phone"][language])
            return
        asked = await self._digits_asked(message.sender)
        others = await self._links.link(self.channel, message.sender, hashed)
        await self._say(message, link_reply(others, language))
        digits = last_four(phone)
        if asked and digits is not None:
            await self._answer_digits(message, digits)

    def _phone_offer(self, message: AppMessage) -> PhoneOffer | None:
        """How the app can vouch for this customer's number here, if at all (``phone_offer``:
        Telegram's share-my-number in a private chat, a directory app's one-to-one chats)."""
        offer = getattr(self.client, "phone_offer", None)
        if self._links is None or offer is None:
            return None
        found: PhoneOffer | None = offer(message)
        return found

    async def _digits_asked(self, sender: str) -> bool:
        """Whether the bot's latest message is the order check's offer: the customer's vouched
        number then answers the question for the phone's last four digits."""
        conversation_id = await self._conversations.find(self.channel, sender)
        if conversation_id is None:
            return False
        recent = await self._conversations.history(conversation_id, limit=CHOICE_LOOKBACK)
        latest = next((m for m in reversed(recent) if m.direction == "out"), None)
        return latest is not None and offers_phone(latest.payload)

    async def _answer_digits(self, message: AppMessage, digits: str) -> None:
        """Hand the vouched number's last four digits to the dialogue as the answer to the
        order check (validated there as typed digits are); the conversation keeps what the
        customer did (a shared contact, "绑定"), never the digits."""
        inbound = self._inbound(message)
        if message.kind == "contact":
            # Letterless, so the turn keeps the conversation's language ("[contact]" is English).
            inbound = replace(inbound, text=CONTACT_SHOWN)
        await self._conversations.receive(replace(inbound, dialogue_text=digits))

    async def _language(self, message: AppMessage) -> Language:
        """The customer's language: their words, else the conversation's, else the default (a
        tap's text may be its payload, which says nothing of the language)."""
        words = message.text.strip() if message.kind == "text" else ""
        found = detect_language(words) if words else None
        if found is not None:
            return found
        conversation_id = await self._conversations.find(self.channel, message.sender)
        if conversation_id is not None:
            for stored in reversed(await self._conversations.history(conversation_id, limit=3)):
                if stored.language in ("zh", "en"):
                    return stored.language  # type: ignore[return-value]
        return self._default_language

    async def _say(self, message: AppMessage, text: str) -> None:
        """A hub answer to a tap or a link request: in the conversation when there is one (the
        agent sees it), else straight through the outbox."""
        conversation_id = await self._conversations.find(self.channel, message.sender)
        if conversation_id is not None:
            await self._conversations.post(conversation_id, text, author="system")
        else:
            body = self.client.render(text, None)
            await self.send_direct(message.sender, body, source_id=f"say:{message.message_id}")

    async def _receive_media(self, message: AppMessage) -> None:
        assert self._media is not None
        assert message.media_id is not None
        folder = Path(tempfile.mkdtemp(prefix=f"{self.channel}-media-"))
        try:
            path = await self.client.fetch_media(
                message.media_id, folder, self._media.max_upload_bytes
            )
            upload = MediaUpload(
                self.channel,
                message.sender,
                path,
                filename=path.name,
                metadata={**message.metadata, "app_message_id": message.message_id},
            )
            await self._media.receive(upload)
        finally:
            # The intake moved the file into its store or deleted it; this clears the rest.
            await asyncio.to_thread(shutil.rmtree, folder, True)

    async def _tell(self, message: AppMessage, reason: str, key: str) -> None:
        """A hub reply for a message that got none (Rasa down, a file unread), via the outbox."""
        language = detect_language(message.text) or self._default_language
        text = REPLIES.get(reason, REPLIES["bad_request"])[language]
        body = self.client.render(text, None)
        queued = await self._outbox.enqueue(
            self.channel, message.sender, body, source_id=f"notice:{key}"
        )
        if queued is not None:
            self._spawn(self._send_now(queued, message.sender))

    # ---- outbound -----------------------------------------------------------------------

    async def send_direct(self, recipient: str, body: dict[str, Any], *, source_id: str) -> None:
        """Send something that is no conversation message (an app's acknowledgement of a button
        tap) through the outbox, once per ``source_id``."""
        queued = await self._outbox.enqueue(self.channel, recipient, body, source_id=source_id)
        if queued is not None:
            self._spawn(self._send_now(queued, recipient))

    async def _on_event(self, event: ConversationEvent) -> None:
        stored = event.message
        if event.channel == self.channel and event.kind == "notice" and stored is not None:
            await self._send_notice(event, stored)
            return
        if (
            event.channel != self.channel
            or event.kind != "message"
            or stored is None
            or stored.direction != "out"
        ):
            return
        recipient = await self._conversations.sender_of(event.conversation_id)
        body = self._render(stored.text, stored.payload, stored.language)
        removal = getattr(self.client, "keyboard_removed", None)
        if removal is not None and offers_phone(stored.payload) and self._links is not None:
            self._showing_keyboard(recipient)
        elif removal is not None and recipient in self._keyboard_dismissed:
            self._keyboard_dismissed.discard(recipient)
            body = removal(body)
        queued = await self._outbox.enqueue(
            self.channel,
            recipient,
            body,
            source_id=f"message:{stored.id}",
            conversation_id=event.conversation_id,
        )
        if queued is not None:
            self._spawn(self._send_now(queued, recipient))

    async def _send_notice(self, event: ConversationEvent, notice: StoredMessage) -> None:
        """A message stored in no conversation (erased this turn, or the customer's alone): to
        the recipient the event names, through the outbox like any reply (retried, never
        dropped)."""
        recipient = str(event.data["sender"])
        body = self.client.render(notice.text, notice.payload)
        source = f"notice:{event.data['notice_id']}"
        queued = await self._outbox.enqueue(self.channel, recipient, body, source_id=source)
        if queued is not None:
            self._spawn(self._send_now(queued, recipient))

    def _showing_keyboard(self, recipient: str) -> None:
        self._keyboard_shown[recipient] = None
        while len(self._keyboard_shown) > KEYBOARDS_REMEMBERED:  # the oldest go first
            del self._keyboard_shown[next(iter(self._keyboard_shown))]

    def _render(
        self, text: str, payload: dict[str, Any] | None, language: str | None
    ) -> dict[str, Any]:
        """A stored message in the app's format; the order check's offer (a message of its own,
        after the question) as Telegram's share-my-number keyboard or a directory app's hint."""
        if not offers_phone(payload) or self._links is None:
            return self.client.render(text, payload)
        lang = cast(Language, language) if language in ("zh", "en") else self._default_language
        keyboard = getattr(self.client, "contact_request", None)
        if keyboard is not None:
            hint = LINK_REPLIES["share_hint"][lang]
            body: dict[str, Any] = keyboard(hint, LINK_REPLIES["share_button"][lang])
            return body
        app = APP_NAMES.get(self.channel, (self.channel, self.channel))[0 if lang == "zh" else 1]
        hint = LINK_REPLIES["directory_hint"][lang].format(app=app)
        return self.client.render(f"{text}\n{hint}" if text else hint, None)

    async def _send_now(self, outbox_id: int, recipient: str) -> None:
        async with self._send_locks.hold(recipient):
            await self._outbox.deliver(outbox_id, {self.channel: self.client.send})

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("%s background work failed", self.channel, exc_info=task.exception())


class KeyedLocks:
    """One lock per key, dropped when nobody holds or waits for it (no growth).

    Counted by hand: ``asyncio.Lock.locked()`` is already False between a release and the
    woken waiter taking the lock, so dropping the entry on ``not locked()`` let a newcomer
    make a second lock for the same key and overtake the waiters.
    """

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    def __len__(self) -> int:
        return len(self._locks)

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)
