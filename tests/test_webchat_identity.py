"""Identified web-chat customers against a live hub (real socket.io, real SQLite; a local server
stands in for Rasa and records what the hub sent it): the shop's HMAC of the customer id makes
the session that customer's, in every browser of theirs; a forged, borrowed, script or overlong
id leaves it anonymous and says why; a session id never changes whom it stands for; the
customer's export and erasure through the shop's API cover the identified conversation."""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from bot.app import Settings
from bot.conversations import customer_id, customer_key, identified_sender
from channels.webchat import CustomerIdentity, IdentityRefused, WebchatSessions, customer_hash
from tests.app_standin import AppStandIn, running
from tests.live_hub import hub_settings, serving
from tests.test_webchat_channel import Hub, Widget

SECRET = "s3cret-shared-by-the-shop-and-the-hub-0123"
KEY = "k" * 32
API = {"Authorization": f"Bearer {KEY}"}
CUSTOMER = "customer-001"
OTHER = "customer-002"


def auth(customer: str, secret: str = SECRET) -> dict[str, str]:
    """What the shop's server renders into the page for its logged-in customer."""
    return {"customer_id": customer, "customer_hash": customer_hash(secret, customer)}


class ShopWidget(Widget):
    """A widget on the shop's page: connects with the customer's id and hash, if any."""

    def __init__(self, url: str, identity: dict[str, Any] | None) -> None:
        super().__init__(url)
        self.identity = identity
        self.client.on("identity", self._recorder("identity"))

    async def start(self, **request: Any) -> str:
        await self.client.connect(
            self.url, transports=["websocket"], wait_timeout=10, auth=self.identity
        )
        await self.client.emit("session_request", request)
        return str(await self.next("session_confirm"))


@pytest.fixture
def rasa() -> Iterator[AppStandIn]:
    with running(AppStandIn()) as stand_in:
        yield stand_in


def live_hub(var_dir: Path, rasa: AppStandIn, **overrides: Any) -> AbstractAsyncContextManager[Hub]:
    """A hub whose Rasa is the stand-in, with the shop's API key."""
    settings = hub_settings(
        var_dir, rasa_port=rasa.port, actions_port=rasa.port, api_key=KEY, **overrides
    )
    return serving(settings)


@pytest.fixture
async def hub(tmp_path: Path, rasa: AppStandIn) -> AsyncIterator[Hub]:
    async with live_hub(tmp_path, rasa, webchat_identity_secret=SECRET) as served:
        yield served


async def session_sender(hub: Hub, session_id: str) -> str | None:
    return await WebchatSessions(hub.services.database).sender_of(session_id)


@pytest.fixture
async def shop(hub: Hub) -> AsyncIterator[Callable[[dict[str, Any] | None], ShopWidget]]:
    made: list[ShopWidget] = []

    def make(identity: dict[str, Any] | None) -> ShopWidget:
        made.append(ShopWidget(hub.url, identity))
        return made[-1]

    yield make
    for widget in made:
        await widget.client.disconnect()


def test_the_vouched_sender_is_the_channels_own_form() -> None:
    sender = identified_sender("webchat", CUSTOMER)
    assert sender == f"customer:{CUSTOMER}"
    assert (customer_id("webchat", sender), customer_key("webchat", sender)) == (CUSTOMER, CUSTOMER)
    # A browser's session id never has the form: it stays anonymous whatever it spells.
    assert customer_id("webchat", CUSTOMER) is None
    assert customer_key("webchat", CUSTOMER) == f"webchat:{CUSTOMER}"
    assert customer_id("webchat", "customer:") is None
    # Other channels keep their own rules.
    assert (identified_sender("rest", CUSTOMER), customer_id("rest", CUSTOMER)) == (
        CUSTOMER,
        CUSTOMER,
    )
    assert identified_sender("telegram", "4242") == "4242"
    assert customer_id("telegram", "customer:4242") is None


