"""The privacy requests customers type in a chat, wired into the conversation flow: the privacy
module answers them (``bot.privacy.ChatRequests``), the conversation service asks it first in
``bot`` mode and stores and delivers its answer as the hub's own message."""

from __future__ import annotations

from functools import partial

from bot.app._secrets import kept_secret
from bot.app._settings import Settings
from bot.conversations import CommandAnswer, CustomerCommand
from bot.dialogue import BotReply
from bot.privacy import ChatAnswer, ChatRequests, EarlierMessage, ExportLinks

KEY_FILE = "privacy-link.key"


def export_links(settings: Settings) -> ExportLinks:
    """Download links on ``BOT_PUBLIC_URL`` (without it: relative in web chat, whose widget
    resolves them against the hub, and on the hub's own address in the apps), keyed by
    ``BOT_PRIVACY_LINK_SECRET`` or a random secret kept under var_dir."""
    if settings.privacy_link_secret is not None:
        secret = settings.privacy_link_secret.get_secret_value()
    else:
        secret = kept_secret(settings.var_dir, KEY_FILE)
    return ExportLinks(secret, settings.public_url, fallback_url=settings.hub_url)


async def privacy_command(requests: ChatRequests, command: CustomerCommand) -> CommandAnswer | None:
    """The privacy module's answer to the message as the hub's reply, or None (not a request)."""
    answer = await requests.answer(
        command.channel,
        command.sender,
        command.text,
        command.language,
        partial(_earlier, command),
    )
    if answer is None:
        return None
    kept = None if answer.kept is None else [_reply(answer.kept)]
    return CommandAnswer([_reply(answer)], erased=answer.erased, kept=kept)


def _reply(answer: ChatAnswer) -> BotReply:
    custom: dict[str, object] = {"kind": answer.kind}
    if answer.link is not None and answer.expires_at is not None:
        custom |= {"link": answer.link, "expires_at": answer.expires_at.isoformat()}
    return BotReply(text=answer.text, custom=custom)


async def _earlier(command: CustomerCommand) -> EarlierMessage | None:
    """The message before the request as the privacy module reads it: who, the ``kind`` the
    hub gave its own reply, and when."""
    message = await command.earlier()
    if message is None:
        return None
    custom = (message.payload or {}).get("custom")
    kind = custom.get("kind") if isinstance(custom, dict) else None
    return EarlierMessage(
        message.author, kind if isinstance(kind, str) else None, message.created_at
    )
