"""The web-chat channel: socket.io namespace ``/`` speaking the Rasa web-chat protocol.

Every message to a customer (the bot's, an agent's, the hub's notices) is stored first, then
emitted to the room of the customer's session, whichever of its sockets are connected. A client
that comes back with a known session id gets what it missed: our widget says which message it
saw last (``last_message_id``) and gets the history after it; other widgets get the messages
after the last one emitted while a socket of the session was connected.

A widget the shop's site rendered for a logged-in customer connects with ``auth: {customer_id,
customer_hash}``; when the hash checks out (``CustomerIdentity``) the socket speaks for that
customer: sender ``customer:<id>``, one conversation and room for every browser of theirs.
Otherwise it stays anonymous and the ``identity`` event after ``session_confirm`` says why.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import socketio

from bot.conversations import (
    ConversationBusy,
    ConversationEvent,
    ConversationService,
    InboundMessage,
    MessageRejected,
    MessageTooLong,
    customer_key,
    identified_sender,
)
from bot.dialogue import DialogueUnavailable
from bot.language import Language
from bot.recommend import Event, InvalidEvent, RecommendService
from bot.storage import utcnow
from channels.connector import MINUTE, Quota, RateLimited, RateLimiter, socket_client_address
from channels.webchat._identity import (
    CustomerIdentity,
    IdentityRefused,
    identity_outcome,
)
from channels.webchat._protocol import (
    SESSION_ID,
    bot_uttered,
    custom_data,
    error_utterance,
    history_item,
    language_of,
)
from channels.webchat._sessions import WebchatSessions

logger = logging.getLogger(__name__)

CHANNEL = "webchat"
NAMESPACE = "/"
HISTORY_LIMIT = 200
SENDER_CACHE_SIZE = 10_000
# What a recommendation card's buttons report: "Details" is a click, "Not interested" a dismiss.
FEEDBACK_KINDS = ("click", "dismiss")
# Devices the widget names (from the screen width); anything else is refused, not stored.
DEVICES = ("desktop", "mobile")
MAX_ITEM_ID_CHARS = 128
# Sockets presenting a customer id, a minute from one address: a page loads the widget once, so
# more is a script trying ids (a guessed HMAC never matches, but it costs a check and a log line).
IDENTITY_ATTEMPTS = Quota(60, MINUTE, "identified web-chat connections a minute from one address")


def session_room(sender: str) -> str:
    """The room of every socket of one customer's session."""
    return f"webchat:{sender}"


class WebchatNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    """Rasa web-chat protocol over socket.io, backed by the conversation service."""

    def __init__(
        self,
        conversations: ConversationService,
        sessions: WebchatSessions,
        default_language: Language,
        limiter: RateLimiter,
        recommendations: RecommendService | None = None,
        identity: CustomerIdentity | None = None,
    ) -> None:
        super().__init__(NAMESPACE)
        self._identity = identity or CustomerIdentity(None)
        self._limiter = limiter
        self._recommendations = recommendations
        self._conversations = conversations
        self._sessions = sessions
        self._default_language = default_language
        self._senders: dict[str, str] = {}  # conversation id -> sender, for routing events
        conversations.events.subscribe(self._on_conversation_event)

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
        # The client's address, for the per-address message limit.
        address = socket_client_address(environ)
        session: dict[str, Any] = {"address": address}
        if self._identity.claimed(auth):
            customer, refused = await self._verify(address, auth)
            session["identity"] = identity_outcome(customer, refused)
            if customer is not None:
                session["customer"] = customer
        await self.save_session(sid, session)
        return True

    async def _verify(
        self, address: str | None, auth: Any
    ) -> tuple[str | None, IdentityRefused | None]:
        """The customer a connecting widget names, checked; or why it stays anonymous."""
        try:
            await self._limiter.check((IDENTITY_ATTEMPTS, address))
            return self._identity.verify(auth), None
        except RateLimited as exc:
            refused = IdentityRefused("rate_limited", str(exc))
        except IdentityRefused as exc:
            refused = exc
        # Neither the id nor the hash: the log says only that, and why.
        logger.warning("A web-chat customer id was refused (%s)", refused.reason)
        return None, refused

    async def on_session_request(self, sid: str, data: Any) -> None:
        """Confirm (or make up) the session id, join its room, say whether the customer is
        identified, and send what was missed."""
        request = data if isinstance(data, dict) else {}
        given = request.get("session_id")
        session_id = given if isinstance(given, str) and SESSION_ID.match(given) else None
        # An identified customer's session ids are the hub's own (random): a given one is kept
        # only if it already stands for this customer.
        joined = await self._join(sid, session_id, create=False) if session_id else None
        if joined is None and session_id and not await self._identified(sid):
            joined = await self._join(sid, session_id)
        if joined is None:  # none given, or it stands for someone else
            session_id = uuid.uuid4().hex
            joined = await self._join(sid, session_id)
        assert joined is not None, "a new random session id is nobody's yet"
        sender, delivered_id = joined
        # Rasa's own channel confirms with the bare id; rasa-webchat accepts both forms.
        await self.emit("session_confirm", session_id, to=sid)
        identity = (await self.get_session(sid)).get("identity")
        if identity is not None:
            await self.emit("identity", identity, to=sid)
        last_seen = request.get("last_message_id")
        if isinstance(last_seen, int) and not isinstance(last_seen, bool) and last_seen >= 0:
            await self._send_history(sid, sender, last_seen)
        else:
            await self._send_missed(sid, sender, delivered_id)

    async def on_user_uttered(self, sid: str, data: Any) -> dict[str, Any]:
        """A customer message; the replies arrive as ``bot_uttered`` events."""
        request = data if isinstance(data, dict) else {}
        custom = custom_data(request.get("customData"))
        message = request.get("message")
        text = message if isinstance(message, str) else ""
        language = language_of(text, custom, self._default_language)
        sender = await self._sender(sid, request.get("session_id"))
        if sender is None:
            await self.emit("bot_uttered", error_utterance("no_session", language, ""), to=sid)
            return {"ok": False, "error": "send session_request with a session_id first"}
        session = await self.get_session(sid)
        try:
            await self._limiter.message(session.get("address"), f"{CHANNEL}:{sender}")
        except RateLimited as exc:
            refusal = error_utterance("rate_limited", language, str(exc))
            refusal["error"]["retry_after"] = exc.retry_after_s
            await self.emit("bot_uttered", refusal, to=sid)
            return {"ok": False, "error": str(exc), "retry_after": exc.retry_after_s}
        shown = request.get("display_text")
        client_id = request.get("client_message_id")
        metadata = dict(custom)
        if isinstance(client_id, str) and len(client_id) <= 64:
            metadata["client_message_id"] = client_id
        inbound = (
            # A quick reply: store what the customer saw and chose, give Rasa its payload.
            InboundMessage(CHANNEL, sender, shown, metadata, dialogue_text=text)
            if text.startswith("/") and isinstance(shown, str) and shown.strip()
            else InboundMessage(CHANNEL, sender, text, metadata)
        )
        try:
            turn = await self._conversations.receive(inbound)
        except MessageRejected as exc:
            reason = "too_long" if isinstance(exc, MessageTooLong) else "empty"
            await self.emit("bot_uttered", error_utterance(reason, language, str(exc)), to=sid)
            return {"ok": False, "error": str(exc)}
        except ConversationBusy as exc:
            logger.warning("Web-chat message not taken, its conversation is busy: %s", exc)
            await self.emit(
                "bot_uttered", error_utterance("unavailable", language, str(exc)), to=sid
            )
            return {"ok": False, "error": str(exc)}
        except DialogueUnavailable as exc:
            logger.warning("Web-chat message stored but not answered: %s", exc)
            await self.emit(
                "bot_uttered", error_utterance("unavailable", language, str(exc)), to=sid
            )
            return {"ok": False, "error": str(exc)}
        self._senders[turn.conversation_id] = sender
        return {"ok": True, "conversation_id": turn.conversation_id, "mode": turn.mode}

    async def on_recommendation_feedback(self, sid: str, data: Any) -> dict[str, Any]:
        """A recommendation card's "Details" (``click``) or "Not interested" (``dismiss``),
        recorded as the session's customer's event (``webchat:<sender>``, as the dialogue keys
        them). The acknowledgement says ``ok`` or what is wrong; a refused one stores nothing."""
        request = data if isinstance(data, dict) else {}
        sender = await self._sender(sid, request.get("session_id"))
        if sender is None:
            return {"ok": False, "error": "send session_request with a session_id first"}
        if self._recommendations is None:
            return {"ok": False, "error": "recommendations are not served by this hub"}
        kind, item_id, device = request.get("event"), request.get("item_id"), request.get("device")
        if kind not in FEEDBACK_KINDS:
            return {"ok": False, "error": f"event must be one of {', '.join(FEEDBACK_KINDS)}"}
        if not isinstance(item_id, str) or not 0 < len(item_id) <= MAX_ITEM_ID_CHARS:
            return {
                "ok": False,
                "error": f"item_id must be a text of 1 to {MAX_ITEM_ID_CHARS} characters",
            }
        if device is not None and device not in DEVICES:
            return {"ok": False, "error": f"device must be one of {', '.join(DEVICES)} or absent"}
        session = await self.get_session(sid)
        try:
            # Counted as web-chat traffic: a flood of clicks is refused like a flood of messages.
            await self._limiter.message(session.get("address"), f"{CHANNEL}:{sender}")
        except RateLimited as exc:
            return {"ok": False, "error": str(exc), "retry_after": exc.retry_after_s}
        event = Event(
            customer_key(CHANNEL, sender), item_id, kind, utcnow(), channel=CHANNEL, device=device
        )
        try:
            await self._recommendations.record_event(event)
        except InvalidEvent as exc:
            return {"ok": False, "error": str(exc)}
        return {"ok": True}

    async def on_user_typing(self, sid: str, data: Any) -> None:
        """The customer is typing: tell an agent who holds the conversation."""
        session = await self.get_session(sid)
        sender = session.get("sender")
        if not sender:
            return
        conversation_id = await self._conversations.find(CHANNEL, sender)
        if conversation_id is not None:
            await self._conversations.events.publish(
                ConversationEvent("typing", conversation_id, CHANNEL, data={"who": "customer"})
            )

    async def media_read(self, channel: str, sender: str, read: dict[str, Any]) -> None:
        """Show the customer what was heard or read in their file, before the bot answers."""
        if channel == CHANNEL:
            await self.emit("media_read", read, room=session_room(sender))

    async def _identified(self, sid: str) -> bool:
        return bool((await self.get_session(sid)).get("customer"))

    async def _join(
        self, sid: str, session_id: str, *, create: bool = True
    ) -> tuple[str, int] | None:
        """Join the session's room as its sender: the socket's verified customer, else the
        session id. None when the session id stands for another sender (or is new and
        ``create`` is false)."""
        session = await self.get_session(sid)
        customer = session.get("customer")
        wanted = identified_sender(CHANNEL, customer) if customer else None
        opened = await self._sessions.open(session_id, wanted, create=create)
        if opened is None:
            return None
        sender, delivered_id = opened
        previous = session.get("sender")
        if previous and previous != sender:
            await self.leave_room(sid, session_room(previous))
        await self.save_session(sid, {**session, "session_id": session_id, "sender": sender})
        await self.enter_room(sid, session_room(sender))
        return sender, delivered_id

    async def _sender(self, sid: str, session_id: Any) -> str | None:
        """The sender of the socket's session, or of the session id the message names."""
        session = await self.get_session(sid)
        if isinstance(session_id, str) and session_id != session.get("session_id"):
            if not SESSION_ID.match(session_id):
                return None
            # An identified customer's sessions are the hub's: it names no new one of its own.
            joined = await self._join(sid, session_id, create=not session.get("customer"))
            return joined[0] if joined is not None else None
        sender = session.get("sender")
        return str(sender) if sender else None

    async def _send_history(self, sid: str, sender: str, after_id: int) -> None:
        conversation_id = await self._conversations.find(CHANNEL, sender)
        messages = (
            await self._conversations.history(
                conversation_id, after_id=after_id, limit=HISTORY_LIMIT
            )
            if conversation_id
            else []
        )
        outbound = [m.id for m in messages if m.direction == "out"]
        if outbound:  # the cursor moves first, so a socket opening meanwhile does not get them too
            await self._sessions.delivered(sender, max(outbound))
        await self.emit("history", {"messages": [history_item(m) for m in messages]}, to=sid)

    async def _send_missed(self, sid: str, sender: str, delivered_id: int) -> None:
        conversation_id = await self._conversations.find(CHANNEL, sender)
        if conversation_id is None:
            return
        messages = await self._conversations.history(
            conversation_id, after_id=delivered_id, limit=HISTORY_LIMIT
        )
        missed = [m for m in messages if m.direction == "out"]
        if missed:  # the cursor moves first, so a socket opening meanwhile does not get them too
            await self._sessions.delivered(sender, missed[-1].id)
        for message in missed:
            await self.emit("bot_uttered", bot_uttered(message), to=sid)

    async def _on_conversation_event(self, event: ConversationEvent) -> None:
        if event.channel != CHANNEL:
            return
        if event.kind == "notice" and event.message is not None:
            # Stored nowhere (the conversation is gone, or the message is the customer's alone):
            # the event names the session.
            self._senders.pop(event.conversation_id, None)
            notice = bot_uttered(event.message)
            del notice["message_id"]  # stored nowhere: no id for the widget to ask after
            await self.emit("bot_uttered", notice, room=session_room(event.data["sender"]))
            return
        sender = self._senders.get(event.conversation_id)
        if sender is None:
            sender = await self._conversations.sender_of(event.conversation_id)
            if len(self._senders) >= SENDER_CACHE_SIZE:
                self._senders.clear()  # a cache: the database has them all
            self._senders[event.conversation_id] = sender
        room = session_room(sender)
        message = event.message
        if event.kind == "message" and message is not None and message.direction == "out":
            if self._connected(room):
                await self._sessions.delivered(sender, message.id)
            await self.emit("bot_uttered", bot_uttered(message), room=room)
        elif event.kind == "typing" and event.data.get("who") == "agent":
            await self.emit("typing", {"who": "agent", "name": event.data.get("name")}, room=room)
        elif event.kind == "mode":
            await self.emit("mode", {"mode": event.data.get("mode")}, room=room)

    def _connected(self, room: str) -> bool:
        return any(True for _ in self.server.manager.get_participants(NAMESPACE, room))