async def test_a_verified_customer_is_one_conversation_in_every_browser(
    hub: Hub, shop: Callable[[dict[str, Any] | None], ShopWidget], rasa: AppStandIn
) -> None:
    laptop, phone = shop(auth(CUSTOMER)), shop(auth(CUSTOMER))
    laptop_session = await laptop.start(last_message_id=0)
    assert await laptop.next("identity") == {"verified": True, "customer_id": CUSTOMER}
    phone_session = await phone.start(last_message_id=0)
    assert await phone.next("identity") == {"verified": True, "customer_id": CUSTOMER}
    assert laptop_session != phone_session

    assert (await laptop.say("你好", laptop_session))["ok"] is True
    # The dialogue is told who the customer is: actions show their orders without the phone.
    [seen] = rasa.rasa_seen
    assert seen["sender"] == await hub.services.conversations.find(
        "webchat", f"customer:{CUSTOMER}"
    )
    assert (seen["metadata"]["customer_id"], seen["metadata"]["customer_key"]) == (
        CUSTOMER,
        CUSTOMER,
    )
    # The reply reaches both browsers; the phone sees the laptop's message in its history.
    assert (await laptop.next("bot_uttered"))["text"] == "echo: 你好"
    assert (await phone.next("bot_uttered"))["text"] == "echo: 你好"
    conversation = await hub.services.conversations.find("webchat", f"customer:{CUSTOMER}")
    assert conversation is not None
    posted = await hub.services.conversations.post(conversation, "Spring sale!", author="system")
    for widget in (laptop, phone):
        assert (await widget.next("bot_uttered", count=2))["message_id"] == posted.id
    reloaded = shop(auth(CUSTOMER))
    assert await reloaded.start(session_id=phone_session, last_message_id=0) == phone_session
    items = (await reloaded.next("history"))["messages"]
    assert [(i["direction"], i["text"]) for i in items] == [
        ("in", "你好"),
        ("out", "echo: 你好"),
        ("out", "Spring sale!"),
    ]
    # The session ids (the uploads' credential) stand for the customer, not for themselves.
    for session_id in (laptop_session, phone_session):
        assert await session_sender(hub, session_id) == f"customer:{CUSTOMER}"
    assert await hub.services.conversations.find("webchat", laptop_session) is None


# Another customer's hash replayed with this id; a made-up one; another secret's; no hash or a
# malformed one; no id, markup, overlong, the hub's own sender form, not text.
REFUSED: list[tuple[dict[str, Any], str]] = [
    (
        {"customer_id": OTHER, "customer_hash": auth(CUSTOMER)["customer_hash"]},
        "wrong_customer_hash",
    ),
    ({"customer_id": CUSTOMER, "customer_hash": "0" * 64}, "wrong_customer_hash"),
    (auth(CUSTOMER, secret="another-shops-secret-0123456789abcdef"), "wrong_customer_hash"),
    ({"customer_id": CUSTOMER}, "bad_customer_hash"),
    ({"customer_id": CUSTOMER, "customer_hash": "not hex"}, "bad_customer_hash"),
    ({"customer_hash": auth(CUSTOMER)["customer_hash"]}, "bad_customer_id"),
    (auth("<script>alert(1)</script>"), "bad_customer_id"),
    (auth("c" * 65), "bad_customer_id"),
    (auth("customer:001"), "bad_customer_id"),
    ({"customer_id": 1, "customer_hash": auth("1")["customer_hash"]}, "bad_customer_id"),
]


@pytest.mark.parametrize(("identity", "reason"), REFUSED)
def test_the_verifier_refuses_and_names_why(identity: dict[str, Any], reason: str) -> None:
    with pytest.raises(IdentityRefused) as refused:
        CustomerIdentity(SECRET).verify(identity)
    assert refused.value.reason == reason
    assert str(refused.value)


async def test_a_refused_identity_stays_anonymous_and_says_why(
    hub: Hub, shop: Callable[[dict[str, Any] | None], ShopWidget]
) -> None:
    # Every case through a real socket (one hub: starting one per case costs seconds each).
    for identity, reason in REFUSED:
        widget = shop(identity)
        session_id = await widget.start()
        told = await widget.next("identity")
        assert told == {
            "verified": False,
            "customer_id": None,
            "error": {"reason": reason, "detail": str(_refusal(identity))},
        }
        assert (await widget.say("hello", session_id))["ok"] is True
        # The message is the anonymous session's: nobody's orders, no customer id for Rasa.
        assert await hub.services.conversations.find("webchat", session_id) is not None
        await widget.client.disconnect()
    for someone in (CUSTOMER, OTHER):
        assert await hub.services.conversations.find("webchat", f"customer:{someone}") is None


