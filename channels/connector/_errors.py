"""Maps errors to HTTP responses, in one place; every error body is ``{"detail": "<why>"}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from bot.conversations import (
    ConversationBusy,
    ConversationNotFound,
    EmptyMessage,
    MessageRejected,
    MessageTooLong,
)
from bot.corrections import CorrectionNotFound, CorrectionReviewed, InvalidCorrection
from bot.dialogue import DialogueUnavailable, EvaluationFailed, TrainingFailed
from bot.handoff import (
    AgentExists,
    InvalidBusinessHours,
    InvalidCredentials,
    InvalidRequest,
    InvalidTransition,
    LoginThrottled,
    NotAllowed,
    NotFound,
)
from bot.insights import (
    ChurnDataError,
    InvalidAnalyticsQuery,
    LabelledDataError,
    ModelFileError,
    RetentionError,
    RetentionUndeliverable,
)
from bot.marketing import (
    AlreadyReviewed,
    CampaignNotFound,
    DeliveryFailed,
    ExperimentNotFound,
    InvalidMarketingRequest,
    InvalidSegment,
    LinkNotFound,
    MarketingError,
    SegmentNotFound,
    VariantNotFound,
)
from bot.media import AttachmentNotFound, KeptButUnreadable, UploadRejected, UploadTooLarge
from bot.orders import (
    FixturesError,
    InvalidAddress,
    InvalidOrder,
    InvalidOrderId,
    InvalidStateChange,
    OrderNotFound,
)
from bot.outbox import AlreadySent, OutboxMessageNotFound, SendFailed, Undeliverable
from bot.privacy import ExportLinkExpired, ExportLinkInvalid, InvalidPrivacyRequest
from bot.recommend import (
    CatalogueError,
    EventImportError,
    InvalidEvent,
    NotFitted,
    TrainingEngineUnavailable,
    UnknownModel,
)
from bot.tickets import (
    IdempotencyConflict,
    InvalidStatusChange,
    InvalidTicket,
    StaleTicket,
    TicketNotFound,
)
from channels.connector._ratelimit import RateLimited
from channels.media import (
    AudioTooLong,
    CorruptMedia,
    EmptyMedia,
    EngineUnavailable,
    MediaError,
    MislabelledMedia,
    NoTextFound,
    SilentAudio,
    UnsupportedMedia,
)
from knowledge import (
    EmbeddingUnavailable,
    InvalidQuestion,
    InvalidSource,
    SourceNotFound,
    StoreUnavailable,
    UnsupportedSource,
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


# The one map of public exceptions to HTTP statuses and reason codes. Most specific first: the
# first class an error is an instance of decides. ``tests/test_connector_errors.py`` checks that
# every public exception of every module is covered.
STATUS: tuple[tuple[type[Exception], int, str], ...] = (
    # media intake and the media library (uploads)
    (UploadTooLarge, 413, "too_large"),
    (EmptyMedia, 422, "empty"),
    (UnsupportedMedia, 415, "unsupported"),
    (MislabelledMedia, 422, "mislabelled"),
    (CorruptMedia, 422, "corrupt"),
    (AudioTooLong, 422, "too_long"),
    (SilentAudio, 422, "silent"),
    (NoTextFound, 422, "no_text"),
    (EngineUnavailable, 503, "unavailable"),
    (UploadRejected, 422, "bad_request"),
    (AttachmentNotFound, 404, "not_found"),
    (MediaError, 422, "bad_request"),
    # conversations and the dialogue engine
    (DialogueUnavailable, 503, "dialogue_unavailable"),
    (ConversationBusy, 503, "conversation_busy"),
    (MessageTooLong, 413, "too_long"),
    (EmptyMessage, 422, "bad_request"),
    (MessageRejected, 422, "bad_request"),
    (ConversationNotFound, 404, "not_found"),
    # rate limits and quotas
    (RateLimited, 429, "rate_limited"),
    # handoff and agents
    (LoginThrottled, 429, "too_many_requests"),
    (InvalidCredentials, 401, "unauthorized"),
    (NotAllowed, 403, "forbidden"),
    (NotFound, 404, "not_found"),
    (InvalidTransition, 409, "conflict"),
    (AgentExists, 409, "conflict"),
    (InvalidRequest, 422, "bad_request"),
    (InvalidBusinessHours, 422, "bad_request"),
    # orders
    (OrderNotFound, 404, "not_found"),
    (InvalidOrderId, 422, "bad_request"),
    (InvalidAddress, 422, "bad_request"),
    (InvalidOrder, 422, "bad_request"),
    (InvalidStateChange, 409, "conflict"),
    # tickets
    (InvalidTicket, 422, "invalid_ticket"),
    (IdempotencyConflict, 422, "idempotency_key_reused"),
    (TicketNotFound, 404, "ticket_not_found"),
    (InvalidStatusChange, 409, "invalid_status_change"),
    (StaleTicket, 409, "stale_version"),
    # recommendations
    (CatalogueError, 422, "bad_request"),
    (EventImportError, 422, "bad_request"),
    (InvalidEvent, 422, "bad_request"),
    (UnknownModel, 422, "bad_request"),
    (NotFitted, 503, "unavailable"),
    (TrainingEngineUnavailable, 503, "unavailable"),
    # privacy
    (InvalidPrivacyRequest, 422, "bad_request"),
    (ExportLinkExpired, 410, "link_expired"),
    (ExportLinkInvalid, 403, "link_invalid"),
    # marketing
    (InvalidSegment, 422, "invalid_segment"),
    (InvalidMarketingRequest, 422, "bad_request"),
    (ExperimentNotFound, 404, "not_found"),
    (SegmentNotFound, 404, "not_found"),
    (VariantNotFound, 404, "not_found"),
    (CampaignNotFound, 404, "not_found"),
    (LinkNotFound, 404, "not_found"),
    (AlreadyReviewed, 409, "conflict"),
    (MarketingError, 422, "bad_request"),
    # analytics
    (InvalidAnalyticsQuery, 422, "bad_request"),
    # outbox (the supervisors' stuck-messages page)
    (OutboxMessageNotFound, 404, "not_found"),
    (AlreadySent, 409, "conflict"),
    # intent corrections (the console's NLU panel)
    (InvalidCorrection, 422, "bad_request"),
    (CorrectionNotFound, 404, "not_found"),
    (CorrectionReviewed, 409, "conflict"),
    # knowledge base
    (UnsupportedSource, 415, "unsupported"),
    (InvalidSource, 422, "bad_request"),
    (InvalidQuestion, 422, "bad_request"),
    (SourceNotFound, 404, "not_found"),
    (EmbeddingUnavailable, 503, "unavailable"),
    (StoreUnavailable, 503, "unavailable"),
)
# Public exceptions that never reach a client: they stop a command or the start-up, with their
# message, rather than answer a request.
NOT_HTTP: tuple[type[Exception], ...] = (
    FixturesError,
    # raised by a messaging app's send API to the outbox, which retries or gives up
    SendFailed,
    Undeliverable,
    TrainingFailed,
    EvaluationFailed,
    # The insights commands' errors (no route raises them yet).
    ChurnDataError,
    LabelledDataError,
    ModelFileError,
    RetentionError,
    # caught by the retention desk, which records the action as undeliverable
    RetentionUndeliverable,
    # raised by a campaign courier; the campaign records the recipient as failed
    DeliveryFailed,
)
# Wrappers answered by what they wrap (the media intake kept the file, then could not read it).
WRAPPERS: tuple[type[Exception], ...] = (KeptButUnreadable,)


def status_of(exc: Exception) -> tuple[int, str]:
    """The HTTP status and reason code of a public exception (500 for anything unmapped)."""
    if isinstance(exc, KeptButUnreadable):
        exc = exc.cause
    return next(
        ((code, reason) for kind, code, reason in STATUS if isinstance(exc, kind)),
        (500, "internal"),
    )


async def _mapped_error(_request: Request, exc: Exception) -> JSONResponse:
    status, _reason = status_of(exc)
    headers = {"Retry-After": RETRY_AFTER_S} if status == 503 else None
    if isinstance(exc, LoginThrottled | RateLimited):
        headers = {"Retry-After": str(exc.retry_after_s)}
    if isinstance(exc, DialogueUnavailable):
        logger.warning("Dialogue engine unavailable: %s", exc)
        detail = (
            f"The assistant is temporarily unavailable ({exc}). "
            "Your message was saved; please send it again in a few seconds."
        )
    else:
        detail = str(exc)
    return JSONResponse(status_code=status, content={"detail": detail}, headers=headers)


# The one shape of every refusal: FastAPI documents its own list-of-errors body for 422, which
# these handlers replace with a sentence, so the OpenAPI document is corrected to match.
ERROR_BODY_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["detail"],
    "properties": {"detail": {"type": "string", "title": "What is wrong and how to fix it"}},
}


def install_error_handlers(app: FastAPI) -> None:
    """Register the mapping of public exceptions to status codes, and document its body."""
    for kind, _status, _reason in STATUS:
        app.add_exception_handler(kind, _mapped_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(OperationalError, _storage_down)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            schemas = schema.get("components", {}).get("schemas", {})
            if "HTTPValidationError" in schemas:
                schemas["HTTPValidationError"] = ERROR_BODY_SCHEMA
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


async def _storage_down(_request: Request, exc: Exception) -> JSONResponse:
    """The database cannot be reached (restarting, failing over): the transaction rolled back."""
    logger.warning("Database unavailable: %s", type(exc).__name__)
    return JSONResponse(
        status_code=503,
        content={
            "detail": "The service's database is unavailable for a moment; nothing was saved. "
            "Please send it again in a few seconds."
        },
        headers={"Retry-After": RETRY_AFTER_S},
    )
