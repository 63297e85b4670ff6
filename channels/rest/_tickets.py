"""``/api/tickets``: the ticket REST API (agents' tools and shops' back offices).

A thin adapter: it checks the caller's scope through the ``authorize`` dependency the wiring
passes in, translates JSON to the ticket service's dataclasses and back, and maps the module's
errors to HTTP statuses through the adapter kit's one map (``channels.connector.STATUS``).
"""

# No ``from __future__ import annotations``: the routes' ``Annotated`` dependencies are built
# inside ``build_tickets_router`` and FastAPI must see them as objects, not as names to look up.

import csv
import io
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import partial
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from bot.privacy import AuditLog
from bot.tickets import (
    ERASED,
    TicketChanges,
    TicketDraft,
    TicketError,
    TicketQuery,
    TicketService,
    TicketView,
)
from bot.tickets import AttachmentRef as Attachment
from channels.connector import status_of

logger = logging.getLogger(__name__)

READ, WRITE = "tickets:read", "tickets:write"
EXPORT_LIMIT = 100_000
T = TypeVar("T")

Category = Literal[
    "order", "return_refund", "delivery", "payment", "product", "account", "complaint", "other"
]
Priority = Literal["P1", "P2", "P3", "P4"]
Status = Literal["new", "open", "pending_customer", "resolved", "closed", "reopened"]
Team = Literal["orders", "refunds", "technical", "sales", "general"]
SlaState = Literal["ok", "due_soon", "breached"]
Sort = Literal[
    "created_at",
    "-created_at",
    "updated_at",
    "-updated_at",
    "priority",
    "-priority",
    "next_due_at",
    "-next_due_at",
    "number",
    "-number",
]


@dataclass(frozen=True)
class TicketCaller:
    """Who calls: ``actor`` is written into the history; a ``customer_id`` limits the caller to
    that customer's tickets and to what a customer may do (read, add information, rate)."""

    actor: str
    customer_id: str | None = None
    # A supervisor (or the shop's back end with the API key) may force a merge of two
    # customers' tickets; an agent may not.
    supervisor: bool = False
    # An agent of the console: their reads of a customer's ticket are audited.
    agent_id: int | None = None


# ``authorize(scope)`` returns a FastAPI dependency that yields the caller or raises 401/403.
Authorize = Callable[[str], Callable[..., Any]]


class AttachmentIn(BaseModel):
    """A media original already stored by the hub, and its transcript or OCR text."""

    model_config = ConfigDict(extra="forbid")

    media_id: str = Field(min_length=1, max_length=64)
    text: str = Field(default="", max_length=20_000)


class TicketIn(BaseModel):
    """A new ticket."""

    model_config = ConfigDict(extra="forbid")

    customer_id: str = Field(min_length=1, max_length=128, description="The customer's id.")
    subject: str = Field(min_length=1, max_length=200)
    description: str = Field(min_length=1, max_length=20_000)
    category: Category = "other"
    channel: str = Field(default="rest", min_length=1, max_length=32)
    conversation_id: str | None = Field(default=None, min_length=1, max_length=32)
    language: Literal["zh", "en"] = "en"
    priority: Priority | None = Field(
        default=None, description="Leave out to let the priority rules decide."
    )
    team: Team = "general"
    tags: list[str] = Field(default_factory=list, max_length=20)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=20)
    angry: bool = False
    sentiment: float | None = Field(default=None, ge=-1, le=1)
    vip_tier: str | None = Field(default=None, min_length=1, max_length=16)


class TicketPatch(BaseModel):
    """Fields to change; ``version`` (or the ``If-Match`` header) is the version you read."""

    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(default=None, ge=1)
    subject: str | None = Field(default=None, min_length=1, max_length=200)
    category: Category | None = None
    priority: Priority | None = None
    status: Status | None = None
    team: Team | None = None
    assignee: str | None = Field(default=None, min_length=1, max_length=64)
    unassign: bool = False
    tags: list[str] | None = Field(default=None, max_length=20)


class TextIn(BaseModel):
    """A public reply or an internal note."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=20_000)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=20)
    version: int | None = Field(default=None, ge=1)


class CustomerInfoIn(BaseModel):
    """Information the customer adds to their ticket."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=20_000)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=20)
    customer_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="Required unless the API key belongs to the customer.",
    )


class MergeIn(BaseModel):
    """Merge this ticket into ``into`` (the same customer's)."""

    model_config = ConfigDict(extra="forbid")

    into: str = Field(min_length=1, max_length=24)
    version: int | None = Field(default=None, ge=1)
    into_version: int | None = Field(default=None, ge=1)
    force: bool = Field(
        default=False,
        description="Merge although the tickets are different customers' (supervisors only).",
    )


