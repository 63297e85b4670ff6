"""``python -m bot channels``: check the messaging apps' settings, list stuck outbox messages."""

from __future__ import annotations

import asyncio
import json

import httpx
import typer

from bot.app._apps import API_TIMEOUT_S, IncompleteApp, configured_apps, webhook_url
from bot.app._cli_settings import cli_settings
from bot.outbox import Outbox
from bot.storage import Database

channels_app = typer.Typer(help="Messaging apps (WeChat…).", no_args_is_help=True)


@channels_app.command()
def check(
    offline: bool = typer.Option(False, help="Check the settings only; do not ask for a token."),
) -> None:
    """Validate every enabled app (settings, keys, an access token) and print its webhook URL."""
    settings = cli_settings()

    async def run() -> int:
        failures = 0
        async with httpx.AsyncClient(timeout=API_TIMEOUT_S) as http:
            try:
                specs = configured_apps(settings, http)
            except (IncompleteApp, ValueError) as exc:
                typer.echo(f"error: {exc}", err=True)
                return 1
            if not specs:
                typer.echo("No messaging app is configured (set BOT_WECHAT_APP_ID and the rest).")
            for spec in specs:
                status = "settings ok"
                if not offline:
                    try:
                        status = f"settings ok, {await spec.api.check()}"
                    except Exception as exc:  # noqa: BLE001 - any failure is reported, per app
                        status = f"FAILED: {exc}"
                        failures += 1
                url = webhook_url(settings, spec.path)
                typer.echo(f"{spec.name}: {status}\n  webhook URL: {url}")
        return failures

    failures = asyncio.run(run())
    if failures:
        raise typer.Exit(code=1)


@channels_app.command()
def stuck(limit: int = typer.Option(50, min=1, max=1000)) -> None:
    """Outbox messages not delivered after an attempt, or given up (newest first), as JSON."""
    settings = cli_settings()

    async def run() -> list[dict[str, object]]:
        database = Database(settings.hub_database_url)
        try:
            await database.migrate()
            rows = await Outbox(database).stuck(limit)
        finally:
            database.dispose()
        return [
            {
                "id": r.id,
                "channel": r.channel,
                "conversation_id": r.conversation_id,
                "status": r.status,
                "attempts": r.attempts,
                "last_error": r.last_error,
                "created_at": r.created_at.isoformat(),
                "next_attempt_at": r.next_attempt_at.isoformat(),
            }
            for r in rows
        ]

    typer.echo(json.dumps(asyncio.run(run()), ensure_ascii=False, indent=2))
