"""Wiring of the messaging apps: each app whose settings are complete gets its API client, its
connector (the shared contract) and its webhook routes; the others are not mounted at all."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from fastapi import FastAPI

from bot.app._container import HubServices
from bot.app._jobs import Job
from bot.app._settings import Settings
from channels import wechat
from channels.connector import AppConnector

logger = logging.getLogger(__name__)

API_TIMEOUT_S = 10.0


class IncompleteApp(ValueError):
    """An app has some of its settings but not all: the message names the missing ones."""


@dataclass(frozen=True)
class AppSetup:
    """One enabled app: its name, webhook path and connector."""

    name: str
    path: str
    connector: AppConnector


@dataclass
class Apps:
    """The enabled apps and the HTTP client their API calls share."""

    http: httpx.AsyncClient
    enabled: list[AppSetup] = field(default_factory=list)

    async def deliver_due(self) -> dict[str, dict[str, int]]:
        """Send or retry every due outbox message of every app."""
        return {a.name: await a.connector.deliver_due() for a in self.enabled}

    async def resume_unhandled(self) -> int:
        """Handle deliveries a stopped hub accepted but never handled."""
        return sum([await a.connector.resume_unhandled() for a in self.enabled])

    async def close(self) -> None:
        for app in self.enabled:
            await app.connector.drain()
        await self.http.aclose()


def _required(settings: Settings, app: str, names: list[str]) -> bool:
    """Whether ``app`` is enabled: none of its settings given → off; some → a clear error."""
    given = [n for n in names if getattr(settings, n)]
    if not given:
        return False
    missing = [f"BOT_{n.upper()}" for n in names if not getattr(settings, n)]
    if missing:
        raise IncompleteApp(f"{app} is half configured: set {', '.join(missing)} too")
    return True


def _secret(value: object) -> str:
    getter: Callable[[], str] | None = getattr(value, "get_secret_value", None)
    return getter() if getter else str(value)


def mount_apps(app: FastAPI, hub: HubServices) -> Apps:
    """Build and mount every configured app; raises ``IncompleteApp`` or ``ValueError``."""
    settings = hub.settings
    apps = Apps(httpx.AsyncClient(timeout=API_TIMEOUT_S))
    if _required(settings, "WeChat", ["wechat_app_id", "wechat_app_secret", "wechat_token"]):
        assert settings.wechat_app_id is not None
        token = _secret(settings.wechat_token)
        crypto = (
            wechat.safe_mode(token, _secret(settings.wechat_aes_key), settings.wechat_app_id)
            if settings.wechat_aes_key
            else None
        )
        api = wechat.WeChatApi(
            settings.wechat_api_url,
            settings.wechat_app_id,
            _secret(settings.wechat_app_secret),
            apps.http,
        )
        connector = AppConnector(
            api,
            hub.conversations,
            hub.outbox,
            default_language=settings.default_language,
            media=hub.media,
        )
        app.include_router(
            wechat.build_router(
                connector, token=token, crypto=crypto, window_s=settings.app_webhook_window_s
            )
        )
        apps.enabled.append(AppSetup("wechat", wechat.PATH, connector))
    for enabled in apps.enabled:
        logger.info("Messaging app %s mounted at %s", enabled.name, enabled.path)
    return apps


def app_jobs(settings: Settings, apps: Apps) -> list[Job]:
    """The outbox's retries and the recovery of interrupted deliveries, when an app is on."""
    if not apps.enabled:
        return []
    return [
        Job("outbox-deliver", settings.outbox_retry_s, apps.deliver_due),
        Job("outbox-resume-inbound", 30.0, apps.resume_unhandled),
    ]