class BulkIn(BaseModel):
    """One change for several tickets; ``versions`` (number → version read) guards each."""

    model_config = ConfigDict(extra="forbid")

    numbers: list[str] = Field(min_length=1, max_length=100)
    versions: dict[str, int] | None = Field(default=None, max_length=100)
    status: Status | None = None
    priority: Priority | None = None
    team: Team | None = None
    assignee: str | None = Field(default=None, min_length=1, max_length=64)
    unassign: bool = False


class SatisfactionIn(BaseModel):
    """The customer's rating of a resolved ticket."""

    model_config = ConfigDict(extra="forbid")

    score: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, min_length=1, max_length=2_000)
    customer_id: str | None = Field(default=None, min_length=1, max_length=128)


class AttachmentOut(BaseModel):
    media_id: str
    text: str


class TicketOut(BaseModel):
    """A ticket with its SLA figures; ``version`` is what a PATCH sends back."""

    number: str
    customer_id: str
    conversation_id: str | None
    channel: str
    language: str
    subject: str
    description: str
    category: str
    priority: str
    status: str
    team: str
    assignee: str | None
    tags: list[str]
    vip_tier: str | None
    satisfaction: int | None
    merged_into: str | None
    version: int
    created_at: datetime
    updated_at: datetime
    first_response_due_at: datetime | None
    first_responded_at: datetime | None
    first_response_breached_at: datetime | None
    resolution_due_at: datetime | None
    resolution_breached_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    paused_at: datetime | None
    next_due_at: datetime | None
    sla_state: SlaState


class EntryOut(BaseModel):
    id: int
    kind: Literal["reply", "note", "customer"]
    author: str
    text: str
    created_at: datetime
    attachments: list[AttachmentOut]


class HistoryOut(BaseModel):
    actor: str
    field: str
    old: str | None
    new: str | None
    at: datetime


class TicketDetailOut(BaseModel):
    """A ticket, its thread and (for agents) its history."""

    ticket: TicketOut
    entries: list[EntryOut]
    attachments: list[AttachmentOut]
    history: list[HistoryOut]


class BulkItemOut(BaseModel):
    """One ticket's outcome: the ticket as it now is, or why it was left as it was."""

    number: str
    ticket: TicketOut | None
    error: str | None


class BulkOut(BaseModel):
    changed: int
    refused: int
    results: list[BulkItemOut]


class TeamSlaOut(BaseModel):
    """One team's tickets created in the period: met, breached, still open; compliance is met
    out of met + breached (null when neither)."""

    team: str
    tickets: int
    met: int
    breached: int
    first_response_breached: int
    resolution_breached: int
    open_now: int
    compliance: float | None


class TicketPageOut(BaseModel):
    """One page of tickets; ask again with ``offset=next_offset`` for the next."""

    items: list[TicketOut]
    total: int | None
    offset: int
    limit: int
    next_offset: int | None


