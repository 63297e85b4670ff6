"""Marketing campaigns wired to the hub: the couriers of each channel, the tracked links'
secret, each channel's send rate, the news of queued messages (the messaging apps' outbox), of
WeChat's template messages and of what customers read on Feishu and DingTalk, and the orders
listener that attributes new orders to campaigns.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta

from bot.app._app_settings import apps_off
from bot.app._secrets import kept_secret
from bot.app._settings import Settings
from bot.conversations import ConversationService, anonymous_senders, identified_sender
from bot.marketing import (
    APP_CHANNELS,
    CampaignMessage,
    Campaigns,
    Courier,
    DeliveryFailed,
    DeliveryLookup,
    DeliveryNews,
    EmailCourier,
    Exclusion,
    Handover,
    LinkNotFound,
    LinkSigner,
    MarketingService,
    OutsideAudience,
    Picks,
    SendPace,
    SmtpConfig,
    privacy_key,
    send_rates,
)

# Kept importable here, where the wiring follows the receipts it describes.
from bot.marketing import TEMPLATE_RECEIPTS as TEMPLATE_RECEIPTS
from bot.orders import OrderChange
from bot.outbox import GAVE_UP, SENT, Outbox, SendFailed, Undeliverable
from bot.privacy import ConsentService
from bot.recommend import NotFitted, RecommendService
from bot.storage import Database, utcnow
from channels.dingtalk import READ_STATUS_HOURS
from channels.webchat import CHANNEL as WEBCHAT
from channels.wechat import WeChatApi

logger = logging.getLogger(__name__)

KEY_FILE = "marketing-link.key"
# The failure of a contact whose id is an anonymous session id rather than the shop's.
ANONYMOUS_SESSION = "anonymous session"
HISTORY = 500  # messages read per page when looking for the customer's last message
OUTBOX_KEY = "outbox"  # a queued campaign message's key: outbox:<channel>:<outbox source id>
# The source id an app connector enqueues a stored conversation message under (the outbox's
# unique key with the channel: channels/connector/_apps.py, ``AppConnector._on_event``).
CONVERSATION_SOURCE = "message:{id}"
TEMPLATE_KEY = "wechat-template"  # a WeChat template message's key: wechat-template:<msgid>
# The apps that tell whether a message was read only when asked, and for how long after the
# send they answer: their campaign messages are asked about (``AppReads.ask``) until then.
READ_QUERIED: dict[str, timedelta] = {"dingtalk": timedelta(hours=READ_STATUS_HOURS)}
READS_ASKED_AT_ONCE = 100  # read-status questions per app and run, the longest unasked first


def outbox_key(channel: str, source_id: str) -> str:
    """The key a campaign message queued in the outbox is named by in its news."""
    return f"{OUTBOX_KEY}:{channel}:{source_id}"


class ConversationCourier:
    """Web chat and the messaging apps: the message is posted into the customer's conversation
    on that channel, as retention notices are. The web chat shows it (live when the customer is
    online, in the history otherwise); each app connector hears the posted message and sends it
    through the outbox, which retries until the app takes or refuses it. A web-chat contact is
    the shop's customer id, reached in the conversation of their identified sessions (an
    anonymous session id is no customer the shop can ask for consent).

    A message for an app in ``apps_off`` (none of its settings given: no connector would ever
    send it) fails at once with what turns the app on, instead of waiting in the conversation
    for no sender; its send then counts against no cap. Given the outbox, a message on an app
    of ``READ_QUERIED`` has its read status followed (``AppReads.ask``)."""

    def __init__(
        self,
        conversations: ConversationService,
        *,
        outbox: Outbox | None = None,
        apps_off: Mapping[str, str] | None = None,
    ) -> None:
        self._conversations = conversations
        self._outbox = outbox
        self._apps_off = dict(apps_off or {})

    async def deliver(self, message: CampaignMessage) -> Handover:
        """Post the message into the customer's conversation: on a messaging app it is then
        queued in the outbox (its news read by ``outbox_deliveries``); on web chat and REST
        the conversation is the channel, and storing it there is all it takes."""
        off = self._apps_off.get(message.channel)
        if off is not None:
            raise DeliveryFailed(off)
        sender = identified_sender(message.channel, message.customer_id)
        conversation = await self._conversations.find(message.channel, sender)
        if conversation is None:
            raise DeliveryFailed(await self._why_none(message.channel, message.customer_id))
        payload = {"custom": {"kind": "marketing", "campaign": message.campaign}}
        if message.link:
            payload["custom"]["link"] = message.link
        stored = await self._conversations.post(
            conversation, message.text, author="system", payload=payload
        )
        if message.channel not in APP_CHANNELS:
            return Handover("sent")
        source = CONVERSATION_SOURCE.format(id=stored.id)
        if self._outbox is not None and message.channel in READ_QUERIED:
            # The app's connector queued it as the post was published.
            await self._outbox.follow_reads(message.channel, source)
        return Handover("queued", outbox_key(message.channel, source))

    async def _why_none(self, channel: str, customer_id: str) -> str:
        """Why a contact has no conversation to post into: none yet, or (web chat) the contact
        names an anonymous session id, which stands for no customer."""
        sender = identified_sender(channel, customer_id)
        if sender != customer_id and await self._conversations.find(channel, customer_id):
            return (
                f"{ANONYMOUS_SESSION}: a contact on {channel} is the shop's id of a customer its "
                "site identified; an anonymous session has no person behind it"
            )
        return f"the customer has no {channel} conversation yet"

    async def last_inbound(self, customer_id: str, channel: str) -> datetime | None:
        """When the customer last wrote on ``channel`` (the apps' reply windows count from it)."""
        conversation = await self._conversations.find(
            channel, identified_sender(channel, customer_id)
        )
        latest, after = None, None
        while conversation is not None:
            page = await self._conversations.history(conversation, after_id=after, limit=HISTORY)
            latest = next((m.created_at for m in reversed(page) if m.direction == "in"), latest)
            if len(page) < HISTORY:
                break
            after = page[-1].id
        return latest


class WeChatTemplateCourier:
    """WeChat followers past the 48-hour customer-service window: the approved copy goes in a
    template message the shop registered in the account's back office (``template_id``), in its
    field ``field``, and the tracked link is the template's ``url``. WeChat's refusal (43004 no
    longer follows, 40037 unknown template, 47003 bad data...) fails the delivery with its reason.
    """

    label = "template_message"

    def __init__(self, api: WeChatApi, template_id: str, field: str) -> None:
        self._api = api
        self._template_id = template_id
        self._field = field

    async def deliver(self, message: CampaignMessage) -> Handover:
        """Send the template message: "sent" once WeChat took it, named by WeChat's message
        id, which its job-finished event reports on (``template_receipts``)."""
        data = {self._field: {"value": message.copy}}
        try:
            msgid = await self._api.send_template(
                message.customer_id, self._template_id, data, url=message.link
            )
        except (SendFailed, Undeliverable) as exc:
            raise DeliveryFailed(f"WeChat template message: {exc}") from exc
        return Handover("sent", f"{TEMPLATE_KEY}:{msgid}" if msgid else None)


def template_receipts(campaigns: Campaigns) -> Callable[[int, str], Awaitable[None]]:
    """What the WeChat webhook calls with each template message's job-finished event (WeChat's
    message id and status: "success", "failed:user block", "failed: system failed"): the
    campaign message is delivered, or failed with WeChat's reason."""

    async def finished(msgid: int, status: str) -> None:
        key = f"{TEMPLATE_KEY}:{msgid}"
        if status == "success":
            news = DeliveryNews(key, "delivered")
        else:
            news = DeliveryNews(key, "failed", reason=f"WeChat template message: {status}")
        await campaigns.record_delivery(news)

    return finished


def outbox_deliveries(outbox: Outbox, off: Mapping[str, str] | None = None) -> DeliveryLookup:
    """The news of campaign messages queued in the messaging apps' outbox: "sent" once the
    app's API took it ("read" when the app said so by then: ``AppReads``), "failed" with the
    outbox's last error once it gave up (the app refused it, or every retry failed); still
    pending: no news. A message that never reached the outbox because its app is in ``off``
    (``apps_off``: posted while the app was on its way out, or before this check existed) fails
    with what turns the app on; one already in the outbox waits for the app to come back."""
    apps_not_on = dict(off or {})

    async def lookup(keys: Sequence[str]) -> list[DeliveryNews]:
        wanted: dict[str, dict[str, str]] = {}  # channel -> source id -> key
        for key in keys:
            prefix, _, rest = key.partition(":")
            channel, _, source = rest.partition(":")
            if prefix == OUTBOX_KEY and channel and source:
                wanted.setdefault(channel, {})[source] = key
        news = []
        for channel, sources in wanted.items():
            found = await outbox.outcomes(channel, list(sources))
            if channel in apps_not_on:
                queued = {message.source_id for message in found}
                news += [
                    DeliveryNews(key, "failed", reason=apps_not_on[channel])
                    for source, key in sources.items()
                    if source not in queued
                ]
            for message in found:
                key = sources[message.source_id]
                if message.status == SENT and message.read_at is not None:
                    news.append(DeliveryNews(key, "read", message.read_at))
                elif message.status == SENT:
                    news.append(DeliveryNews(key, "sent", message.sent_at))
                elif message.status == GAVE_UP:
                    reason = f"{channel} outbox gave up: {message.last_error}"
                    news.append(DeliveryNews(key, "failed", reason=reason))
        return news

    return lookup


# An app's read-status query, given the message's recipient and the app's receipt for it (the
# recipient says which of the app's APIs knows the receipt, and names the group of a group
# message): when it was read (None: not yet); ``SendFailed`` when the app answers nothing usable.
ReadQuery = Callable[[str, str], Awaitable[datetime | None]]


class AppReads:
    """What customers read on the messaging apps: Feishu's read events and DingTalk's
    read-status answers name the app's own ids of the messages (the outbox keeps them as
    receipts); the outbox marks each message read once, and a campaign message among them
    becomes "read" in its campaign. Replayed news, and news of a message that is not ours,
    changes nothing."""

    def __init__(self, outbox: Outbox, campaigns: Campaigns) -> None:
        self._outbox = outbox
        self._campaigns = campaigns

    async def read(self, channel: str, receipts: Sequence[str], at: datetime | None = None) -> int:
        """The app says the messages ``receipts`` were read (at ``at``, else now); how many
        campaign messages became read."""
        moved = 0
        for message in await self._outbox.mark_read(channel, receipts, at or utcnow()):
            news = DeliveryNews(outbox_key(channel, message.source_id), "read", message.read_at)
            moved += await self._campaigns.record_delivery(news)
        return moved

    async def ask(self, channel: str, query: ReadQuery, within: timedelta) -> int:
        """Ask ``query`` whether the followed messages sent on ``channel`` within ``within``
        were read (the least recently asked first; older ones are given up); how many
        campaign messages became read."""
        unread = await self._outbox.unread(channel, utcnow() - within, READS_ASKED_AT_ONCE)
        moved, failed, last = 0, 0, ""
        for message in unread:
            if message.receipt is None:
                continue
            try:
                at = await query(message.recipient, message.receipt)
            except SendFailed as exc:
                failed, last = failed + 1, str(exc)
                continue
            if at is not None:
                moved += await self.read(channel, [message.receipt], at)
        if failed:
            logger.warning(
                "%d of %d %s read-status questions got no answer; the last: %s",
                failed,
                len(unread),
                channel,
                last,
            )
        return moved


# The share of the campaign job's period a run may spend waiting for the channels' free places
# (the rest is the job's own pause: two runs of one worker never overlap).
PACED_SHARE = 0.8
ANONYMOUS_DAYS = 30  # how far back a segment preview counts anonymous web-chat visitors


def anonymous_webchat(database: Database) -> OutsideAudience:
    """What a segment preview says of anonymous web-chat visitors: how many wrote in the last
    ``ANONYMOUS_DAYS`` days, and why none of them is a contact.

    An anonymous session id is the browser's: it changes with the device or a cleared browser,
    and anyone who has it can present it, so there is no stable person behind it who could give
    (or withdraw) a marketing consent, and frequency caps could not follow them. Only customers
    the shop's site identifies (``BOT_WEBCHAT_IDENTITY_SECRET``) are web-chat contacts."""

    async def excluded() -> list[Exclusion]:
        since = utcnow() - timedelta(days=ANONYMOUS_DAYS)
        count = await anonymous_senders(database, WEBCHAT, since)
        if count == 0:
            return []
        detail = (
            f"{count} web-chat visitor(s) wrote in the last {ANONYMOUS_DAYS} days without the "
            "shop's site identifying them: an anonymous session is a browser's id with no "
            "stable person behind it, who could give no marketing consent, so it is no "
            "contact; identify logged-in customers (BOT_WEBCHAT_IDENTITY_SECRET) to reach them"
        )
        return [Exclusion("anonymous_webchat", count, detail)]

    return excluded


def link_secret(settings: Settings) -> str:
    """``BOT_MARKETING_LINK_SECRET``, else a random secret made once and kept under var_dir."""
    if settings.marketing_link_secret is not None:
        return settings.marketing_link_secret.get_secret_value()
    return kept_secret(settings.var_dir, KEY_FILE)


def campaign_picks(recommendations: RecommendService, consents: ConsentService) -> Picks:
    """What fills "{picks}" in a campaign's copy: the recommendation service's items for the
    recipient, personalised only with their recorded consent to it (else the most popular,
    after the same business filters: nothing they bought or turned down)."""

    async def picks(customer_id: str, channel: str, language: str, k: int) -> list[str]:
        key = privacy_key(customer_id, channel)
        personalised = await consents.allows(key, "personalisation", channel)
        await recommendations.refresh()  # the newest model another process trained
        try:
            found = await recommendations.recommend(key, k=k, personalised=personalised)
        except NotFitted as exc:
            raise DeliveryFailed(f"the copy names the recipient's picks and {exc}") from exc
        return [r.item.name_zh if language == "zh" else r.item.name_en for r in found]

    return picks


def campaigns_of(
    settings: Settings,
    database: Database,
    marketing: MarketingService,
    conversations: ConversationService | None,
    picks: Picks | None = None,
    outbox: Outbox | None = None,
) -> Campaigns:
    """Campaigns with e-mail (when ``BOT_SMTP_HOST`` is set) and, given the conversations,
    every conversation channel; links on ``BOT_PUBLIC_URL`` (else the hub's own address);
    ``picks`` fills "{picks}" in the copy (without it, such copy cannot be sent). Sends keep
    to ``BOT_MARKETING_SEND_RATES`` (counted where the rate limits count, so replicas share
    them), and a run waits for a channel's next free place for most of its period; given the
    outbox, queued app messages are followed to "sent" or "failed" (and DingTalk's to "read",
    ``AppReads``). A message for a messaging app whose settings are not given fails at once."""
    couriers: dict[str, Courier] = {}
    if settings.smtp_host:
        config = SmtpConfig(
            settings.smtp_host,
            settings.smtp_sender,
            port=settings.smtp_port,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        )
        couriers["email"] = EmailCourier(config)
    links = LinkSigner(link_secret(settings), settings.public_url or settings.hub_url)
    default = None
    if conversations is not None:
        default = ConversationCourier(conversations, outbox=outbox, apps_off=apps_off(settings))
    return Campaigns(
        database,
        marketing,
        couriers,
        links,
        default_courier=default,
        last_inbound=default.last_inbound if default is not None else None,
        picks=picks,
        pace=SendPace(send_rates(settings.marketing_send_rates), settings.rate_limit_storage_uri),
        pace_budget=timedelta(seconds=settings.marketing_send_every_s * PACED_SHARE),
        deliveries=outbox_deliveries(outbox, apps_off(settings)) if outbox is not None else None,
    )


class CampaignOrders:
    """An order listener crediting each new order to the campaign that last reached the
    customer. The order service is synchronous and its callers run on an event loop: the
    attribution runs in a task on that loop, kept here so none is lost and ``drain`` can wait."""

    def __init__(self, campaigns: Campaigns) -> None:
        self._campaigns = campaigns
        self._pending: set[asyncio.Task[None]] = set()
        # The checkout's ``campaign_click`` of an order about to be placed, by customer id:
        # the order's attribution notes the buyer on that message first.
        self._clicks: dict[str, str] = {}

    def expect_click(self, customer_id: str, token: str) -> bool:
        """The customer's next order came by the tracked link ``token``; False (and nothing
        kept) when the token is no campaign link at all (forged or mistyped)."""
        try:
            self._campaigns.links.recipient(token)
        except LinkNotFound:
            return False
        self._clicks[customer_id] = token
        return True

    def forget_click(self, customer_id: str) -> None:
        """The order was refused: its click waits for no order."""
        self._clicks.pop(customer_id, None)

    def __call__(self, change: OrderChange) -> None:
        if change.kind != "placed":
            return
        work = self._attribute(change)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called outside an event loop (a command, a script)
            asyncio.run(work)
            return
        task = loop.create_task(work)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _attribute(self, change: OrderChange) -> None:
        order = change.order
        token = self._clicks.pop(order.customer_id, None)
        if token is not None:
            try:
                await self._campaigns.note_buyer(token, order.customer_id)
            except LinkNotFound:
                logger.info("Order %s came by a link of no sent campaign message", order.id)
        try:
            credited = await self._campaigns.attribute_order(
                order.customer_id, order.id, float(order.total)
            )
        except Exception:  # a listener must not raise into the order service; it is logged
            logger.exception("Order %s could not be attributed to a campaign", order.id)
            return
        if credited is not None:
            logger.info("Order %s credited to campaign %d", order.id, credited)

    async def drain(self) -> None:
        """Until every attribution scheduled so far is done (or its failure logged)."""
        while self._pending:
            await asyncio.gather(*list(self._pending))
