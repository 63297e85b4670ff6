"""``python -m bot insights report|refresh``: the analytics of a date range as JSON and as a
self-contained HTML report, and the rollup recomputed by hand.

Bad input exits with code 2 and says what is wrong.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import jinja2
import typer

from bot.app._analytics import Analytics, build_analytics
from bot.app._cli_settings import cli_settings
from bot.app._container import build_hub_services
from bot.insights import InvalidAnalyticsQuery, parse_day

logger = logging.getLogger(__name__)

insights_report_app = typer.Typer(
    help="Insights: service analytics and pain points.", no_args_is_help=True
)
T = TypeVar("T")

# The report opens anywhere, offline and without scripts: charts are inline SVG bars drawn by
# the template (a plotting library would add megabytes of dependencies for two bar charts).
_TEMPLATE = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Analytics {{ r.from }} – {{ r.to }}</title>
<style>body{font-family:system-ui,"Noto Sans CJK SC",sans-serif;margin:24px;color:#1d2430}
table{border-collapse:collapse;margin:8px 0 24px}td,th{border-bottom:1px solid #dde2ea;
padding:4px 10px;text-align:left}.kpis{display:flex;flex-wrap:wrap;gap:12px}
.kpi{border:1px solid #dde2ea;border-radius:8px;padding:8px 12px}.kpi b{display:block;
font-size:1.4em}</style></head><body>
<h1>Analytics / 数据报告 {{ r.from }} – {{ r.to }}</h1>
<div class="kpis">{% for name, label, value in kpis %}
<div class="kpi" id="kpi-{{ name }}">{{ label }}<b>{{ value }}</b></div>{% endfor %}</div>
<h2>Conversations and handoffs per {{ r.granularity }} / 会话量与转人工</h2>
<svg width="{{ 40 + bars|length * 28 }}" height="180" role="img"
 aria-label="conversations and handoffs per {{ r.granularity }}">
{% for b in bars %}<rect x="{{ 30 + loop.index0 * 28 }}" y="{{ 150 - b.c }}" width="11"
 height="{{ b.c }}" fill="#1f6feb"><title>{{ b.period }}: {{ b.conversations }}</title></rect>
<rect x="{{ 42 + loop.index0 * 28 }}" y="{{ 150 - b.h }}" width="11" height="{{ b.h }}"
 fill="#c62828"><title>{{ b.period }}: {{ b.handoffs }} handoffs</title></rect>{% endfor %}
<line x1="28" y1="150" x2="{{ 34 + bars|length * 28 }}" y2="150" stroke="#6b7585"/></svg>
<table><tr><th>period</th>{% for c in columns %}<th>{{ c }}</th>{% endfor %}</tr>
{% for p in r.series %}<tr><td>{{ p.period }}</td>{% for c in columns %}<td>{{ fmt(p[c]) }}</td>
{% endfor %}</tr>{% endfor %}</table>
{% for dim in dims %}<h2>By {{ dim }}</h2><table><tr><th>{{ dim }}</th>{% for c in columns %}
<th>{{ c }}</th>{% endfor %}</tr>{% for g in r.by[dim] %}<tr><td>{{ g.key or "–" }}</td>
{% for c in columns %}<td>{{ fmt(g[c]) }}</td>{% endfor %}</tr>{% endfor %}</table>{% endfor %}
<h2>Handoff reasons / 转人工原因</h2><table>{% for x in r.handoff_reasons %}
<tr><td>{{ x.reason }}</td><td>{{ x.count }}</td></tr>{% endfor %}</table>
<h2>Top unanswered questions / 未能回答的问题</h2><table>{% for q in r.top_unanswered %}
<tr><td>{{ q.question }}</td><td>{{ q.asked }}</td></tr>{% endfor %}</table>
{% if pains %}<h2>Pain points / 痛点</h2><table><tr><th>topic</th><th>texts</th><th>trend</th>
<th>examples</th></tr>{% for p in pains.topics %}<tr><td>{{ p.label.zh }} {{ p.label.en }}</td>
<td>{{ p.size }}</td><td>{{ p.trend }} ({{ p.last_week }} → {{ p.this_week }})</td>
<td>{{ p.examples|join(" | ") }}</td></tr>{% endfor %}</table>{% endif %}
</body></html>
"""
)
_COLUMNS = (
    "conversations",
    "containment_rate",
    "handoffs",
    "handoff_rate",
    "fallback_rate",
    "knowledge_answer_rate",
    "fcr_rate",
    "avg_handle_s",
    "avg_wait_s",
    "csat_avg",
    "sentiment_avg",
    "sla_compliance",
)