def build_tickets_router(
    service: TicketService, authorize: Authorize, audit: AuditLog | None = None
) -> APIRouter:
    """The ticket API's routes, bound to the service and the wiring's authorization; an
    agent's read of a ticket goes to ``audit`` (``ticket.read``) when given."""
    router = APIRouter(prefix="/api/tickets", tags=["tickets"])
    Reader = Annotated[TicketCaller, Depends(authorize(READ))]
    Writer = Annotated[TicketCaller, Depends(authorize(WRITE))]
    Filters = Annotated[TicketQuery, Depends(_filters)]

    @router.post("", response_model=TicketOut, status_code=201, responses=_errors(409, 422))
    async def create_ticket(
        body: TicketIn,
        caller: Writer,
        response: Response,
        idempotency_key: Annotated[
            str | None,
            Header(description="Repeat a POST with the same key to get the same ticket back."),
        ] = None,
    ) -> TicketOut:
        """Open a ticket (idempotent with ``Idempotency-Key``)."""
        if caller.customer_id is not None and caller.customer_id != body.customer_id:
            raise HTTPException(
                403, detail=_detail("forbidden", "this key opens tickets only for its own customer")
            )
        fields = body.model_dump(exclude={"tags", "attachments"})
        draft = TicketDraft(
            **fields,
            tags=tuple(body.tags),
            attachments=tuple(Attachment(a.media_id, a.text) for a in body.attachments),
        )
        view, created = await _call(
            service.create(draft, actor=caller.actor, idempotency_key=idempotency_key)
        )
        if not created:
            response.status_code = 200
        response.headers["ETag"] = _etag(view.version)
        response.headers["Location"] = f"/api/tickets/{view.number}"
        return _ticket(view)

    async def listed(caller: TicketCaller, tickets: Sequence[TicketView], why: str) -> None:
        """An agent's list of tickets: one ``ticket.listed`` read per customer on it (an
        anonymised ticket names nobody), before the list leaves the hub."""
        if audit is None or caller.agent_id is None:
            return
        customers = [t.customer_id for t in tickets if t.customer_id != ERASED]
        await audit.record_listed(
            "agent", str(caller.agent_id), "ticket.listed", customers, f"console: {why}"
        )

    @router.get("", response_model=TicketPageOut, responses=_errors(422))
    async def list_tickets(caller: Reader, query: Filters) -> TicketPageOut:
        """Tickets matching every filter given, sorted and paged."""
        page = await _call(service.list_tickets(_limited(query, caller)))
        await listed(caller, page.items, "ticket list")
        return TicketPageOut(
            items=[_ticket(t) for t in page.items],
            total=page.total,
            offset=page.offset,
            limit=page.limit,
            next_offset=page.next_offset,
        )

    @router.get(
        "/export.csv",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/csv": {}}}, **_errors(422)},
    )
    async def export_csv(caller: Reader, query: Filters) -> StreamingResponse:
        """The tickets matching the filters as CSV (every page; formula-safe for spreadsheets)."""
        query = _limited(query, caller)
        first = await _call(service.list_tickets(_page(query, 0)))
        return StreamingResponse(
            _csv_rows(service, query, first.items, first.next_offset, partial(listed, caller)),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="tickets.csv"'},
        )

    @router.get("/sla", response_model=list[TeamSlaOut], responses=_errors(403, 422))
    async def sla_per_team(
        caller: Reader,
        since: Annotated[datetime, Query(description="From (with a time zone).")],
        until: Annotated[datetime, Query(description="Until, excluded (with a time zone).")],
    ) -> list[TeamSlaOut]:
        """SLA compliance per team of the tickets created in ``[since, until)``."""
        _agents_only(caller, "read the teams' figures")
        rows = await _call(service.sla_compliance(since, until))
        return [TeamSlaOut(**asdict(row), compliance=row.compliance) for row in rows]

    @router.post("/bulk", response_model=BulkOut, responses=_errors(403, 422))
    async def bulk(body: BulkIn, caller: Writer) -> BulkOut:
        """The same change to several tickets; each is changed or refused on its own."""
        _agents_only(caller, "change tickets")
        changes = TicketChanges(
            status=body.status,
            priority=body.priority,
            team=body.team,
            assignee=body.assignee,
            unassign=body.unassign,
        )
        outcomes = await _call(
            service.bulk_update(
                body.numbers,
                changes,
                actor=caller.actor,
                versions={k.strip().upper(): v for k, v in (body.versions or {}).items()},
            )
        )
        results = [
            BulkItemOut(
                number=o.number,
                ticket=None if o.ticket is None else _ticket(o.ticket),
                error=o.error,
            )
            for o in outcomes
        ]
        changed = sum(1 for o in outcomes if o.error is None)
        return BulkOut(changed=changed, refused=len(outcomes) - changed, results=results)

    @router.get("/{number}", response_model=TicketDetailOut, responses=_errors(404, 422))
    async def get_ticket(number: str, caller: Reader, response: Response) -> TicketDetailOut:
        """A ticket with its thread; a customer's key sees no notes and no history."""
        detail = await _call(service.get(number, customer_id=caller.customer_id))
        # An anonymised ticket names nobody: reading it reads no one's data.
        if (
            audit is not None
            and caller.agent_id is not None
            and detail.ticket.customer_id != ERASED
        ):
            await audit.record_read(
                "agent",
                str(caller.agent_id),
                "ticket.read",
                detail.ticket.customer_id,
                f"console: opened ticket {detail.ticket.number}",
            )
        response.headers["ETag"] = _etag(detail.ticket.version)
        return TicketDetailOut(
            ticket=_ticket(detail.ticket),
            entries=[
                EntryOut(
                    id=e.id,
                    kind=e.kind,
                    author=e.author,
                    text=e.text,
                    created_at=e.created_at,
                    attachments=[AttachmentOut(**asdict(a)) for a in e.attachments],
                )
                for e in detail.entries
            ],
            attachments=[AttachmentOut(**asdict(a)) for a in detail.attachments],
            history=[HistoryOut(**asdict(h)) for h in detail.history],
        )

    @router.patch("/{number}", response_model=TicketOut, responses=_errors(403, 404, 409, 422, 428))
    async def patch_ticket(
        number: str,
        body: TicketPatch,
        caller: Writer,
        response: Response,
        if_match: Annotated[str | None, Header(description='The ETag you read, e.g. "3".')] = None,
    ) -> TicketOut:
        """Change fields; send the version you read (``If-Match`` or ``version``): 409 if stale."""
        _agents_only(caller, "change tickets")
        version = _version(if_match, body.version)
        changes = TicketChanges(
            subject=body.subject,
            category=body.category,
            priority=body.priority,
            status=body.status,
            team=body.team,
            assignee=body.assignee,
            unassign=body.unassign,
            tags=None if body.tags is None else tuple(body.tags),
        )
        view = await _call(
            service.update(number, changes, actor=caller.actor, expected_version=version)
        )
        response.headers["ETag"] = _etag(view.version)
        return _ticket(view)

    @router.post(
        "/{number}/replies", response_model=TicketOut, responses=_errors(403, 404, 409, 422)
    )
    async def reply(number: str, body: TextIn, caller: Writer) -> TicketOut:
        """A public reply; the customer is told on the ticket's channel."""
        _agents_only(caller, "reply")
        return _ticket(
            await _call(
                service.reply(
                    number,
                    author=caller.actor,
                    text=body.text,
                    attachments=_attachments(body.attachments),
                    expected_version=body.version,
                )
            )
        )

    @router.post("/{number}/notes", response_model=TicketOut, responses=_errors(403, 404, 409, 422))
    async def note(number: str, body: TextIn, caller: Writer) -> TicketOut:
        """An internal note, never shown to the customer."""
        _agents_only(caller, "write notes")
        return _ticket(
            await _call(
                service.note(
                    number,
                    author=caller.actor,
                    text=body.text,
                    attachments=_attachments(body.attachments),
                    expected_version=body.version,
                )
            )
        )

    @router.post(
        "/{number}/customer-messages", response_model=TicketOut, responses=_errors(404, 409, 422)
    )
    async def add_info(number: str, body: CustomerInfoIn, caller: Writer) -> TicketOut:
        """The customer adds information; a ticket waiting on them opens again."""
        customer = _customer(caller, body.customer_id)
        return _ticket(
            await _call(
                service.add_info(
                    number,
                    customer_id=customer,
                    text=body.text,
                    attachments=_attachments(body.attachments),
                )
            )
        )

    @router.post("/{number}/merge", response_model=TicketOut, responses=_errors(403, 404, 409, 422))
    async def merge(number: str, body: MergeIn, caller: Writer) -> TicketOut:
        """Merge this ticket into ``into``; returns the ticket merged into."""
        _agents_only(caller, "merge tickets")
        if body.force and not caller.supervisor:
            raise HTTPException(
                403,
                detail=_detail(
                    "forbidden",
                    "only a supervisor may merge different customers' tickets (force)",
                ),
            )
        return _ticket(
            await _call(
                service.merge(
                    number,
                    body.into,
                    actor=caller.actor,
                    source_version=body.version,
                    target_version=body.into_version,
                    force=body.force,
                )
            )
        )

    @router.put(
        "/{number}/satisfaction", response_model=TicketOut, responses=_errors(404, 409, 422)
    )
    async def satisfaction(number: str, body: SatisfactionIn, caller: Writer) -> TicketOut:
        """The customer's satisfaction score (1–5) for a resolved ticket."""
        customer = caller.customer_id or body.customer_id
        return _ticket(
            await _call(
                service.set_satisfaction(
                    number, body.score, customer_id=customer, comment=body.comment
                )
            )
        )

    return router