def _refusal(identity: dict[str, Any]) -> IdentityRefused:
    try:
        CustomerIdentity(SECRET).verify(identity)
    except IdentityRefused as exc:
        return exc
    raise AssertionError("the identity was accepted")


async def test_an_anonymous_widget_is_told_nothing(
    shop: Callable[[dict[str, Any] | None], ShopWidget],
) -> None:
    widget = shop(None)
    await widget.start(last_message_id=0)
    await widget.next("history")
    assert widget.of("identity") == []


async def test_without_a_secret_an_id_is_refused_and_said_so(
    tmp_path: Path, rasa: AppStandIn
) -> None:
    async with live_hub(tmp_path, rasa) as hub:
        widget = ShopWidget(hub.url, auth(CUSTOMER))
        try:
            session_id = await widget.start()
            told = await widget.next("identity")
            assert (told["verified"], told["error"]["reason"]) == (False, "identity_off")
            assert "BOT_WEBCHAT_IDENTITY_SECRET" in told["error"]["detail"]
            assert (await widget.say("hi", session_id))["ok"] is True
            assert await hub.services.conversations.find("webchat", session_id) is not None
        finally:
            await widget.client.disconnect()


async def test_a_session_id_stands_for_one_sender_for_good(
    hub: Hub, shop: Callable[[dict[str, Any] | None], ShopWidget]
) -> None:
    customer = shop(auth(CUSTOMER))
    session_id = await customer.start()
    await customer.say("my order", session_id)
    # The browser logged out but kept the id: a new anonymous session, none of the history.
    logged_out = shop(None)
    fresh = await logged_out.start(session_id=session_id, last_message_id=0)
    assert fresh != session_id
    assert await logged_out.next("history") == {"messages": []}
    # Another customer naming it gets a session of their own.
    other = shop(auth(OTHER))
    assert await other.start(session_id=session_id) != session_id
    # An identified customer does not take over an anonymous session id, nor pick a new one.
    anonymous = shop(None)
    anonymous_id = await anonymous.start()
    assert await shop(auth(CUSTOMER)).start(session_id=anonymous_id) != anonymous_id
    assert await shop(auth(CUSTOMER)).start(session_id="chosen-by-the-page") != (
        "chosen-by-the-page"
    )
    # A message naming the customer's session from an anonymous socket is refused.
    ack = await logged_out.say("hello", session_id)
    assert ack == {"ok": False, "error": "send session_request with a session_id first"}


async def test_identified_connections_are_rate_limited_per_address(
    hub: Hub, shop: Callable[[dict[str, Any] | None], ShopWidget]
) -> None:
    for _ in range(60):
        widget = shop(auth(CUSTOMER))
        await widget.start()
        assert (await widget.next("identity"))["verified"] is True
        await widget.client.disconnect()
    over = shop(auth(CUSTOMER))
    await over.start()
    told = await over.next("identity")
    assert (told["verified"], told["error"]["reason"]) == (False, "rate_limited")
    assert "identified web-chat connections a minute" in told["error"]["detail"]


