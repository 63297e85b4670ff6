"""The Slack channel: Events API and interactivity endpoints (signing secret), Block Kit buttons,
replies through ``chat.postMessage`` and the durable outbox."""

from slack_sdk.signature import SignatureVerifier

from channels.slack._api import CHANNEL, SlackApi, render
from channels.slack._router import (
    EVENTS,
    INTERACTIVITY,
    build_router,
    normalize_action,
    normalize_event,
)


def signature_verifier(signing_secret: str) -> SignatureVerifier:
    """slack-sdk's verifier of ``X-Slack-Signature`` for the app's signing secret."""
    return SignatureVerifier(signing_secret)


__all__ = [
    "CHANNEL",
    "EVENTS",
    "INTERACTIVITY",
    "SlackApi",
    "build_router",
    "normalize_action",
    "normalize_event",
    "render",
    "signature_verifier",
]
