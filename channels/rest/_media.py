"""``POST /api/media``: a voice message or image from a REST client, and reading kept originals."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.params import Depends as DependsParam
from fastapi.responses import FileResponse, JSONResponse

from bot.language import Language
from bot.media import (
    AttachmentNotFound,
    MediaIntake,
    MediaUpload,
    StoredAttachment,
    UploadRejected,
    discard,
)
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


def build_media_router(
    intake: MediaIntake,
    default_language: Language,
    limiter: RateLimiter,
    *,
    api_key_set: bool,
    guards: Sequence[DependsParam] = (),
) -> APIRouter:
    """``POST /api/media`` and reading kept originals over the API (only behind an API key)."""
    api = APIRouter(tags=["media"], dependencies=list(guards))

    @api.post("/api/media")
    async def post_media(request: Request) -> JSONResponse:
        """A voice message or image from a customer (multipart: ``sender``, ``file``)."""
        language = default_language
        address = client_address(request)
        try:
            await limiter.upload_allowed(address)
            form = await read_upload(request, intake)
            language = form.language() or default_language
            form.check_size()
            sender = form.fields.get("sender", "").strip()
            if not sender or len(sender) > 128:
                discard(form.path)
                raise UploadRejected("the form needs a field 'sender' of 1 to 128 characters")
            try:
                await limiter.upload(address, f"rest:{sender}", form.path.stat().st_size)
            except RateLimited:
                discard(form.path)
                raise
            result = await intake.receive(
                MediaUpload(
                    "rest",
                    sender,
                    form.path,
                    form.filename,
                    form.content_type,
                    form.language(),
                )
            )
        except RateLimited as exc:
            return rate_limited_response(exc, language)
        except INTAKE_ERRORS as exc:
            return error_response(exc, language)
        return JSONResponse(turn_json(result))

    def reading_allowed() -> None:
        # Kept files and their text hold personal data: without an API key (which lets anyone
        # post messages) they are only for agents in the console.
        if not api_key_set:
            raise HTTPException(
                status_code=403,
                detail="set BOT_API_KEY to read kept media over the API; "
                "agents open it in the console at /console/media/{id}",
            )

    @api.get("/api/media", dependencies=[Depends(reading_allowed)])
    async def list_media(channel: str, sender: str) -> dict[str, Any]:
        """Every attachment a customer sent on a channel."""
        kept = await intake.store.of_sender(channel, sender)
        return {"attachments": [a.as_json() for a in kept]}

    @api.get("/api/media/{attachment_id}", dependencies=[Depends(reading_allowed)])
    async def get_media(attachment_id: str) -> FileResponse:
        return attachment_file(await _found(intake, attachment_id))

    return api


async def _found(intake: MediaIntake, attachment_id: str) -> StoredAttachment:
    try:
        return await intake.store.get(attachment_id)
    except AttachmentNotFound as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