async def test_the_customers_export_and_erasure_cover_the_identified_conversation(
    hub: Hub, shop: Callable[[dict[str, Any] | None], ShopWidget]
) -> None:
    widget = shop(auth(CUSTOMER))
    session_id = await widget.start()
    await widget.say("我的手机号是13530246633", session_id)
    await widget.next("bot_uttered")
    sender = f"customer:{CUSTOMER}"
    conversation = await hub.services.conversations.find("webchat", sender)
    async with httpx.AsyncClient(base_url=hub.url, headers=API, timeout=30) as client:
        export = await client.get("/api/privacy/export", params={"sender": CUSTOMER})
        assert export.status_code == 200, export.text
        with zipfile.ZipFile(io.BytesIO(export.content)) as archive:
            data = json.loads(archive.read("data.json"))
        part = data["webchat_identified"]
        assert part["conversation"]["id"] == conversation
        assert [m["text"] for m in part["conversation"]["messages"]] == [
            "我的手机号是13530246633",
            "echo: 我的手机号是13530246633",
        ]
        # Someone else's export holds none of it.
        other = await client.get("/api/privacy/export", params={"sender": OTHER})
        with zipfile.ZipFile(io.BytesIO(other.content)) as archive:
            assert json.loads(archive.read("data.json"))["webchat_identified"] == {
                "conversation": None,
                "dialogue_events": [],
                "media": [],
            }

        erased = await client.post("/api/privacy/erase", json={"sender": CUSTOMER})
        assert erased.status_code == 200, erased.text
        counts = erased.json()["others"]["webchat_identified"]
        assert (counts["conversations"], counts["messages"], counts["sessions"]) == (1, 2, 1)
    assert await hub.services.conversations.find("webchat", sender) is None
    # The erased session id stands for nobody now.
    assert await session_sender(hub, session_id) is None


def test_the_secret_must_be_long() -> None:
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings(_env_file=None, webchat_identity_secret="short")  # type: ignore[call-arg]


@pytest.mark.parametrize("given", [None, "x", 42, {"customer_id": CUSTOMER}])
def test_the_verifier_refuses_without_a_secret(given: Any) -> None:
    with pytest.raises(IdentityRefused) as refused:
        CustomerIdentity(None).verify(given)
    assert refused.value.reason == "identity_off"


def test_the_verifier_takes_the_shops_two_lines() -> None:
    import hashlib
    import hmac

    shop_hash = hmac.new(SECRET.encode(), CUSTOMER.encode(), hashlib.sha256).hexdigest()
    verifier = CustomerIdentity(SECRET)
    assert verifier.verify({"customer_id": CUSTOMER, "customer_hash": shop_hash}) == CUSTOMER
    assert verifier.verify({"customer_id": CUSTOMER, "customer_hash": shop_hash.upper()}) == (
        CUSTOMER
    )
    assert not verifier.claimed(None)
    assert not verifier.claimed({"token": "x"})
    assert verifier.claimed({"customer_id": CUSTOMER})


# ---- expiring hashes ----------------------------------------------------------------------

NOW = 1_780_000_000  # the verifier's clock in the unit tests (unix seconds)


def expiring(customer: str, expires: int | str, secret: str = SECRET) -> dict[str, Any]:
    """What the shop's server renders when it signs an expiry in: the hash of "id:expires"."""
    return {
        "customer_id": customer,
        "customer_hash": customer_hash(secret, customer, int(expires)),
        "customer_expires": expires,
    }


def at_now(max_age_s: int = 0) -> CustomerIdentity:
    return CustomerIdentity(SECRET, max_age_s, clock=lambda: float(NOW))


@pytest.mark.parametrize(
    ("max_age_s", "identity"),
    [
        (0, auth(CUSTOMER)),  # no max age: the id-only hash still works
        (0, expiring(CUSTOMER, NOW + 3600)),
        (0, expiring(CUSTOMER, str(NOW + 3600))),  # data-* attributes arrive as text
        (0, {**expiring(CUSTOMER, NOW + 60), "customer_expires": str(NOW + 60)}),
        (3600, expiring(CUSTOMER, NOW + 3600)),
        (3600, expiring(CUSTOMER, NOW + 3600 + 60)),  # the shop's clock a minute ahead
        (0, {**auth(CUSTOMER), "customer_expires": ""}),  # an empty attribute is none
    ],
)
def test_expiring_hashes_are_taken_while_they_last(
    max_age_s: int, identity: dict[str, Any]
) -> None:
    assert at_now(max_age_s).verify(identity) == CUSTOMER


