"""The analytics API (``/api/analytics/*``) and the supervisors' dashboard page.

Open to the shop's back end with ``BOT_API_KEY`` (``Authorization: Bearer <key>``) and to a
supervisor logged in to the console (its session cookie); nobody else. Every route is a read:
no CSRF token is needed. Annotations are evaluated, not postponed: the query types are
closures.
"""

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse, Response

from bot.handoff import AgentDirectory
from bot.insights import AnalyticsFilters, parse_day
from channels.console._pages import _SECURITY_HEADERS, STATIC
from channels.console._services import COOKIE

Report = Callable[[date, date, AnalyticsFilters, str], Awaitable[dict[str, Any]]]
PainPointReport = Callable[[date, date, int], Awaitable[dict[str, Any]]]
DEFAULT_DAYS = 30


@dataclass(frozen=True)
class AnalyticsRoutes:
    """What the analytics routes work with; the wiring builds it."""

    report: Report
    report_csv: Callable[[dict[str, Any]], str]
    painpoints: PainPointReport
    painpoints_csv: Callable[[dict[str, Any]], str]
    agents: AgentDirectory
    api_key: str | None


def _range(start: str | None, end: str | None) -> tuple[date, date]:
    last = parse_day(end, "to") if end else datetime.now(UTC).date()
    first = parse_day(start, "from") if start else last - timedelta(days=DEFAULT_DAYS - 1)
    return first, last


# What the OpenAPI document says a CSV answer is (FastAPI would call it JSON).
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}}}}


def _csv(text: str, name: str, first: date, last: date) -> Response:
    return Response(
        # A byte-order mark so spreadsheet programs read the Chinese text as UTF-8.
        content="\ufeff" + text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}-{first}-{last}.csv"'},
    )


def build_analytics_router(routes: AnalyticsRoutes) -> APIRouter:
    """``/api/analytics/summary[.csv]``, ``/api/analytics/painpoints[.csv]`` and the page
    ``/console/dashboard``."""

    async def reader(request: Request) -> None:
        """The API key, or a supervisor's console session; 401 or 403 otherwise."""
        header = request.headers.get("authorization", "")
        if header:
            scheme, _, given = header.partition(" ")
            key = routes.api_key
            if (
                scheme.lower() == "bearer"
                and key
                and secrets.compare_digest(given.encode(), key.encode())
            ):
                return
            raise HTTPException(401, detail="wrong API key; send 'Authorization: Bearer <key>'")
        token = request.cookies.get(COOKIE)
        agent = await routes.agents.agent_for_token(token) if token else None
        if agent is None:
            raise HTTPException(
                401, detail="log in to the console as a supervisor, or send the API key"
            )
        if not agent.supervises:
            raise HTTPException(403, detail="analytics are for supervisors")

    api = APIRouter(prefix="/api/analytics", tags=["analytics"], dependencies=[Depends(reader)])
    day = r"^\d{4}-\d{2}-\d{2}$"
    From = Annotated[str | None, Query(alias="from", max_length=10, pattern=day)]
    To = Annotated[str | None, Query(alias="to", max_length=10, pattern=day)]
    Dim = Annotated[str | None, Query(max_length=128)]

    async def summary_of(
        start: str | None, end: str | None, granularity: str, filters: AnalyticsFilters
    ) -> tuple[dict[str, Any], date, date]:
        first, last = _range(start, end)
        return await routes.report(first, last, filters, granularity), first, last

    def filters_of(
        channel: str | None, language: str | None, intent: str | None, agent: str | None
    ) -> AnalyticsFilters:
        return AnalyticsFilters(channel=channel, language=language, intent=intent, agent=agent)

    @api.get("/summary")
    async def summary(
        start: From = None,
        end: To = None,
        granularity: Annotated[str, Query(max_length=8)] = "day",
        channel: Dim = None,
        language: Dim = None,
        intent: Dim = None,
        agent: Dim = None,
    ) -> dict[str, Any]:
        """Every figure of a date range (both ends inclusive, UTC days; default the last 30)."""
        filters = filters_of(channel, language, intent, agent)
        report, _first, _last = await summary_of(start, end, granularity, filters)
        return report

    @api.get("/summary.csv", response_class=Response, responses=CSV_RESPONSE)
    async def summary_csv(
        start: From = None,
        end: To = None,
        granularity: Annotated[str, Query(max_length=8)] = "day",
        channel: Dim = None,
        language: Dim = None,
        intent: Dim = None,
        agent: Dim = None,
    ) -> Response:
        """The same figures as CSV."""
        filters = filters_of(channel, language, intent, agent)
        report, first, last = await summary_of(start, end, granularity, filters)
        return _csv(routes.report_csv(report), "analytics", first, last)

    @api.get("/painpoints")
    async def painpoints(
        start: From = None,
        end: To = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> dict[str, Any]:
        """Negative feedback grouped by topic, biggest first."""
        first, last = _range(start, end)
        return await routes.painpoints(first, last, limit)

    @api.get("/painpoints.csv", response_class=Response, responses=CSV_RESPONSE)
    async def painpoints_csv(
        start: From = None,
        end: To = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> Response:
        """The topics as CSV."""
        first, last = _range(start, end)
        report = await routes.painpoints(first, last, limit)
        return _csv(routes.painpoints_csv(report), "painpoints", first, last)

    router = APIRouter()
    router.include_router(api)

    @router.get("/console/dashboard", include_in_schema=False)
    async def dashboard() -> FileResponse:
        return FileResponse(STATIC / "dashboard.html", headers=_SECURITY_HEADERS)

    return router
