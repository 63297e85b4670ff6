"""Wiring of one customer across apps: the phone-hash key, the links the app connectors make
(linking also moves the identity's recommendation events to the person, so the profile merges),
the privacy module's part, and the console's view of the person's other conversations."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bot.app._secrets import kept_secret
from bot.app._settings import Settings
from bot.conversations import ConversationService, customer_key
from bot.identity import IdentityService, InvalidPhone, PhoneHasher, is_link_request
from bot.recommend import RecommendService
from channels.connector import APP_NAMES

logger = logging.getLogger(__name__)

KEY_FILE = "identity-phone.key"
LINKED_MESSAGES = 20  # the latest messages of each linked conversation an agent sees


def phone_key(settings: Settings) -> bytes:
    """``BOT_IDENTITY_PHONE_KEY``, else a random key made once and kept under var_dir."""
    if settings.identity_phone_key is not None:
        return settings.identity_phone_key.get_secret_value().encode()
    return kept_secret(settings.var_dir, KEY_FILE).encode()


class CustomerLinks:
    """The app connectors' ``PhoneLinks``: identity links plus the merge of their events."""

    def __init__(
        self, identities: IdentityService, hasher: PhoneHasher, recommendations: RecommendService
    ) -> None:
        self._identities = identities
        self._hash = hasher
        self._recommendations = recommendations

    def phone_hash(self, phone: str) -> str | None:
        try:
            return self._hash(phone)
        except InvalidPhone:
            return None

    def asks_to_link(self, text: str) -> bool:
        return is_link_request(text)

    async def link(self, channel: str, sender: str, phone_hash: str) -> list[str]:
        result = await self._identities.link(channel, sender, phone_hash, source=channel)
        # Every identity's events now count for the person: the profile and the model merge.
        keys = [customer_key(channel, sender)] + [o.identity_key for o in result.others]
        for key in keys:
            await self._recommendations.merge_customer(key, result.person)
        return [o.channel for o in result.others]

    async def customer_key(self, channel: str, sender: str) -> str:
        person = await self._identities.person_of(channel, sender)
        return person or customer_key(channel, sender)


class LinkedCustomerData:
    """The privacy module's part: the identity's link, and the person's merged events, which
    an erasure removes with the link (the merged profile is that person's data too)."""

    def __init__(self, identities: IdentityService, recommendations: RecommendService) -> None:
        self._identities = identities
        self._recommendations = recommendations

    async def _person(self, key: str) -> str | None:
        channel, _, sender = key.partition(":")
        return await self._identities.person_of(channel, sender) if sender else None

    async def export_customer(self, customer_id: str) -> dict[str, object]:
        person = await self._person(customer_id)
        data = await self._identities.export_customer(customer_id)
        if person is not None:
            data["person_recommendations"] = await self._recommendations.export_customer(person)
        return data

    async def erase_customer(self, customer_id: str) -> dict[str, int]:
        person = await self._person(customer_id)
        counts = await self._identities.erase_customer(customer_id)
        merged = {"events": 0, "profiles": 0}
        if person is not None:
            merged = await self._recommendations.erase_customer(person)
        return {
            **counts,
            "person_events": merged.get("events", 0),
            "person_profiles": merged.get("profiles", 0),
        }


def linked_conversations(conversations: ConversationService, identities: IdentityService) -> Any:
    """The console's lookup: (channel, sender) → the person's conversations in other apps."""

    async def lookup(channel: str, sender: str) -> list[dict[str, Any]]:
        found = []
        for link in await identities.linked(channel, sender):
            conversation_id = await conversations.find(link.channel, link.sender)
            if conversation_id is None:
                continue
            messages = await conversations.history(conversation_id, limit=LINKED_MESSAGES)
            found.append(
                {
                    "channel": link.channel,
                    "conversation_id": conversation_id,
                    "linked_at": link.linked_at.isoformat(),
                    "messages": [m.as_json() for m in messages],
                }
            )
        return found

    return lookup


def linked_person(identities: IdentityService) -> Callable[[str, str], Awaitable[str | None]]:
    """The conversations' ``linked_customer`` lookup. Only a messaging app can vouch for a
    phone, so web-chat and REST turns skip the database read."""

    async def lookup(channel: str, sender: str) -> str | None:
        if channel not in APP_NAMES:
            return None
        return await identities.person_of(channel, sender)

    return lookup