EXPIRY_REFUSED: list[tuple[int, dict[str, Any], str]] = [
    (0, expiring(CUSTOMER, NOW - 1), "expired_customer_hash"),
    (0, expiring(CUSTOMER, NOW), "expired_customer_hash"),
    (3600, expiring(CUSTOMER, NOW - 3600), "expired_customer_hash"),
    # The id-only hash where the hub requires an expiry.
    (3600, auth(CUSTOMER), "bad_customer_expires"),
    # Further ahead than the max age allows; milliseconds instead of seconds.
    (3600, expiring(CUSTOMER, NOW + 3600 + 61), "bad_customer_expires"),
    (0, expiring(CUSTOMER, NOW * 1000), "bad_customer_expires"),
    (0, {**auth(CUSTOMER), "customer_expires": "soon"}, "bad_customer_expires"),
    (0, {**auth(CUSTOMER), "customer_expires": -5}, "bad_customer_expires"),
    (0, {**auth(CUSTOMER), "customer_expires": 1.5}, "bad_customer_expires"),
    (0, {**auth(CUSTOMER), "customer_expires": True}, "bad_customer_expires"),
    # The expiry changed after signing, or the id-only hash sent with an expiry: not signed.
    (0, {**expiring(CUSTOMER, NOW + 60), "customer_expires": NOW + 86400}, "wrong_customer_hash"),
    (0, {**auth(CUSTOMER), "customer_expires": NOW + 60}, "wrong_customer_hash"),
    # An expiring hash sent without its expiry is no id-only hash.
    (
        0,
        {"customer_id": CUSTOMER, "customer_hash": expiring(CUSTOMER, NOW + 60)["customer_hash"]},
        "wrong_customer_hash",
    ),
]


@pytest.mark.parametrize(("max_age_s", "identity", "reason"), EXPIRY_REFUSED)
def test_expired_or_unsigned_stamps_are_refused_and_named(
    max_age_s: int, identity: dict[str, Any], reason: str
) -> None:
    with pytest.raises(IdentityRefused) as refused:
        at_now(max_age_s).verify(identity)
    assert refused.value.reason == reason
    assert str(refused.value)


async def test_an_expiring_hash_identifies_and_an_expired_one_says_why(
    hub: Hub, shop: Callable[[dict[str, Any] | None], ShopWidget]
) -> None:
    now = int(time.time())
    fresh = shop(expiring(CUSTOMER, now + 3600))
    fresh_session = await fresh.start()
    assert await fresh.next("identity") == {"verified": True, "customer_id": CUSTOMER}
    assert await session_sender(hub, fresh_session) == f"customer:{CUSTOMER}"

    stale = shop(expiring(CUSTOMER, now - 60))
    stale_session = await stale.start()
    assert await stale.next("identity") == {
        "verified": False,
        "customer_id": None,
        "error": {
            "reason": "expired_customer_hash",
            "detail": "customer_expires has passed: the shop's page must render a fresh "
            "customer_hash; the chat stays anonymous",
        },
    }
    assert await session_sender(hub, stale_session) == stale_session  # anonymous


async def test_a_hub_with_a_max_age_requires_the_expiry(tmp_path: Path, rasa: AppStandIn) -> None:
    settings = {"webchat_identity_secret": SECRET, "webchat_identity_max_age_s": 3600}
    async with live_hub(tmp_path, rasa, **settings) as hub:
        widgets = [
            ShopWidget(hub.url, auth(CUSTOMER)),
            ShopWidget(hub.url, expiring(CUSTOMER, int(time.time()) + 7 * 86400)),
            ShopWidget(hub.url, expiring(CUSTOMER, int(time.time()) + 1800)),
        ]
        try:
            told = []
            for widget in widgets:
                await widget.start()
                told.append(await widget.next("identity"))
        finally:
            for widget in widgets:
                await widget.client.disconnect()
    assert [(t["verified"], (t.get("error") or {}).get("reason")) for t in told] == [
        (False, "bad_customer_expires"),
        (False, "bad_customer_expires"),
        (True, None),
    ]
    assert "BOT_WEBCHAT_IDENTITY_MAX_AGE_S" in told[0]["error"]["detail"]


def test_the_max_age_setting_is_bounded() -> None:
    with pytest.raises(ValidationError, match="webchat_identity_max_age_s"):
        Settings(_env_file=None, webchat_identity_max_age_s=-1)  # type: ignore[call-arg]
