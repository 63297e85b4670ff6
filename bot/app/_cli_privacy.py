"""``python -m bot privacy ...``: a customer's export and erasure, consents, the audit log,
retention.

Each command prints one JSON object on stdout (``export`` writes the zip to a file); bad input
exits with code 2 and says what is wrong.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from bot.app._cli_settings import cli_settings
from bot.app._container import HubServices, build_hub_services
from bot.privacy import InvalidPrivacyRequest, Subject

logger = logging.getLogger(__name__)

privacy_app = typer.Typer(
    help="Customers' personal data: export, erasure, consents, audit log, retention.",
    no_args_is_help=True,
)
CLI_ACTOR = "cli"
T = TypeVar("T")


def _with_hub(work: Callable[[HubServices], Awaitable[T]]) -> T:
    """Run ``work`` on the hub's services (database migrated first), then close them."""

    async def run() -> T:
        hub = build_hub_services(cli_settings())
        await hub.database.migrate()
        try:
            return await work(hub)
        finally:
            hub.tracker_events.dispose()
            hub.database.dispose()

    try:
        return asyncio.run(run())
    except InvalidPrivacyRequest as exc:
        _fail(str(exc))


def _fail(detail: str) -> NoReturn:
    typer.echo(json.dumps({"error": "bad_request", "detail": detail}, ensure_ascii=False), err=True)
    raise typer.Exit(code=2)


def _echo(result: dict[str, Any]) -> None:
    typer.echo(json.dumps(result, ensure_ascii=False, indent=1))


ChannelArg = Annotated[str, typer.Argument(help="The customer's channel: rest, webchat, ...")]
SenderArg = Annotated[str, typer.Argument(help="The sender on that channel (REST: customer id).")]
ReasonOpt = Annotated[str, typer.Option(help="Why, in a few words; never quote a message.")]


@privacy_app.command()
def export(
    channel: ChannelArg,
    sender: SenderArg,
    out: Annotated[Path, typer.Option(help="Where to write the zip.")],
    reason: ReasonOpt = "",
) -> None:
    """Write everything held about a customer to a zip; print its size and what it holds."""
    if out.exists():
        _fail(f"{out} exists already; name a new file")
    subject = _subject(channel, sender)
    bundle = _with_hub(
        lambda hub: hub.personal_data.export(
            subject, actor_kind="admin", actor_id=CLI_ACTOR, reason=reason
        )
    )
    out.write_bytes(bundle)
    _echo({"file": str(out), "bytes": len(bundle)})


@privacy_app.command()
def erase(
    channel: ChannelArg,
    sender: SenderArg,
    reason: ReasonOpt = "",
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase a customer everywhere and print what went (no personal data)."""
    subject = _subject(channel, sender)
    if not yes:
        typer.confirm(
            f"Erase every record of {sender!r} on {channel}? It cannot be undone", abort=True
        )
    report = _with_hub(
        lambda hub: hub.personal_data.erase(
            subject, actor_kind="admin", actor_id=CLI_ACTOR, reason=reason
        )
    )
    _echo(report.as_json())


@privacy_app.command()
def consent(
    channel: ChannelArg,
    sender: SenderArg,
    purpose: Annotated[
        str | None, typer.Option(help="marketing or personalisation (with --grant/--revoke).")
    ] = None,
    grant: Annotated[
        bool | None,
        typer.Option("--grant/--revoke", help="Record an opt-in or an opt-out; omit to list."),
    ] = None,
    on_channel: Annotated[
        str | None, typer.Option(help="Where it applies; default: the customer's channel.")
    ] = None,
) -> None:
    """List a customer's consents, or record one they gave or withdrew outside the platform."""
    subject = _subject(channel, sender)
    if grant is None:
        if purpose is not None or on_channel is not None:
            _fail("--purpose and --on-channel go with --grant or --revoke")

        async def listed(hub: HubServices) -> dict[str, Any]:
            await hub.audit.record_read(
                "admin", CLI_ACTOR, "consent.read", subject.key, "cli: consents"
            )
            current, history = await hub.personal_data.consents(subject)
            return {
                "current": [c.as_json() for c in current],
                "history": [c.as_json() for c in history],
            }

        _echo(_with_hub(listed))
        return
    if purpose is None:
        _fail("--grant and --revoke need --purpose marketing or --purpose personalisation")
    recorded = _with_hub(
        lambda hub: hub.personal_data.record_consent(
            subject, purpose, grant, channel=on_channel, actor_kind="admin", actor_id=CLI_ACTOR
        )
    )
    _echo(recorded.as_json())


@privacy_app.command()
def audit(
    customer: Annotated[str | None, typer.Option(help="Only this customer's records.")] = None,
    actor_kind: Annotated[
        str | None, typer.Option(help="Only this kind of actor: agent, admin, system, customer.")
    ] = None,
    actor_id: Annotated[str | None, typer.Option(help="Only this actor (an agent's id).")] = None,
    action: Annotated[
        str | None, typer.Option(help="Only this action: conversation.read, privacy.erase, ...")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 100,
) -> None:
    """Print the audit log: who read or changed which customer's data."""

    async def records(hub: HubServices) -> list[dict[str, Any]]:
        found = await hub.audit.list(
            customer_id=customer,
            actor_kind=actor_kind,
            actor_id=actor_id,
            action=action,
            limit=limit,
        )
        return [{**r.__dict__, "at": r.at.isoformat()} for r in found]

    _echo({"records": _with_hub(records)})


@privacy_app.command()
def retention(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would go; change nothing.")
    ] = False,
) -> None:
    """Apply the retention periods now; print the count per kind."""
    _echo(_with_hub(lambda hub: hub.retention.run(dry_run=dry_run)))


def _subject(channel: str, sender: str) -> Subject:
    try:
        return Subject(channel, sender)
    except InvalidPrivacyRequest as exc:
        _fail(str(exc))
