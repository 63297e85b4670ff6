"""The admin API: upload and delete knowledge documents, and list the questions the knowledge base
could not answer, for admins: the shared admin token, or an admin's console session.

Without ``BOT_ADMIN_TOKEN`` a call with no admin session answers 503, so the API is never open
by accident.
An upload is checked completely (type, size, that it reads and splits) before it replaces
anything, so a bad file loses nothing stored.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Security, UploadFile
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from channels.connector import bearer_guard, status_of
from knowledge import SUPPORTED_SUFFIXES, InvalidSource, KnowledgeBase, KnowledgeError

logger = logging.getLogger(__name__)

PREFIX = "/admin/knowledge"
# Room for the multipart framing around an uploaded file, for the hub's body-size limit.
MULTIPART_OVERHEAD = 64 * 1024
_READ_CHUNK = 1024 * 1024


def _http_error(exc: KnowledgeError) -> HTTPException:
    status, _reason = status_of(exc)
    return HTTPException(status_code=status, detail=str(exc))


# Declared in the OpenAPI document on every admin route.
ADMIN_TOKEN = HTTPBearer(
    auto_error=False,
    scheme_name="AdminToken",
    description="BOT_ADMIN_TOKEN, sent as 'Authorization: Bearer <token>'.",
)


ADMIN_API_ACTOR = "admin-api"  # the audit log's name for a caller with the shared admin token


@dataclass(frozen=True)
class AdminCaller:
    """Who calls the admin API, as the audit log names them: ``admin-api`` (the shared token: a
    script, a back office) or an admin's agent id (their console session)."""

    actor_id: str


# An admin's console session: the agent id of the admin calling, or None when the request
# carries no console session. The wiring passes the console's check (the session, the CSRF
# token on a change, the admin role), which refuses with its own error.
ConsoleAdmin = Callable[[Request], Awaitable[str | None]]


def admin_guard(
    token: str | None, console_admin: ConsoleAdmin | None = None
) -> Callable[..., Awaitable[AdminCaller]]:
    """A dependency naming the caller: an admin's console session (without an Authorization
    header), else ``Authorization: Bearer <admin token>`` (503 when no token is set)."""
    bearer = bearer_guard(
        token,
        wrong="missing or wrong admin token; send 'Authorization: Bearer <token>', or log in to "
        "the console as an admin",
        unset="admin API disabled: set BOT_ADMIN_TOKEN, or log in to the console as an admin "
        "(python -m bot agents add --role admin)",
        declared=ADMIN_TOKEN,
    )

    async def guard(
        request: Request,
        _declared: HTTPAuthorizationCredentials | None = Security(ADMIN_TOKEN),  # noqa: B008
    ) -> AdminCaller:
        if console_admin is not None and "authorization" not in request.headers:
            agent_id = await console_admin(request)
            if agent_id is not None:
                return AdminCaller(agent_id)
        await bearer(request)
        return AdminCaller(ADMIN_API_ACTOR)

    return guard


def upload_limit(max_upload_bytes: int) -> dict[str, int]:
    """The body-size limit the hub must allow on the admin paths."""
    return {PREFIX: max_upload_bytes + MULTIPART_OVERHEAD}


@dataclass(frozen=True)
class AdminServices:
    """What the admin API works with; the wiring builds it."""

    knowledge: Callable[[], KnowledgeBase]  # the one knowledge base, opened on first use
    uploads: Path  # where uploaded documents are kept (they are sources)
    max_upload_bytes: int
    # The knowledge base's gaps (days, limit), from the insights module.
    knowledge_gaps: Callable[[int, int], Awaitable[dict[str, Any]]]
    token: str | None  # without it (and without an admin's console session) routes answer 503
    console_admin: ConsoleAdmin | None = None


