"""Wiring of the messaging apps: each app whose settings are complete gets its API client, its
connector (the shared contract) and its webhook routes; the others are not mounted at all.
What the apps say of the messages after taking them reaches the campaigns: WeChat's template
receipts, Feishu's read events, and DingTalk's read status, asked by a job."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI

from bot.app._app_settings import APP_SETTINGS
from bot.app._container import HubServices
from bot.app._jobs import Job
from bot.app._marketing import (
    READ_QUERIED,
    TEMPLATE_RECEIPTS,
    AppReads,
    WeChatTemplateCourier,
    template_receipts,
)
from bot.app._scale import RedisTokens
from bot.app._settings import Settings
from bot.marketing import Campaigns
from channels import dingtalk, feishu, slack, telegram, wechat, wecom
from channels.connector import AckFirst, AckFirstMiddleware, AppConnector

logger = logging.getLogger(__name__)

API_TIMEOUT_S = 10.0
TELEGRAM_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


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
    # Deliveries are handled once no webhook is being answered (channels/connector/_acks.py).
    acks: AckFirst = field(default_factory=AckFirst)
    # The jobs asking the apps of READ_QUERIED what was read.
    read_jobs: list[Job] = field(default_factory=list)

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


def _required(settings: Settings, app: str, names: tuple[str, ...]) -> bool:
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


@dataclass(frozen=True)
class AppSpec:
    """A configured app before it is mounted: its API client and how to build its routes."""

    name: str
    path: str
    api: Any  # the app package's API client (an ``AppClient`` with a ``token``)
    routes: Callable[..., APIRouter]  # (connector, **the wiring's extras) -> routes


def configured_apps(settings: Settings, http: httpx.AsyncClient) -> list[AppSpec]:
    """Every app whose settings are complete; raises ``IncompleteApp`` or ``ValueError``."""
    specs: list[AppSpec] = []
    window = settings.app_webhook_window_s
    if _required(settings, "WeChat", APP_SETTINGS["wechat"]):
        app_id = str(settings.wechat_app_id)
        token = _secret(settings.wechat_token)
        crypto = (
            wechat.safe_mode(token, _secret(settings.wechat_aes_key), app_id)
            if settings.wechat_aes_key
            else None
        )
        api = wechat.WeChatApi(
            settings.wechat_api_url, app_id, _secret(settings.wechat_app_secret), http
        )
        specs.append(
            AppSpec(
                "wechat",
                wechat.PATH,
                api,
                partial(wechat.build_router, token=token, crypto=crypto, window_s=window),
            )
        )
    if _required(settings, "WeCom", APP_SETTINGS["wecom"]):
        corp_id, agent_id = str(settings.wecom_corp_id), str(settings.wecom_agent_id)
        if not agent_id.isdigit():
            raise ValueError(f"BOT_WECOM_AGENT_ID must be the app's number, not {agent_id!r}")
        crypto = wecom.callback_crypto(
            _secret(settings.wecom_token), _secret(settings.wecom_aes_key), corp_id
        )
        wecom_api = wecom.WeComApi(
            settings.wecom_api_url, corp_id, agent_id, _secret(settings.wecom_secret), http
        )
        specs.append(
            AppSpec(
                "wecom",
                wecom.PATH,
                wecom_api,
                partial(wecom.build_router, crypto=crypto, agent_id=agent_id, window_s=window),
            )
        )
    if _required(settings, "Telegram", APP_SETTINGS["telegram"]):
        secret = _secret(settings.telegram_secret_token)
        if not TELEGRAM_SECRET.fullmatch(secret):
            raise ValueError(
                "BOT_TELEGRAM_SECRET_TOKEN must be 1-256 characters of A-Z, a-z, 0-9, _ and -"
            )
        telegram_api = telegram.TelegramApi(
            settings.telegram_api_url, _secret(settings.telegram_bot_token), http
        )
        username = (settings.telegram_bot_username or "").lstrip("@") or None
        specs.append(
            AppSpec(
                "telegram",
                telegram.PATH,
                telegram_api,
                partial(telegram.build_router, secret_token=secret, bot_username=username),
            )
        )
    if _required(settings, "Slack", APP_SETTINGS["slack"]):
        verifier = slack.signature_verifier(_secret(settings.slack_signing_secret))
        specs.append(
            AppSpec(
                "slack",
                slack.EVENTS,
                slack.SlackApi(settings.slack_api_url, _secret(settings.slack_bot_token), http),
                partial(slack.build_router, verifier=verifier),
            )
        )
    if _required(settings, "Feishu", APP_SETTINGS["feishu"]):
        feishu_api = feishu.FeishuApi(
            settings.feishu_api_url,
            str(settings.feishu_app_id),
            _secret(settings.feishu_app_secret),
            http,
        )
        routes = partial(
            feishu.build_router,
            encrypt_key=_secret(settings.feishu_encrypt_key),
            verification_token=_secret(settings.feishu_verification_token),
            window_s=window,
        )
        specs.append(AppSpec("feishu", feishu.PATH, feishu_api, routes))
    if _required(settings, "DingTalk", APP_SETTINGS["dingtalk"]):
        app_secret = _secret(settings.dingtalk_app_secret)
        dingtalk_api = dingtalk.DingTalkApi(
            settings.dingtalk_api_url,
            str(settings.dingtalk_app_key),
            app_secret,
            str(settings.dingtalk_robot_code),
            http,
            oapi_url=settings.dingtalk_oapi_url,
        )
        specs.append(
            AppSpec(
                "dingtalk",
                dingtalk.PATH,
                dingtalk_api,
                partial(dingtalk.build_router, app_secret=app_secret, window_s=window),
            )
        )
    return specs


def mount_apps(app: FastAPI, hub: HubServices) -> Apps:
    """Build and mount every configured app; raises ``IncompleteApp`` or ``ValueError``."""
    apps = Apps(httpx.AsyncClient(timeout=API_TIMEOUT_S))
    shared = RedisTokens(hub.redis) if hub.redis is not None else None
    specs = configured_apps(hub.settings, apps.http)
    reads = AppReads(hub.outbox, hub.campaigns)
    if specs:
        app.add_middleware(AckFirstMiddleware, gate=apps.acks, prefix="/channels/")
    for spec in specs:
        token = getattr(spec.api, "token", None)
        if shared is not None and token is not None:
            token.share(shared, spec.name)  # one token for every replica (see CachedToken)
        connector = AppConnector(
            spec.api,
            hub.conversations,
            hub.outbox,
            default_language=hub.settings.default_language,
            media=hub.media,
            recommendations=hub.recommendations,
            links=hub.links,
            acks=apps.acks,
        )
        routes = spec.routes
        if spec.name == "wechat":
            # Template messages' delivery receipts reach the campaigns that sent them.
            routes = partial(routes, template_finished=template_receipts(hub.campaigns))
        if spec.name == "feishu":
            routes = partial(routes, messages_read=partial(reads.read, "feishu"))
        within = READ_QUERIED.get(spec.name)
        if within is not None:
            ask = partial(reads.ask, spec.name, spec.api.read_at, within)
            # Every BOT_APP_READ_CHECK_S; a run asks at most READS_ASKED_AT_ONCE questions.
            every = hub.settings.app_read_check_s
            apps.read_jobs.append(Job(f"{spec.name}-read-status", every, ask))
        app.include_router(routes(connector))
        # First in the route list: a request is matched against the routes in order, and on
        # this hub's ~90 routes reaching the last took about 1 ms of the event loop per
        # webhook (FastAPI checks each included router's version as it passes), which a
        # burst of webhooks waits for in turn. The apps' paths overlap no other route.
        app.router.routes.insert(0, app.router.routes.pop())
        apps.enabled.append(AppSetup(spec.name, spec.path, connector))
        logger.info("Messaging app %s mounted at %s", spec.name, spec.path)
    return apps


def reach_outside_windows(settings: Settings, apps: Apps, campaigns: Campaigns) -> None:
    """Campaign messages past WeChat's 48-hour window go as template messages when
    ``BOT_WECHAT_CAMPAIGN_TEMPLATE_ID`` is set (through the channel's own API client, so its
    access token is the one the channel uses)."""
    template = settings.wechat_campaign_template_id
    if template is None:
        return
    client = next((a.connector.client for a in apps.enabled if a.name == "wechat"), None)
    if not isinstance(client, wechat.WeChatApi):
        logger.warning("BOT_WECHAT_CAMPAIGN_TEMPLATE_ID is set but the WeChat channel is off")
        return
    courier = WeChatTemplateCourier(client, template, settings.wechat_campaign_template_field)
    campaigns.reach_outside_window("wechat", courier.label, courier)
    campaigns.follow_receipts(f"wechat:{courier.label}", TEMPLATE_RECEIPTS)


def webhook_url(settings: Settings, path: str) -> str:
    """The URL to paste into the app's console."""
    return (settings.public_url or settings.hub_url).rstrip("/") + path


def app_jobs(settings: Settings, apps: Apps) -> list[Job]:
    """The outbox's retries and the recovery of interrupted deliveries, when an app is on, and
    the read-status questions of the apps that answer them (DingTalk)."""
    if not apps.enabled:
        return []
    return [
        Job("outbox-deliver", settings.outbox_retry_s, apps.deliver_due),
        Job("outbox-resume-inbound", 30.0, apps.resume_unhandled),
        *apps.read_jobs,
    ]
