"""Who a sender is: the shop's own customer id where the channel vouches for it.

One rule for every module: the conversations (what the dialogue may show without the phone
check), and the privacy requests, consents, tickets and audit records (whom they name).
"""

from __future__ import annotations

# Channels whose sender id is the shop's own customer id (see ``customer_id``).
IDENTIFIED_CHANNELS = frozenset({"rest"})
# Channels whose sender is the shop's customer id behind this prefix when the channel verified it
# (web chat: a session the shop's site identified with an HMAC). A session id cannot hold ':',
# so only the hub can name such a sender.
VERIFIED_SENDER_PREFIX = {"webchat": "customer:"}


def customer_id(channel: str, sender: str) -> str | None:
    """The shop's id of the customer, or None when the channel cannot vouch for who it is.

    On ``rest`` the shop's own back end calls the hub (behind ``BOT_API_KEY`` in production) and
    names its logged-in customer. A web-chat session id is chosen by the browser, so anyone could
    claim to be anyone: those customers stay anonymous (orders need the phone check, no VIP),
    unless the shop's site identified the session with the customer's HMAC, which the web-chat
    channel checked before naming the sender ``customer:<id>`` (see ``identified_sender``).
    """
    if channel in IDENTIFIED_CHANNELS:
        return sender
    prefix = VERIFIED_SENDER_PREFIX.get(channel)
    if prefix is not None and sender.startswith(prefix) and len(sender) > len(prefix):
        return sender[len(prefix) :]
    return None


def identified_sender(channel: str, customer_id: str) -> str:
    """The sender under which the shop's customer ``customer_id`` writes on ``channel``: the id
    itself on ``rest`` and on the messaging apps (whose contacts are the apps' ids), the
    verified form on web chat. The inverse of ``customer_id`` where that one vouches."""
    return VERIFIED_SENDER_PREFIX.get(channel, "") + customer_id


def vouched_senders(customer_id: str) -> list[tuple[str, str]]:
    """Every ``(channel, sender)`` under which a channel vouches that the shop's customer
    ``customer_id`` writes (``rest``: the id; ``webchat``: ``customer:<id>``): where the
    customer's own conversations are, whichever front end they used."""
    channels = sorted(IDENTIFIED_CHANNELS | VERIFIED_SENDER_PREFIX.keys())
    return [(channel, identified_sender(channel, customer_id)) for channel in channels]


def customer_key(channel: str, sender: str) -> str:
    """Whom a customer's tickets and audit records name: the shop's customer id where the channel
    vouches for it, else ``channel:sender`` (a web-chat session id means nothing on its own)."""
    return customer_id(channel, sender) or f"{channel}:{sender}"[:128]


def anonymous_sender(channel: str, sender: str) -> bool:
    """Whether the channel could vouch for the shop's customer but did not for this sender (an
    anonymous web-chat session): a stand-in for no stable person, who can give no marketing
    consent, nor be reached by marketing."""
    return channel in VERIFIED_SENDER_PREFIX and customer_id(channel, sender) is None
