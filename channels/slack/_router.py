"""``/channels/slack/events`` (Events API) and ``/channels/slack/interactivity`` (button taps).

Every request is checked with slack-sdk's ``SignatureVerifier`` (the signing secret over
``v0:timestamp:body``, and a timestamp within Slack's 5 minutes) before its body is parsed; a
refused one leaves nothing stored. Slack retries an event it got no 2xx for within 3 s
(``X-Slack-Retry-Num``): the event id de-duplicates, and the answer is immediate anyway.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from slack_sdk.signature import SignatureVerifier

from channels.connector import AppConnector, AppMessage, Kind, id_at, text_at

logger = logging.getLogger(__name__)

EVENTS = "/channels/slack/events"
INTERACTIVITY = "/channels/slack/interactivity"


def build_router(connector: AppConnector, *, verifier: SignatureVerifier) -> APIRouter:
    """The Events API and interactivity routes of one Slack app."""
    router = APIRouter(tags=["slack"])

    async def verified_body(request: Request) -> bytes:
        body = await request.body()
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature")
        if not timestamp.isdigit() or not verifier.is_valid(body, timestamp, signature):
            logger.warning("Slack request refused: wrong signature or stale timestamp")
            raise HTTPException(
                401, "X-Slack-Signature does not match, or the timestamp is over 5 minutes off"
            )
        return body

    @router.post(EVENTS)
    async def events(request: Request) -> Response:
        body = await verified_body(request)
        try:
            envelope = json.loads(body)
        except ValueError as exc:
            raise HTTPException(400, "the event is not JSON") from exc
        if not isinstance(envelope, dict):
            raise HTTPException(400, "the event is not a JSON object")
        if envelope.get("type") == "url_verification":
            return JSONResponse({"challenge": str(envelope.get("challenge", ""))})
        message = normalize_event(envelope)
        if message is not None:
            await connector.accept(message)
        return Response(status_code=200)

    @router.post(INTERACTIVITY)
    async def interactivity(request: Request) -> Response:
        body = await verified_body(request)
        try:
            payload = json.loads(parse_qs(body.decode())["payload"][0])
        except (KeyError, ValueError, UnicodeDecodeError) as exc:
            raise HTTPException(400, "the request has no JSON payload field") from exc
        message = normalize_action(payload) if isinstance(payload, dict) else None
        if message is not None:
            await connector.accept(message)
        return Response(status_code=200)

    return router


def normalize_event(envelope: dict[str, Any]) -> AppMessage | None:
    """A customer's direct message, or a mention of the bot in a channel; None otherwise (the
    bot's own messages, edits, joins, channel chatter without a mention)."""
    event = envelope.get("event")
    event_id = id_at(envelope, "event_id")
    if envelope.get("type") != "event_callback" or not isinstance(event, dict) or not event_id:
        return None
    if event.get("bot_id") or event.get("subtype") not in (None, "file_share"):
        return None  # the bot's own messages, edits, deletions, joins
    channel, user = id_at(event, "channel"), id_at(event, "user")
    text = text_at(event, "text")
    if not channel or not user:
        return None
    kind = event.get("type")
    if kind == "message" and event.get("channel_type") != "im":
        return None  # channel chatter: the bot answers channels only when mentioned
    if kind == "app_mention":
        text = " ".join(word for word in text.split() if not word.startswith("<@")).strip()
    elif kind != "message":
        return None
    metadata = {"slack": {"user": user, "team": id_at(envelope, "team_id")}}
    shared = shared_file(event)
    if shared is not None:
        file_kind, file_id = shared
        return AppMessage(
            event_id, channel, file_kind, text=text, media_id=file_id, metadata=metadata
        )
    if not text:
        return None
    return AppMessage(event_id, channel, "text", text=text, metadata=metadata)


def shared_file(event: dict[str, Any]) -> tuple[Kind, str] | None:
    """The first file a message shares, as (voice | image | file, its Slack id)."""
    files = event.get("files")
    if not isinstance(files, list) or not files or not isinstance(files[0], dict):
        return None
    first = files[0]
    file_id = first.get("id")
    if not isinstance(file_id, str) or not file_id:
        return None
    mimetype = str(first.get("mimetype") or "")
    if mimetype.startswith("image/"):
        return "image", file_id
    if mimetype.startswith("audio/") or first.get("subtype") == "slack_audio":
        return "voice", file_id
    return "file", file_id


def normalize_action(payload: dict[str, Any]) -> AppMessage | None:
    """A Block Kit button tap as the button's payload."""
    if payload.get("type") != "block_actions":
        return None
    actions = payload.get("actions")
    channel, user = id_at(payload, "channel", "id"), id_at(payload, "user", "id")
    if not isinstance(actions, list) or not actions or not channel:
        return None
    action = actions[0]
    value = text_at(action, "value")
    title = text_at(action, "text", "text") or value
    tap = id_at(payload, "trigger_id") or id_at(action, "action_ts")
    if not value or not tap:
        return None
    # One tap is one message, however often Slack delivers it.
    key = f"action:{tap}"
    metadata = {"slack": {"user": user}}
    return AppMessage(key, channel, "payload", text=title, payload=value, metadata=metadata)