def _filters(
    status: Annotated[list[Status] | None, Query(description="Repeat for several.")] = None,
    priority: Annotated[list[Priority] | None, Query()] = None,
    team: Annotated[list[Team] | None, Query()] = None,
    category: Annotated[list[Category] | None, Query()] = None,
    assignee: Annotated[list[str] | None, Query(max_length=64)] = None,
    unassigned: bool = False,
    sla_state: SlaState | None = None,
    q: Annotated[
        str | None, Query(min_length=1, max_length=200, description="Text in subject or body.")
    ] = None,
    customer_id: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    updated_from: datetime | None = None,
    updated_to: datetime | None = None,
    sort: Sort = "-updated_at",
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> TicketQuery:
    return TicketQuery(
        statuses=tuple(status or ()),
        priorities=tuple(priority or ()),
        teams=tuple(team or ()),
        categories=tuple(category or ()),
        assignees=tuple(assignee or ()),
        unassigned=unassigned,
        sla_state=sla_state,
        text=q,
        customer_id=customer_id,
        created_from=created_from,
        created_to=created_to,
        updated_from=updated_from,
        updated_to=updated_to,
        sort=sort,
        offset=offset,
        limit=limit,
    )


async def _call(work: Awaitable[T]) -> T:
    try:
        return await work
    except TicketError as exc:
        status, code = status_of(exc)  # the one map, in the adapter kit
        raise HTTPException(status, detail=_detail(code, str(exc))) from exc


def _detail(code: str, message: str) -> dict[str, str]:
    return {"error": code, "message": message}


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {"description": "error: `detail.message` says what to fix"} for status in statuses
    }


