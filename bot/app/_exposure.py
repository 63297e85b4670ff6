"""Secure by default: the platform refuses to start exposed beyond this machine without the
settings that protect it, and says which to set."""

from __future__ import annotations

import ipaddress

from bot.app._settings import Settings


class InsecureSettings(ValueError):
    """The settings would expose the platform unprotected; the message names what to set."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` is an interface only this machine reaches."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def check_exposure(settings: Settings) -> None:
    """Raise ``InsecureSettings`` when the settings would open the platform to the network."""
    if not is_loopback(settings.host) and settings.api_key is None:
        raise InsecureSettings(
            f"BOT_HOST={settings.host} serves the hub beyond this machine, but BOT_API_KEY is "
            "not set: anyone who reaches it could post as any customer. Set BOT_API_KEY (the "
            "shop's back end sends it as 'Authorization: Bearer <key>'), or keep BOT_HOST="
            "127.0.0.1 behind a reverse proxy."
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
