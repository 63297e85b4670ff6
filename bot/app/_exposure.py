"""Secure by default: the platform refuses to start exposed beyond this machine without the
settings that protect it, and says which to set."""

from __future__ import annotations

import logging

from bot.app._settings import Settings
from channels.connector import is_loopback

logger = logging.getLogger(__name__)


class InsecureSettings(ValueError):
    """The settings would expose the platform unprotected; the message names what to set."""


def console_cookies_secure(settings: Settings) -> bool:
    """Whether the console's cookies get ``Secure``: as set, else whenever the console may be
    reached from elsewhere (an https public address, or a hub listening beyond loopback), where
    a session cookie sent over plain http could be read on the way."""
    if settings.console_secure_cookies is not None:
        return settings.console_secure_cookies
    public = (settings.public_url or "").lower().startswith("https://")
    return public or not is_loopback(settings.host)


def check_exposure(settings: Settings) -> None:
    """Raise ``InsecureSettings`` when the settings would open the platform to the network."""
    if not is_loopback(settings.host) and settings.api_key is None:
        raise InsecureSettings(
            f"BOT_HOST={settings.host} serves the hub beyond this machine, but BOT_API_KEY is "
            "not set: anyone who reaches it could post as any customer. Set BOT_API_KEY (the "
            "shop's back end sends it as 'Authorization: Bearer <key>'), or keep BOT_HOST="
            "127.0.0.1 behind a reverse proxy."
        )
    if not is_loopback(settings.host) and settings.console_secure_cookies is False:
        logger.warning(
            "BOT_HOST=%s with BOT_CONSOLE_SECURE_COOKIES=false: console sessions travel over "
            "plain http; keep that to a trusted network",
            settings.host,
        )
    for name, host in (
        ("BOT_RASA_HOST", settings.rasa_host),
        ("BOT_ACTIONS_HOST", settings.actions_host),
    ):
        if not is_loopback(host):
            raise InsecureSettings(
                f"{name}={host}: Rasa and the action server are reached only by the hub and "
                "the action server has no authentication; keep them on 127.0.0.1."
            )
