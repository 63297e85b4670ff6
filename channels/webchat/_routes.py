"""The web chat's HTTP side: file uploads from the widget, and the cross-origin rules for it.

The widget proves which session it speaks for with the session id (a random token) it got over
socket.io, so uploads need neither the API key nor cookies.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.language import Language
from bot.media import AttachmentNotFound, MediaIntake, MediaUpload, UploadRejected, discard
from channels.connector import (
    INTAKE_ERRORS,
    RateLimited,
    RateLimiter,
    attachment_file,
    client_address,
    error_response,
    rate_limited_response,
    read_upload,
    turn_json,
)
from channels.webchat._namespace import CHANNEL
from channels.webchat._protocol import SESSION_ID
from channels.webchat._sessions import WebchatSessions

PREFIX = "/webchat/"


def build_router(
    intake: MediaIntake,
    sessions: WebchatSessions,
    default_language: Language,
    limiter: RateLimiter,
) -> APIRouter:
    """``POST /webchat/upload`` and ``GET /webchat/media/{id}`` for the widget."""
    router = APIRouter(prefix="/webchat", tags=["webchat"])

    @router.post("/upload")
    async def upload(request: Request) -> JSONResponse:
        """A voice message or image (multipart: ``session_id``, ``file``, ``language``)."""
        language = default_language
        address = client_address(request)
        try:
            await limiter.upload_allowed(address)
            form = await read_upload(request, intake)
            language = form.language() or default_language
            form.check_size()
            sender = await _session_sender(sessions, form.fields.get("session_id"))
            if sender is None:
                discard(form.path)
                raise UploadRejected(
                    "unknown session_id; open the chat first (socket.io session_request)"
                )
            try:
                await limiter.upload(address, f"{CHANNEL}:{sender}", form.path.stat().st_size)
            except RateLimited:
                discard(form.path)
                raise
            client_id = form.fields.get("client_message_id", "")[:64]
            metadata: dict[str, Any] = {"client_message_id": client_id} if client_id else {}
            result = await intake.receive(
                MediaUpload(
                    CHANNEL,
                    sender,
                    form.path,
                    form.filename,
                    form.content_type,
                    form.language(),
                    metadata,
                )
            )
        except RateLimited as exc:
            return rate_limited_response(exc, language)
        except INTAKE_ERRORS as exc:
            return error_response(exc, language)
        return JSONResponse(turn_json(result))

    @router.get("/media/{attachment_id}")
    async def media(attachment_id: str, session_id: str) -> FileResponse:
        """A file the session's customer sent, for the widget's history."""
        sender = await _session_sender(sessions, session_id)
        try:
            attachment = await intake.store.get(attachment_id)
        except AttachmentNotFound as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from exc
        if sender is None or (attachment.channel, attachment.sender) != (CHANNEL, sender):
            raise HTTPException(status_code=404, detail=f"no attachment {attachment_id}")
        return attachment_file(attachment)

    return router


async def _session_sender(sessions: WebchatSessions, session_id: str | None) -> str | None:
    if not session_id or not SESSION_ID.match(session_id):
        return None
    return await sessions.sender_of(session_id)


class WebchatCORS:
    """CORS for the widget's HTTP calls (``/webchat/*``) from the sites allowed to embed it.

    Only these paths: the rest of the hub (console, API) stays same-origin.
    """

    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        self._app = app
        self._cors = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_methods=["GET", "POST"],
            allow_headers=["*"],
            allow_credentials=False,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope.get("path", "")).startswith(PREFIX):
            await self._cors(scope, receive, send)
        else:
            await self._app(scope, receive, send)


def allowed_origins(setting: str | None) -> list[str]:
    """The origins of ``BOT_WEBCHAT_ORIGINS``, without trailing slashes."""
    return [o.strip().rstrip("/") for o in (setting or "").split(",") if o.strip()]