def build_router(admin: AdminServices) -> APIRouter:
    """The admin routes: list sources, upload a document, delete a source, and the questions
    the knowledge base could not answer."""
    router = APIRouter(
        prefix=PREFIX,
        tags=["admin"],
        dependencies=[Depends(admin_guard(admin.token, admin.console_admin))],
    )
    uploads = admin.uploads
    holder_get = admin.knowledge
    writing = asyncio.Lock()

    @router.get("/sources")
    async def list_sources() -> dict[str, Any]:
        """Every ingested source and what the knowledge base holds."""
        try:
            knowledge = await run_in_threadpool(holder_get)
            sources = await run_in_threadpool(knowledge.sources)
            stats = await run_in_threadpool(knowledge.stats)
        except KnowledgeError as exc:
            raise _http_error(exc) from exc
        return {"sources": [s.to_dict() for s in sources], "stats": stats}

    @router.post("/documents")
    async def upload(file: UploadFile) -> dict[str, Any]:
        """Add a document or FAQ file, or replace the one with the same name."""
        name = _safe_name(file.filename)
        suffix = Path(name).suffix.lower()
        if suffix not in SUPPORTED_SUFFIXES:
            raise HTTPException(
                status_code=415,
                detail=f"files of type '{suffix or '(none)'}' cannot be ingested; supported: "
                + ", ".join(sorted(SUPPORTED_SUFFIXES)),
            )
        data = await _read_limited(file, admin.max_upload_bytes)
        async with writing:
            try:
                knowledge = await run_in_threadpool(holder_get)
                report = await run_in_threadpool(_replace, knowledge, uploads, name, data)
            except KnowledgeError as exc:
                raise _http_error(exc) from exc
        logger.info("Admin upload ingested: %s", name)
        return {"source": name, **report}

    @router.delete("/documents/{source:path}")
    async def delete(source: str) -> dict[str, Any]:
        """Remove a source's chunks (its path, file name or document id); an uploaded file is
        deleted too."""
        async with writing:
            try:
                knowledge = await run_in_threadpool(holder_get)
                key = await run_in_threadpool(knowledge.resolve_source, source)
                chunks = await run_in_threadpool(knowledge.delete, key)
            except KnowledgeError as exc:
                raise _http_error(exc) from exc
            path = Path(key)
            await run_in_threadpool(_remove_upload, path, uploads)
        return {"deleted": path.name, "chunks_deleted": chunks}

    @router.get("/unanswered")
    async def list_unanswered(
        days: Annotated[int, Query(ge=1, le=366, description="How far back to look.")] = 30,
        limit: Annotated[int, Query(ge=1, le=500, description="At most this many.")] = 50,
    ) -> dict[str, Any]:
        """What customers asked that the knowledge base could not answer, most asked first,
        personal data redacted: the FAQ entries to write next."""
        return await admin.knowledge_gaps(days, limit)

    return router


def _remove_upload(path: Path, uploads: Path) -> None:
    """An uploaded file goes with its chunks; files of the sources folder are not ours to delete."""
    if path.parent == uploads.resolve() and path.is_file():
        path.unlink()


def _safe_name(filename: str | None) -> str:
    name = Path((filename or "").replace("\\", "/")).name.strip()
    if not name or name.startswith(".") or len(name) > 200:
        raise HTTPException(
            status_code=422,
            detail="the upload needs a file name with an extension, like returns.md "
            "(not starting with '.', at most 200 characters)",
        )
    return name


async def _read_limited(file: UploadFile, limit: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    while chunk := await file.read(_READ_CHUNK):
        size += len(chunk)
        if size > limit:
            raise HTTPException(
                status_code=413, detail=f"the file is larger than the limit of {limit} bytes"
            )
        parts.append(chunk)
    if size == 0:
        raise HTTPException(status_code=422, detail="the file is empty")
    return b"".join(parts)


def _replace(knowledge: KnowledgeBase, uploads: Path, name: str, data: bytes) -> dict[str, Any]:
    """Check the new file, then put it in place and ingest it; on failure the old file and its
    chunks stay as they were."""
    uploads.mkdir(parents=True, exist_ok=True)
    suffix = Path(name).suffix
    incoming = uploads / f".incoming-{uuid.uuid4().hex}{suffix}"
    incoming.write_bytes(data)
    try:
        # Named as it will be, so errors and document ids use the real name.
        checked = incoming.with_name(f".check-{uuid.uuid4().hex}") / name
        checked.parent.mkdir()
        os.replace(incoming, checked)
        knowledge.validate(checked)
        target = uploads / name
        backup = uploads / f".backup-{uuid.uuid4().hex}{suffix}"
        had_old = target.exists()
        if had_old:
            os.replace(target, backup)
        os.replace(checked, target)
        report = knowledge.ingest([target])
        if report.failed:
            if had_old:
                os.replace(backup, target)
            else:
                target.unlink()
            raise InvalidSource("; ".join(report.failed.values()))
        backup.unlink(missing_ok=True)
        return report.to_dict()
    finally:
        incoming.unlink(missing_ok=True)
        for leftover in uploads.glob(".check-*"):
            for item in leftover.iterdir():
                item.unlink()
            leftover.rmdir()
