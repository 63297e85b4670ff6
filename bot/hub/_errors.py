"""Maps errors to HTTP responses, in one place; every error body is ``{"detail": "<why>"}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from bot.conversations import (
    ConversationNotFound,
    EmptyMessage,
    MessageRejected,
    MessageTooLong,
)
from bot.dialogue import DialogueUnavailable
from bot.handoff import (
    AgentExists,
    InvalidCredentials,
    InvalidRequest,
    InvalidTransition,
    NotAllowed,
    NotFound,
)

logger = logging.getLogger(__name__)

RETRY_AFTER_S = "5"


def _describe(error: dict[str, Any]) -> str:
    """One validation error as a sentence a client developer can act on."""
    location = [str(part) for part in error.get("loc", ()) if part != "body"]
    kind = error.get("type", "")
    if kind == "json_invalid":
        reason = error.get("ctx", {}).get("error", "")
        return f"the request body is not valid JSON ({reason})".replace(" ()", "")
    if kind == "missing" and not location:
        return 'the request body is missing; send JSON like {"sender": "...", "text": "..."}'
    if kind == "model_attributes_type" and not location:
        return "the request body must be a JSON object"
    if kind == "extra_forbidden":
        return f"unknown field '{'.'.join(location)}'"
    where = ".".join(location) or "body"
    message = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
    return f"{where}: {message}"


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    content_type = request.headers.get("content-type", "")
    if content_type and "json" not in content_type.split(";")[0]:
        return JSONResponse(
            status_code=415,
            content={
                "detail": "send the body as JSON with the header 'Content-Type: application/json'"
            },
        )
    messages = [_describe(dict(e)) for e in exc.errors()]
    return JSONResponse(status_code=422, content={"detail": "; ".join(messages)})


async def _message_rejected(_request: Request, exc: Exception) -> JSONResponse:
    status = 413 if isinstance(exc, MessageTooLong) else 422
    assert isinstance(exc, (EmptyMessage, MessageRejected))
    return JSONResponse(status_code=status, content={"detail": str(exc)})


async def _dialogue_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    logger.warning("Dialogue engine unavailable: %s", exc)
    return JSONResponse(
        status_code=503,
        headers={"Retry-After": RETRY_AFTER_S},
        content={
            "detail": f"The assistant is temporarily unavailable ({exc}). "
            "Your message was saved; please send it again in a few seconds."
        },
    )


# FastAPI's own words when the body cannot even be decoded (e.g. it is not UTF-8).
_UNDECODABLE_BODY = "There was an error parsing the body"


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.detail == _UNDECODABLE_BODY:
        return JSONResponse(
            status_code=422,
            content={"detail": "the request body is not valid JSON (it must be UTF-8 text)"},
        )
    return await http_exception_handler(request, exc)


_HANDOFF_STATUS: dict[type[Exception], int] = {
    InvalidCredentials: 401,
    NotAllowed: 403,
    NotFound: 404,
    ConversationNotFound: 404,
    InvalidTransition: 409,
    AgentExists: 409,
    InvalidRequest: 422,
}


async def _handoff_error(_request: Request, exc: Exception) -> JSONResponse:
    status = next(code for kind, code in _HANDOFF_STATUS.items() if isinstance(exc, kind))
    return JSONResponse(status_code=status, content={"detail": str(exc)})


def install_error_handlers(app: FastAPI) -> None:
    """Register the mapping of public exceptions to status codes."""
    for kind in _HANDOFF_STATUS:
        app.add_exception_handler(kind, _handoff_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(MessageRejected, _message_rejected)
    app.add_exception_handler(DialogueUnavailable, _dialogue_unavailable)
