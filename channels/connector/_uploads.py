"""Uploads of voice messages and images, as every channel that takes them reads and answers them.

Every refusal answers ``{"detail": "<what is wrong>", "reason": "<code>", "reply": "<what to tell
the customer, in their language>"}`` (and ``attachment_id`` when the original was kept).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse
from starlette.datastructures import UploadFile

from bot.conversations import MessageRejected
from bot.dialogue import DialogueUnavailable
from bot.language import LANGUAGES, Language
from bot.media import (
    KeptButUnreadable,
    MediaIntake,
    MediaTurn,
    StoredAttachment,
    UploadRejected,
    UploadTooLarge,
    copy_into,
    discard,
)
from channels.connector._errors import status_of
from channels.media import (
    AudioTooLong,
    CorruptMedia,
    EmptyMedia,
    EngineUnavailable,
    MislabelledMedia,
    NoTextFound,
    SilentAudio,
    UnsupportedMedia,
)

logger = logging.getLogger(__name__)

REPLIES: dict[str, dict[str, str]] = {
    "too_large": {
        "zh": "文件太大了，请发送小一些的图片或短一些的语音。",
        "en": "That file is too large. Please send a smaller image or a shorter voice message.",
    },
    "empty": {
        "zh": "文件是空的，请重新录音或重新选择文件。",
        "en": "The file is empty. Please record again or choose the file again.",
    },
    "unsupported": {
        "zh": "暂不支持这种文件。请发送语音（wav、mp3、m4a、ogg、webm、amr）"
        "或图片（png、jpg、webp）。",
        "en": "This kind of file is not supported. Please send a voice message "
        "(wav, mp3, m4a, ogg, webm, amr) or an image (png, jpg, webp).",
    },
    "mislabelled": {
        "zh": "文件的类型和内容不一致，请发送原始文件。",
        "en": "The file's type does not match its content. Please send the original file.",
    },
    "corrupt": {
        "zh": "文件已损坏，无法打开，请重新发送。",
        "en": "The file is damaged and cannot be opened. Please send it again.",
    },
    "too_long": {
        "zh": "语音太长了，请分段发送，或直接输入文字。",
        "en": "The voice message is too long. Please send a shorter one or type your question.",
    },
    "silent": {
        "zh": "没有听清您说的话，请靠近麦克风再说一次，或直接输入文字。",
        "en": "I could not hear any words. Please speak closer to the microphone or type.",
    },
    "no_text": {
        "zh": "图片里没有识别到文字。查询订单请发送订单页面截图，或直接输入订单号。",
        "en": "I could not read any text in the image. To check an order, send a screenshot "
        "of the order page or type the order number.",
    },
    "unavailable": {
        "zh": "语音和图片识别暂时不可用，请直接输入文字。",
        "en": "Voice and image recognition is unavailable right now. Please type your question.",
    },
    "dialogue_unavailable": {
        "zh": "助手暂时无法回复，您的消息已保存，请稍后再发一次。",
        "en": "The assistant cannot answer right now. Your message was saved; "
        "please send it again in a moment.",
    },
    "bad_request": {
        "zh": "这个文件没能发送成功，请重试。",
        "en": "The file could not be sent. Please try again.",
    },
}


def error_response(exc: Exception, language: Language) -> JSONResponse:
    """The status and body for an intake error, with a reply for the customer."""
    cause = exc.cause if isinstance(exc, KeptButUnreadable) else exc
    status, reason = status_of(exc)
    if reason not in REPLIES:
        status, reason = 422, "bad_request"
    body: dict[str, Any] = {
        "detail": str(cause),
        "reason": reason,
        "reply": REPLIES[reason][language],
    }
    if isinstance(exc, KeptButUnreadable):
        body["attachment_id"] = exc.attachment_id
    headers = {"Retry-After": "5"} if status == 503 else None
    return JSONResponse(status_code=status, content=body, headers=headers)


INTAKE_ERRORS = (
    UploadRejected,
    KeptButUnreadable,
    EmptyMedia,
    UnsupportedMedia,
    MislabelledMedia,
    CorruptMedia,
    AudioTooLong,
    SilentAudio,
    NoTextFound,
    EngineUnavailable,
    DialogueUnavailable,
    MessageRejected,
)


@dataclass(frozen=True)
class UploadForm:
    """A parsed multipart upload: the file on disk and the other fields."""

    path: Path
    filename: str | None
    content_type: str | None
    fields: dict[str, str]
    too_large_for: int | None = None  # the limit the file exceeded (then it was not kept)

    def check_size(self) -> None:
        """Raise ``UploadTooLarge`` when the file was over the limit."""
        if self.too_large_for is not None:
            limit = self.too_large_for
            raise UploadTooLarge(
                f"the file is larger than the limit of {limit} bytes "
                f"({limit / 1024 / 1024:.1f} MB); send a smaller image or a shorter recording"
            )

    def language(self) -> Language | None:
        """The optional ``language`` field, when it is "zh" or "en"."""
        given = self.fields.get("language", "").strip().lower()
        return given if given in LANGUAGES else None


async def read_upload(request: Request, intake: MediaIntake) -> UploadForm:
    """The multipart body's ``file`` on disk, size-checked, and its text fields."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise UploadRejected(
            "send the file as multipart/form-data with the file in a field named 'file'"
        )
    limit = intake.max_upload_bytes
    async with request.form(max_files=1, max_fields=16) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise UploadRejected("the form has no file; put it in a field named 'file'")
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        target = intake.store.incoming()
        size = await asyncio.to_thread(copy_into, upload.file, target, limit)
        too_large = limit if size > limit else None
        if too_large:
            discard(target)
        return UploadForm(target, upload.filename, upload.content_type, fields, too_large)


def turn_json(result: MediaTurn) -> dict[str, Any]:
    """The answer to a successful upload."""
    turn = result.turn
    return {
        "attachment": result.attachment.as_json(),
        "read": {
            "text": result.text,
            "language": result.language,
            "facts": result.facts.as_json() if result.facts else None,
        },
        "conversation_id": turn.conversation_id,
        "replies": [reply.model_dump() for reply in turn.replies],
        "language": turn.language,
        "mode": turn.mode,
    }


def attachment_file(attachment: StoredAttachment) -> FileResponse:
    """The kept original, served with its sniffed type and never as a page."""
    if attachment.path is None or not attachment.path.is_file():
        raise HTTPException(
            status_code=410, detail="the original was deleted after its retention period"
        )
    return FileResponse(
        attachment.path,
        media_type=attachment.mime,
        headers={
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, max-age=3600",
        },
    )


# A multipart body carries the file plus its boundaries and the other fields.
MULTIPART_OVERHEAD = 64 * 1024
UPLOAD_PATHS = ("/api/media", "/webchat/upload")


def upload_limits(max_upload_bytes: int) -> dict[str, int]:
    """The request-body limits the hub must allow on the upload paths."""
    return {path: max_upload_bytes + MULTIPART_OVERHEAD for path in UPLOAD_PATHS}