def _agents_only(caller: TicketCaller, what: str) -> None:
    if caller.customer_id is not None:
        raise HTTPException(403, detail=_detail("forbidden", f"a customer's key may not {what}"))


def _customer(caller: TicketCaller, given: str | None) -> str:
    if caller.customer_id is not None:
        return caller.customer_id
    if given is None:
        raise HTTPException(
            422,
            detail=_detail("invalid_ticket", "customer_id is required: whose information is it?"),
        )
    return given


def _limited(query: TicketQuery, caller: TicketCaller) -> TicketQuery:
    if caller.customer_id is None:
        return query
    return TicketQuery(**{**query.__dict__, "customer_id": caller.customer_id})


def _page(query: TicketQuery, offset: int) -> TicketQuery:
    return TicketQuery(**{**query.__dict__, "offset": offset, "limit": 200, "count_total": False})


_ETAG = re.compile(r'^\s*(?:W/)?"?(\d+)"?\s*$')


def _etag(version: int) -> str:
    return f'"{version}"'


def _version(if_match: str | None, body_version: int | None) -> int:
    header = None
    if if_match is not None:
        match = _ETAG.match(if_match)
        if match is None:
            raise HTTPException(
                422,
                detail=_detail(
                    "invalid_ticket",
                    f'If-Match {if_match!r} is not a ticket version like "3" (the ETag you read)',
                ),
            )
        header = int(match.group(1))
    if header is not None and body_version is not None and header != body_version:
        raise HTTPException(
            422,
            detail=_detail(
                "invalid_ticket", f"If-Match says version {header} but the body says {body_version}"
            ),
        )
    version = header if header is not None else body_version
    if version is None:
        raise HTTPException(
            428,
            detail=_detail(
                "version_required",
                "send the version you read: the If-Match header (the ETag of GET "
                "/api/tickets/{number}) or version in the body",
            ),
        )
    return version


def _attachments(items: list[AttachmentIn]) -> tuple[Attachment, ...]:
    return tuple(Attachment(a.media_id, a.text) for a in items)


def _ticket(view: TicketView) -> TicketOut:
    fields = asdict(view)
    fields["tags"] = list(view.tags)
    return TicketOut(**fields)


CSV_COLUMNS = (
    "number",
    "created_at",
    "updated_at",
    "status",
    "priority",
    "category",
    "team",
    "assignee",
    "customer_id",
    "channel",
    "subject",
    "tags",
    "sla_state",
    "first_response_due_at",
    "resolution_due_at",
    "satisfaction",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """A CSV cell a spreadsheet will not run: text starting like a formula gets a quote first
    (OWASP's advice for CSV injection)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    text = ", ".join(value) if isinstance(value, tuple) else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _csv_line(values: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(values)
    return buffer.getvalue()


async def _csv_rows(
    service: TicketService,
    query: TicketQuery,
    first: tuple[TicketView, ...],
    next_offset: int | None,
    listed: Callable[[Sequence[TicketView], str], Awaitable[None]],
) -> AsyncIterator[str]:
    yield "\ufeff" + _csv_line(list(CSV_COLUMNS))  # the BOM makes Excel read UTF-8 (Chinese)
    items, written = first, 0
    while True:
        await listed(items, "tickets CSV")  # each page audited before its rows leave
        for view in items:
            yield _csv_line([csv_cell(getattr(view, column)) for column in CSV_COLUMNS])
        written += len(items)
        if next_offset is None or written >= EXPORT_LIMIT:
            return
        page = await service.list_tickets(_page(query, next_offset))
        items, next_offset = page.items, page.next_offset