def _fmt(value: Any) -> str:
    return "–" if value is None else str(value)


def render_report(report: dict[str, Any], painpoints: dict[str, Any] | None) -> str:
    """The analytics (and pain points) as one HTML page without scripts."""
    top = max([p["conversations"] for p in report["series"]] + [1])
    bars = [
        {
            **p,
            "c": round(140 * p["conversations"] / top),
            "h": round(140 * p["handoffs"] / top),
        }
        for p in report["series"]
    ]
    kpis = [(c, c.replace("_", " "), _fmt(report["totals"][c])) for c in _COLUMNS]
    return _TEMPLATE.render(
        r=report,
        kpis=kpis,
        bars=bars,
        columns=_COLUMNS,
        dims=("channel", "language", "intent", "agent"),
        fmt=_fmt,
        pains=painpoints,
    )


def _with_analytics(work: Callable[[Analytics], Awaitable[T]]) -> T:
    """Run ``work`` on the analytics services (database migrated first), then close them."""

    async def run() -> T:
        settings = cli_settings()
        hub = build_hub_services(settings)
        await hub.database.migrate()
        try:
            return await work(build_analytics(settings, hub.database, hub.tickets))
        finally:
            hub.tracker_events.dispose()
            hub.database.dispose()

    return asyncio.run(run())


def _days(start: str | None, end: str | None) -> tuple[date, date]:
    try:
        last = parse_day(end, "--to") if end else datetime.now(UTC).date()
        first = parse_day(start, "--from") if start else last - timedelta(days=29)
    except InvalidAnalyticsQuery as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    return first, last


@insights_report_app.command("report")
def report_command(
    start: Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day, YYYY-MM-DD.")] = None,
    granularity: Annotated[str, typer.Option(help="day or week")] = "day",
    html: Annotated[Path | None, typer.Option(help="Write an HTML report here.")] = None,
    painpoints: Annotated[
        bool, typer.Option(help="Add pain points (embeds ticket texts: slow).")
    ] = False,
    refresh: Annotated[bool, typer.Option(help="Recompute the range's rollup first.")] = True,
) -> None:
    """Print the figures of a date range as JSON; with --html, also write a report page."""
    first, last = _days(start, end)

    async def work(analytics: Analytics) -> tuple[dict[str, Any], dict[str, Any] | None]:
        if refresh:
            await analytics.service.rebuild(first, last)
        report = await analytics.service.report(first, last, granularity=granularity)
        pains = None
        if painpoints:
            await analytics.painpoints.embed_pending(batches=1_000_000)
            pains = await analytics.painpoints.report(first, last)
        return report, pains

    try:
        report, pains = _with_analytics(work)
    except InvalidAnalyticsQuery as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    if html is not None:
        html.write_text(render_report(report, pains), encoding="utf-8")
        logger.info("Wrote the report to %s", html)
    typer.echo(json.dumps(report | ({"painpoints": pains} if pains else {}), ensure_ascii=False))


@insights_report_app.command("refresh")
def refresh_command(
    start: Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day, YYYY-MM-DD.")] = None,
) -> None:
    """Recompute the analytics rollup of a range (default: what the hub's job does)."""

    async def work(analytics: Analytics) -> int:
        if start is None and end is None:
            return await analytics.service.refresh()
        first, last = _days(start, end)
        return await analytics.service.rebuild(first, last)

    try:
        written = _with_analytics(work)
    except InvalidAnalyticsQuery as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    typer.echo(json.dumps({"rows": written}))
