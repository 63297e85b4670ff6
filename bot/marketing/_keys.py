"""How marketing's contacts map to the privacy module's customer keys.

Marketing names a contact by the id it is reached under: the shop's customer id on ``rest``,
identified web chat and e-mail, the app's own id (an openid, a chat id) on a messaging app. The
privacy module names every customer by one key (its consents, export, erasure and audit): the
shop's id where a channel vouches for it, else ``channel:sender``. Consents are read and written,
and a customer's marketing rows found, through these two functions, so that a Telegram
customer's opt-in, opt-out and erasure reach the same records.
"""

from __future__ import annotations

# The messaging apps: a contact's id there is the app's id for the person, not the shop's.
APP_CHANNELS = frozenset({"wechat", "wecom", "telegram", "slack", "feishu", "dingtalk"})


def privacy_key(customer_id: str, channel: str) -> str:
    """The privacy module's key of the contact ``customer_id`` on ``channel``."""
    return f"{channel}:{customer_id}"[:128] if channel in APP_CHANNELS else customer_id


def app_contact(key: str) -> tuple[str, str] | None:
    """``(app id, channel)`` of a messaging-app customer's privacy key ("telegram:42" →
    ("42", "telegram")); None for any other key."""
    channel, separator, sender = key.partition(":")
    if separator and channel in APP_CHANNELS and sender:
        return sender, channel
    return None
