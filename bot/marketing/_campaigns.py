"""Campaigns: an audience (a segment), approved copy per arm, a tracked link, an optional
experiment, and a schedule; sent by a periodic job through the customer's channel.

Every message passes the send gate (consent on the channel, quiet hours, caps) and leaves a
result per recipient: sent, skipped with the gate's reason, failed with the channel's error,
or held out (the experiment's control). A sent message's delivery is followed after the
handover (queued in the outbox, accepted by the channel, delivered or read where the channel
says so, or failed: _delivery.py). Sends keep to each channel's rate (_pace.py): a run claims
no more of a channel's recipients than its rate has room for, the others wait their turn
(deferred, counted), and the run waits for the next free place while its time lasts.
Several workers (hub replicas) may run the job on one database: a recipient is claimed by a
conditional UPDATE before it is sent, so only one worker sends it, and a claim whose worker
died mid-send is closed as failed, never sent twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from bot.marketing._copy import PICKS
from bot.marketing._delivery import (
    ACCEPTED_ONLY,
    DELIVERY_KNOWN,
    DELIVERY_STATES,
    EARLIER,
    QUEUED,
    UNDELIVERED,
    DeliveryLookup,
    DeliveryNews,
    Handover,
)
from bot.marketing._errors import (
    CampaignNotFound,
    DeliveryFailed,
    InvalidMarketingRequest,
    LinkNotFound,
)
from bot.marketing._limits import CAMPAIGN, Admission
from bot.marketing._pace import SendPace
from bot.marketing._segments import Segment
from bot.marketing._service import MarketingService
from bot.marketing._stats import ArmResult, Policy, wilson
from bot.marketing._tables import (
    CampaignConversionRow,
    CampaignRow,
    ContactRow,
    CopyVariantRow,
    RecipientRow,
)
from bot.storage import Database, utcnow

logger = logging.getLogger(__name__)

CampaignKind = Literal["once", "triggered"]
KINDS: tuple[CampaignKind, ...] = ("once", "triggered")
MAIN_ARM = "main"  # the one arm of a campaign without an experiment
HOLD_OUT = "holdout"  # the control arm of an experiment created with its campaign
PENDING, SENDING, SENT, SKIPPED, FAILED, HELD_OUT = (
    "pending",
    "sending",
    "sent",
    "skipped",
    "failed",
    "held_out",
)
RECIPIENT_STATUSES = (PENDING, SENDING, SENT, SKIPPED, FAILED, HELD_OUT)
# How long after the customer's last message a channel lets the shop write first: WeChat
# Official Accounts' customer-service messages reach a customer within 48 hours of their last
# message (error 45015 after that). Past it, only a courier given for that channel's window
# (``Campaigns.reach_outside_window``: WeChat's template messages) reaches them; else a skip.
REPLY_WINDOWS: dict[str, timedelta] = {"wechat": timedelta(hours=48)}
# When the customer last wrote to the shop on a channel (None: never).
LastInbound = Callable[[str, str], Awaitable[datetime | None]]
MAX_URL = 2000
MAX_DAYS = 90
MAX_WAVES = 30
ERROR_CHARS = 300
REPORT_ROWS = 500
RATE_LIMITED = "rate_limited"  # a run's outcome: a recipient the channel's rate held back
FOLLOWED_AT_ONCE = 1000  # queued messages whose news one look-up asks for
SHORTEST_PAUSE_S = 0.05  # a run waiting for a channel's next free place waits at least this
# The query parameter a tracked link adds to the campaign's URL: the link's own signed token,
# which the shop's site keeps and its checkout reports with the order (``note_buyer``), so the
# order is credited to the message even when the buyer's shop id is not the recipient's id (a
# messaging-app customer). It names a recipient row, nothing personal.
CLICK_PARAM = "campaign_click"


@dataclass(frozen=True)
class CampaignMessage:
    """What a courier delivers: the approved copy in the customer's language, with the
    tracked link (when the campaign has one) already in the text."""

    campaign: str
    customer_id: str
    channel: str
    address: str  # the e-mail address on the email channel; empty elsewhere
    language: str
    text: str
    link: str | None
    unsubscribe: str  # a link that opts the customer out of marketing on this channel

    @property
    def copy(self) -> str:
        """The approved copy alone, without the tracked link's line."""
        return self.text.removesuffix(f"\n{self.link}") if self.link else self.text


# The items a message names for its recipient, best first: (customer id, channel, language,
# how many) → names; an empty list when there are none to name.
Picks = Callable[[str, str, str, int], Awaitable[list[str]]]
PICKS_NAMED = 3


class Courier(Protocol):
    """Hands a campaign message to one channel; raises DeliveryFailed saying why it could not.
    Its ``Handover`` says where the message is now; None: the channel accepted it, and no
    news of it will come."""

    async def deliver(self, message: CampaignMessage) -> Handover | None: ...


@dataclass(frozen=True)
class CampaignDraft:
    """A campaign to create. ``variants`` maps each arm to approved copy variant ids (one per
    language at most); without an experiment the one arm is "main", with one the arms are the
    experiment's arms but its control (which is sent nothing)."""

    name: str
    segment: str
    variants: dict[str, list[int]]
    url: str | None = None
    experiment_id: int | None = None
    kind: CampaignKind = "once"
    starts_at: datetime | None = None  # None: now
    ends_at: datetime | None = None  # None: a day after the start
    # A one-off campaign may take its audience in waves (a stable share of the segment each,
    # ``wave_every`` apart): a Thompson experiment then shifts the later waves to the arms the
    # earlier waves' conversions favour. The gap should cover the time customers take to buy.
    waves: int = 1
    wave_every: timedelta = timedelta(0)


@dataclass(frozen=True)
class ExperimentPlan:
    """The experiment a campaign is created with: a hold-out share (sent nothing) and how the
    other recipients are split among the arms (fixed even split or a Thompson bandit)."""

    policy: Policy = "fixed"
    hold_out_share: float = 0.1
    horizon: int = 1000  # recipients per arm before the stop rule reads the results


@dataclass(frozen=True)
class Campaign:
    """A campaign as stored."""

    id: int
    name: str
    segment: str
    variants: dict[str, list[int]]
    url: str | None
    experiment_id: int | None
    kind: CampaignKind
    starts_at: datetime
    ends_at: datetime
    status: str
    waves: int = 1
    wave_every: timedelta = timedelta(0)
    waves_taken: int = 0
    next_wave_at: datetime | None = None  # None: every wave taken


@dataclass(frozen=True)
class RecipientResult:
    """What became of one recipient's message."""

    customer_id: str
    channel: str
    arm: str
    status: str
    reason: str | None
    sent_at: datetime | None
    clicks: int
    delivery: str | None = None  # queued | sent | delivered | read | failed (_delivery.py)
    delivery_at: datetime | None = None
    deferrals: int = 0  # how often the channel's send rate held the recipient back


@dataclass(frozen=True)
class ArmFigures:
    """One arm (content variant) of a campaign: what was sent, clicked and converted.

    Without an experiment the rate is conversions per message sent (campaign attribution).
    With one, conversions, rate and uplift come from the experiment's assignments, so the
    hold-out (sent nothing) is measured the same way as the arms it is compared with."""

    name: str
    held_out: bool
    recipients: int
    sent: int
    unique_clicks: int
    conversions: int
    revenue: float
    conversion_rate: float | None  # None: nobody to divide by yet
    rate_interval: tuple[float, float] | None  # Wilson 95%
    uplift: float | None = None  # rate difference to the hold-out
    uplift_interval: tuple[float, float] | None = None  # the experiment's credible interval
    # Sent messages by what became of them: every state of DELIVERY_STATES, zeros included.
    delivery: dict[str, int] = field(default_factory=dict)
    deferred: int = 0  # recipients the channel's send rate held back at least once


@dataclass(frozen=True)
class CampaignReport:
    """A campaign's results: recipients by status and reason, what became of the messages
    sent, how often the channels' send rates deferred recipients, clicks and conversions."""

    campaign: Campaign
    statuses: dict[str, int]
    reasons: dict[str, int]
    clicks: int
    unique_clicks: int
    conversions: int
    revenue: float
    recipients: list[RecipientResult]  # the first REPORT_ROWS
    arms: list[ArmFigures] = field(default_factory=list)
    delivery: dict[str, int] = field(default_factory=dict)  # as ArmFigures.delivery
    # What each of the campaign's channels reports after it took a message.
    delivery_known: dict[str, str] = field(default_factory=dict)
    deferred: int = 0  # recipients the channel's send rate held back at least once
    deferrals: int = 0  # times it did


@dataclass(frozen=True)
class RunReport:
    """What one run of the campaign job did."""

    recipients_added: int = 0
    # sent / skipped / failed / deferred (quiet hours) / rate_limited (the channel's send rate)
    outcomes: dict[str, int] = field(default_factory=dict)


LinkKind = Literal["c", "u"]  # "c": the campaign's tracked link; "u": unsubscribe


@dataclass(frozen=True)
class LinkSigner:
    """Links in campaign messages, ``<base_url>/m/c/<token>`` (tracked, to the campaign's page)
    and ``<base_url>/m/u/<token>`` (unsubscribe from that channel): the token is the recipient
    row's id signed with the shop's secret (itsdangerous: HMAC over a salt per kind), so it
    cannot be guessed, altered or used as the other kind, and it carries no customer id."""

    secret: str
    base_url: str

    def __post_init__(self) -> None:
        if len(self.secret) < 16:
            raise InvalidMarketingRequest("the link secret must be at least 16 characters")

    def _serializer(self, kind: LinkKind) -> URLSafeSerializer:
        return URLSafeSerializer(self.secret, salt=f"marketing-link-{kind}")

    def link(self, recipient_id: int, kind: LinkKind = "c") -> str:
        token = self._serializer(kind).dumps(recipient_id)
        return f"{self.base_url.rstrip('/')}/m/{kind}/{token}"

    def recipient(self, token: str, kind: LinkKind = "c") -> int:
        """The recipient id of a token; LinkNotFound when it is forged or mangled."""
        try:
            value = self._serializer(kind).loads(token)
        except BadData as exc:  # a bad signature, or a payload that is not JSON
            raise LinkNotFound(
                "this link is not valid: it was mistyped, cut short or changed"
            ) from exc
        if not isinstance(value, int) or isinstance(value, bool):
            raise LinkNotFound("this link is not valid: it was mistyped, cut short or changed")
        return value


class Campaigns:
    """Creates campaigns, sends what is due, follows links and attributes orders."""

    def __init__(
        self,
        database: Database,
        marketing: MarketingService,
        couriers: Mapping[str, Courier],
        links: LinkSigner,
        *,
        default_courier: Courier | None = None,
        last_inbound: LastInbound | None = None,
        reply_windows: Mapping[str, timedelta] = REPLY_WINDOWS,
        window_couriers: Mapping[str, tuple[str, Courier]] | None = None,
        clock: Callable[[], datetime] = utcnow,
        picks: Picks | None = None,
        lease: timedelta = timedelta(minutes=5),
        quiet_retry: timedelta = timedelta(minutes=30),
        batch: int = 200,
        pace: SendPace | None = None,
        pace_budget: timedelta = timedelta(0),
        deliveries: DeliveryLookup | None = None,
    ) -> None:
        self._db = database
        self._marketing = marketing
        self._couriers = dict(couriers)
        self._default = default_courier
        self._last_inbound = last_inbound
        self._reply_windows = dict(reply_windows)
        self._window_couriers = dict(window_couriers or {})
        self.links = links
        self._clock = clock
        # What fills "{picks}" in the copy (the recommendation service, as the wiring gives it).
        self._picks = picks
        self._lease = lease
        self._quiet_retry = quiet_retry
        self._batch = batch
        # The channels' send rates, and how long a run may wait for their next free places.
        self._pace = pace
        self._pace_budget = pace_budget
        # Where queued messages' news is read (the outbox, as the wiring gives it).
        self._deliveries = deliveries
        self._known = dict(DELIVERY_KNOWN)

    def follow_receipts(self, key: str, known: str) -> None:
        """Say in reports what ``key`` (a channel, or "<channel>:<label>" of a window courier)
        reports of its messages: the wiring calls it when it routes that channel's delivery
        receipts to ``record_delivery``."""
        self._known[key] = known

    def reach_outside_window(self, channel: str, label: str, courier: Courier) -> None:
        """Deliver to ``channel``'s customers outside its reply window with ``courier``; their
        rows are ``sent`` with the reason ``<label>: outside_<n>h_window`` (the wiring adds
        WeChat's template messages, ``template_message``, once the app's API client exists)."""
        self._window_couriers[channel] = (label, courier)

    # ---- campaigns ---------------------------------------------------------------------------

    async def create(self, draft: CampaignDraft) -> Campaign:
        """Store a campaign after checking every part of it; nothing is stored on a problem."""
        arms = [MAIN_ARM]
        if draft.experiment_id is not None:
            arms = (await self._marketing.experiment(draft.experiment_id)).arms[1:]
        await self._check(draft, arms)
        return await self._store(draft)

    async def create_tested(self, draft: CampaignDraft, plan: ExperimentPlan) -> Campaign:
        """A campaign with a new experiment of its own name: the hold-out ``HOLD_OUT`` (sent
        nothing) and one arm per key of ``draft.variants``. The campaign is checked before the
        experiment is stored, so a refused campaign leaves no experiment behind."""
        if draft.experiment_id is not None:
            raise InvalidMarketingRequest("give an experiment_id or an experiment plan, not both")
        arms = sorted(draft.variants)
        problems = [] if HOLD_OUT not in arms else [f"{HOLD_OUT!r} is the hold-out's arm name"]
        if any(c.name == draft.name for c in await self.campaigns()):
            problems.append(f"a campaign is already named {draft.name!r}")
        if any(e.name == draft.name for e in await self._marketing.experiments()):
            problems.append(f"an experiment is already named {draft.name!r}")
        await self._check(draft, arms, problems)
        experiment = await self._marketing.create_experiment(
            draft.name,
            [HOLD_OUT, *arms],
            policy=plan.policy,
            horizon=plan.horizon,
            control_share=plan.hold_out_share,
        )
        return await self._store(replace(draft, experiment_id=experiment.id))

    async def _check(
        self, draft: CampaignDraft, arms: list[str], problems: list[str] | None = None
    ) -> None:
        now = self._clock()
        starts = draft.starts_at or now
        ends = draft.ends_at or starts + timedelta(days=1)
        problems = list(problems or []) + _draft_problems(draft, starts, ends)
        Segment.parse(draft.segment)  # InvalidSegment says where the expression is wrong
        if sorted(draft.variants) != sorted(arms):
            problems.append(f"variants must give copy for exactly the arms {arms}")
        problems += await self._variant_problems(draft.variants)
        if problems:
            raise InvalidMarketingRequest("; ".join(problems))

    async def _store(self, draft: CampaignDraft) -> Campaign:
        now = self._clock()
        starts = draft.starts_at or now
        ends = draft.ends_at or starts + timedelta(days=1)
        row = CampaignRow(
            name=draft.name,
            segment=draft.segment,
            content=json.dumps(draft.variants),
            url=draft.url,
            experiment_id=draft.experiment_id,
            kind=draft.kind,
            starts_at=starts,
            ends_at=ends,
            status="scheduled",
            created_at=now,
            waves=draft.waves,
            wave_every_s=int(draft.wave_every.total_seconds()),
            waves_taken=0,
            next_wave_at=starts,
        )

        def add(session: Session) -> Campaign:
            session.add(row)
            session.flush()
            return _campaign(row)

        try:
            return await self._db.session(add)
        except IntegrityError as exc:
            raise InvalidMarketingRequest(f"a campaign is already named {draft.name!r}") from exc

    async def _variant_problems(self, variants: dict[str, list[int]]) -> list[str]:
        ids = [i for chosen in variants.values() for i in chosen]
        rows = await self._db.session(
            lambda s: {
                r.id: (r.status, r.language)
                for r in s.execute(select(CopyVariantRow).where(CopyVariantRow.id.in_(ids)))
                .scalars()
                .all()
            }
        )
        problems = []
        for arm, chosen in variants.items():
            if not 1 <= len(chosen) <= 10:
                problems.append(f"arm {arm!r} needs 1 to 10 copy variants")
            languages = [rows[i][1] for i in chosen if i in rows]
            if len(set(languages)) != len(languages):
                problems.append(f"arm {arm!r} has two variants in one language")
            for variant in chosen:
                if variant not in rows:
                    problems.append(f"no copy variant has id {variant}")
                elif rows[variant][0] != "approved":
                    problems.append(
                        f"copy variant {variant} is {rows[variant][0]}: a person must approve "
                        "it in the copy desk before it is sent"
                    )
        return problems

    async def campaign(self, campaign_id: int) -> Campaign:
        """The campaign with that id."""
        row = await self._db.session(lambda s: s.get(CampaignRow, campaign_id))
        if row is None:
            raise CampaignNotFound(f"no campaign has id {campaign_id}")
        return _campaign(row)

    async def campaigns(self) -> list[Campaign]:
        """Every campaign, newest first."""
        query = select(CampaignRow).order_by(CampaignRow.id.desc())
        return await self._db.session(lambda s: [_campaign(r) for r in s.scalars(query)])

    async def report(self, campaign_id: int) -> CampaignReport:
        """The campaign's results so far, in total and per arm (the news of its queued
        messages read first)."""
        campaign = await self.campaign(campaign_id)
        await self.follow_deliveries(campaign_id)
        experiment, control = None, ""
        if campaign.experiment_id is not None:
            experiment = await self._marketing.results(campaign.experiment_id)
            control = (await self._marketing.experiment(campaign.experiment_id)).arms[0]

        def read(session: Session) -> CampaignReport:
            rows = session.scalars(
                select(RecipientRow)
                .where(RecipientRow.campaign_id == campaign_id)
                .order_by(RecipientRow.id)
            ).all()
            conversions = session.execute(
                select(
                    func.count(), func.coalesce(func.sum(CampaignConversionRow.revenue), 0.0)
                ).where(CampaignConversionRow.campaign_id == campaign_id)
            ).one()
            credited = session.execute(
                select(
                    RecipientRow.arm,
                    func.count(),
                    func.coalesce(func.sum(CampaignConversionRow.revenue), 0.0),
                )
                .join(RecipientRow, RecipientRow.id == CampaignConversionRow.recipient_id)
                .where(CampaignConversionRow.campaign_id == campaign_id)
                .group_by(RecipientRow.arm)
            ).all()
            by_arm = {arm: (int(n), float(revenue)) for arm, n, revenue in credited}
            if experiment is None:
                arms = [_arm_figures(MAIN_ARM, rows, by_arm.get(MAIN_ARM, (0, 0.0)))]
            else:
                arms = [
                    _experiment_arm(a, a.name == control, rows, a.recipients > 0)
                    for a in experiment.arms
                ]
            arms = [
                replace(a, delivery=_deliveries(rows, a.name), deferred=_deferred(rows, a.name))
                for a in arms
            ]
            return CampaignReport(
                campaign,
                dict(Counter(r.status for r in rows)),
                dict(Counter((r.reason or "").split(":")[0] for r in rows if r.reason)),
                sum(r.clicks for r in rows),
                sum(1 for r in rows if r.first_click_at is not None),
                int(conversions[0]),
                float(conversions[1]),
                [_result(r) for r in rows[:REPORT_ROWS]],
                arms,
                _deliveries(rows),
                self._delivery_known(rows),
                _deferred(rows),
                sum(r.deferrals for r in rows),
            )

        return await self._db.session(read)

    def _delivery_known(self, rows: Sequence[RecipientRow]) -> dict[str, str]:
        """What each channel of the campaign (and each window courier it used) reports."""
        keys = {r.channel for r in rows}
        for channel, (label, _courier) in self._window_couriers.items():
            if any(r.channel == channel and (r.reason or "").startswith(label) for r in rows):
                keys.add(f"{channel}:{label}")
        return {key: self._known.get(key, ACCEPTED_ONLY) for key in sorted(keys)}

    # ---- deliveries ----------------------------------------------------------------------------

    async def follow_deliveries(self, campaign_id: int | None = None) -> int:
        """Read the news of queued messages (of one campaign, or all) from the delivery
        look-up; how many recipients it moved on."""
        if self._deliveries is None:
            return 0

        def queued(session: Session) -> list[str]:
            query = select(RecipientRow.delivery_key).where(
                RecipientRow.delivery == QUEUED, RecipientRow.delivery_key.is_not(None)
            )
            if campaign_id is not None:
                query = query.where(RecipientRow.campaign_id == campaign_id)
            return [k for k in session.scalars(query.limit(FOLLOWED_AT_ONCE)) if k]

        keys = sorted(set(await self._db.session(queued)))
        if not keys:
            return 0
        moved = 0
        for news in await self._deliveries(keys):
            moved += await self.record_delivery(news)
        return moved

    async def record_delivery(self, news: DeliveryNews) -> int:
        """Move the messages ``news.key`` names on to ``news.state`` (never back); a failed one
        is a failed recipient whose send no longer counts against the caps. How many moved: a
        replayed receipt moves none."""
        earlier = EARLIER.get(news.state)
        if earlier is None:
            return 0  # "queued" is no news
        at = news.at or self._clock()
        values: dict[str, object] = {"delivery": news.state, "delivery_at": at}
        if news.state == UNDELIVERED:
            why = news.reason or "the channel did not deliver it"
            values.update(status=FAILED, reason=f"delivery: {why}"[:ERROR_CHARS], send_id=None)

        def apply(session: Session) -> list[Admission]:
            found = session.execute(
                select(
                    RecipientRow.id,
                    RecipientRow.customer_id,
                    RecipientRow.channel,
                    RecipientRow.send_id,
                    CampaignRow.name,
                )
                .join(CampaignRow, CampaignRow.id == RecipientRow.campaign_id)
                .where(RecipientRow.delivery_key == news.key, RecipientRow.delivery.in_(earlier))
            ).all()
            taken = []
            for row in found:
                moved = session.execute(
                    update(RecipientRow)
                    .where(RecipientRow.id == row.id, RecipientRow.delivery.in_(earlier))
                    .values(**values)
                )
                if moved.rowcount == 1:  # type: ignore[attr-defined]
                    taken.append(
                        Admission(row.customer_id, row.channel, row.name, at, None, row.send_id)
                    )
            return taken

        moved = await self._db.session(apply)
        if news.state == UNDELIVERED:
            for admission in moved:
                await self._marketing.release(admission)  # only what went out counts
            if moved:
                logger.info("A campaign message was not delivered: %s", values["reason"])
        return len(moved)

    # ---- the job -------------------------------------------------------------------------------

    async def run_due(self, *, wait: bool = True) -> RunReport:
        """Take the audience of campaigns that are due, follow the news of queued messages,
        send what is due at each channel's pace, close what is done. With ``wait`` the run
        waits for a paced channel's next free place while ``pace_budget`` lasts; without it
        (an HTTP request) the recipients over the rate wait for the next run."""
        now = self._clock()
        added = 0
        for campaign in await self._due_campaigns(now):
            wave = await self._take_turn(campaign, now)
            if wave is not None:
                added += await self._add_audience(campaign, now, wave)
                # Only now may it be sent and closed: its audience (of this wave) is there.
                await self._wave_taken(campaign, wave)
        await self._close_abandoned_claims(now)
        await self.follow_deliveries()
        outcomes: Counter[str] = Counter()
        started = time.monotonic()
        budget = self._pace_budget.total_seconds() if wait else 0.0
        while True:
            now = self._clock()
            claimed, waiting = await self._claim(now)
            outcomes[RATE_LIMITED] += sum(waiting.values())
            for recipient_id in claimed:
                outcome = await self._send(recipient_id, now, waiting)
                outcomes[outcome] += 1
            if not waiting or self._pace is None:
                break
            # The paced channels' next free place, within the run's time.
            pause = min([await self._pace.wait(key) for key in waiting])
            if not claimed:
                pause = max(pause, SHORTEST_PAUSE_S)
            if time.monotonic() - started + pause > budget:
                break
            await asyncio.sleep(pause)
        await self._finish(now)
        outcomes = +outcomes  # no zero counts
        if added or outcomes:
            logger.info("Campaign run: %d recipients added, outcomes %s", added, dict(outcomes))
        return RunReport(added, dict(outcomes))

    async def _due_campaigns(self, now: datetime) -> list[Campaign]:
        query = select(CampaignRow).where(
            CampaignRow.status.in_(["scheduled", "taking", "running"]),
            CampaignRow.starts_at <= now,
            CampaignRow.ends_at > now,
        )
        return await self._db.session(lambda s: [_campaign(r) for r in s.scalars(query)])

    async def _take_turn(self, campaign: Campaign, now: datetime) -> int | None:
        """The wave of the audience this worker reads now, if any: a triggered campaign's
        whole segment on every run (wave 0); a one-off campaign's next wave once it is due, by
        the worker whose UPDATE moves it to "taking" (again after the lease, if that worker
        died before it was done)."""
        if campaign.kind == "triggered":
            await self._set_status(campaign.id, "running")
            return 0
        wave = campaign.waves_taken
        if wave >= campaign.waves:
            return None

        def claim(session: Session) -> bool:
            moved = session.execute(
                update(CampaignRow)
                .where(
                    CampaignRow.id == campaign.id,
                    CampaignRow.waves_taken == wave,
                    CampaignRow.next_wave_at <= now,
                    or_(
                        CampaignRow.status.in_(["scheduled", "running"]),
                        and_(CampaignRow.status == "taking", CampaignRow.claimed_until <= now),
                    ),
                )
                .values(status="taking", claimed_until=now + self._lease)
            )
            return bool(moved.rowcount == 1)  # type: ignore[attr-defined]

        return wave if await self._db.session(claim) else None

    async def _wave_taken(self, campaign: Campaign, wave: int) -> None:
        """The campaign runs with the wave's audience added; a one-off campaign's next wave is
        due ``wave_every`` after this one's time (none after the last)."""
        if campaign.kind == "triggered":
            await self._set_status(campaign.id, "running")
            return
        taken = wave + 1
        following = (
            campaign.starts_at + taken * campaign.wave_every if taken < campaign.waves else None
        )
        await self._db.session(
            lambda s: s.execute(
                update(CampaignRow)
                .where(CampaignRow.id == campaign.id, CampaignRow.waves_taken == wave)
                .values(status="running", waves_taken=taken, next_wave_at=following)
            )
        )

    async def _set_status(self, campaign_id: int, status: str) -> None:
        await self._db.session(
            lambda s: s.execute(
                update(CampaignRow).where(CampaignRow.id == campaign_id).values(status=status)
            )
        )

    async def _add_audience(self, campaign: Campaign, now: datetime, wave: int = 0) -> int:
        """Add the segment's members not yet in the campaign; of a one-off campaign in waves,
        those whose share (a stable hash of campaign and customer) is this wave's or an
        earlier one's: the last wave takes everyone left, late joiners of the segment too."""
        members = [
            m
            for m in await self._marketing.members(campaign.segment)
            if campaign.kind == "triggered"
            or wave_share(campaign.id, m.customer_id, campaign.waves) <= wave
        ]
        known = await self._db.session(
            lambda s: {
                (customer, channel)
                for customer, channel in s.execute(
                    select(RecipientRow.customer_id, RecipientRow.channel).where(
                        RecipientRow.campaign_id == campaign.id
                    )
                )
            }
        )
        added = 0
        for member in members:
            if (member.customer_id, member.channel) in known:
                continue
            arm, status = MAIN_ARM, PENDING
            if campaign.experiment_id is not None:
                try:
                    arm = await self._marketing.assign(campaign.experiment_id, member.customer_id)
                except IntegrityError:  # another worker assigned the customer first: read it
                    arm = await self._marketing.assign(campaign.experiment_id, member.customer_id)
                control = (await self._marketing.experiment(campaign.experiment_id)).arms[0]
                status = HELD_OUT if arm == control else PENDING
            row = RecipientRow(
                campaign_id=campaign.id,
                customer_id=member.customer_id,
                channel=member.channel,
                arm=arm,
                status=status,
                next_attempt_at=now,
                clicks=0,
                created_at=now,
            )
            try:
                await self._db.session(lambda s, row=row: s.add(row))  # type: ignore[misc]
            except IntegrityError:
                continue  # another worker added this recipient first: the unique key decides
            added += 1
        return added

    async def _close_abandoned_claims(self, now: datetime) -> None:
        """A claim older than the lease belongs to a worker that died mid-send: whether the
        message went out is unknown, so it is closed as failed rather than sent twice."""
        await self._db.session(
            lambda s: s.execute(
                update(RecipientRow)
                .where(RecipientRow.status == SENDING, RecipientRow.next_attempt_at <= now)
                .values(status=FAILED, reason="interrupted: the worker stopped during the send")
            )
        )

    async def _claim(self, now: datetime) -> tuple[list[int], Counter[str]]:
        """Due recipients this worker now owns (status ``sending`` until the lease ends): per
        channel, as many as its send rate has room for. The next ones whose turn came are
        deferred (counted on their rows); the channels that deferred some, with how many."""
        due = and_(
            RecipientRow.status == PENDING,
            RecipientRow.next_attempt_at <= now,
            CampaignRow.status == "running",
        )
        due_ids = select(RecipientRow.id).join(
            CampaignRow, CampaignRow.id == RecipientRow.campaign_id
        )
        counts: dict[str, int] = await self._db.session(
            lambda s: {
                channel: int(n)
                for channel, n in s.execute(
                    select(RecipientRow.channel, func.count())
                    .join(CampaignRow, CampaignRow.id == RecipientRow.campaign_id)
                    .where(due)
                    .group_by(RecipientRow.channel)
                )
            }
        )
        rooms = {c: await self._pace.room(c) if self._pace else None for c in sorted(counts)}

        def claim(session: Session) -> tuple[list[int], Counter[str]]:
            claimed: list[int] = []
            waiting: Counter[str] = Counter()
            for channel, count in sorted(counts.items()):
                room = rooms[channel]
                limit = self._batch if room is None else min(self._batch, room)
                mine = due_ids.where(due, RecipientRow.channel == channel).order_by(RecipientRow.id)
                for recipient_id in session.scalars(mine.limit(limit)).all() if limit else []:
                    moved = session.execute(
                        update(RecipientRow)
                        .where(RecipientRow.id == recipient_id, RecipientRow.status == PENDING)
                        .values(status=SENDING, next_attempt_at=now + self._lease)
                    )
                    if moved.rowcount == 1:  # type: ignore[attr-defined]
                        claimed.append(recipient_id)
                if room is None or count <= limit or limit >= self._batch:
                    continue
                # Their turn came and the channel's rate said wait: deferred, still due.
                held = session.scalars(mine.limit(self._batch - limit)).all()
                session.execute(
                    update(RecipientRow)
                    .where(RecipientRow.id.in_(held), RecipientRow.status == PENDING)
                    .values(
                        deferrals=RecipientRow.deferrals + 1,
                        reason=f"{RATE_LIMITED}: the {channel} send rate is used up",
                    )
                )
                waiting[channel] += len(held)
            return claimed, waiting

        return await self._db.session(claim)

    async def _send(self, recipient_id: int, now: datetime, waiting: Counter[str]) -> str:
        """Gate, compose, pace and deliver one claimed recipient; the outcome (a recipient the
        pace holds back is counted in ``waiting`` under the rate's key)."""
        found = await self._db.session(lambda s: _recipient_and_campaign(s, recipient_id))
        if found is None:
            return "erased"  # the customer's data was erased while the message waited
        recipient, campaign = found
        admission = await self._marketing.admit(
            recipient.customer_id, recipient.channel, campaign.name, now
        )
        if admission.refused == "quiet_hours" and now + self._quiet_retry < campaign.ends_at:
            await self._close(recipient_id, PENDING, "quiet_hours: tried again later", now)
            return "deferred"
        if admission.refused is not None:
            await self._close(recipient_id, SKIPPED, admission.refused, now)
            return SKIPPED
        courier = self._couriers.get(recipient.channel, self._default)
        sent_reason = None
        pace_key = recipient.channel
        outside = await self._outside_window(recipient.customer_id, recipient.channel, now)
        if outside is not None:
            if recipient.channel not in self._window_couriers:
                await self._marketing.release(admission)  # nothing went out: the caps stay free
                await self._close(recipient_id, SKIPPED, outside, now)
                return SKIPPED
            label, courier = self._window_couriers[recipient.channel]
            sent_reason = f"{label}: {outside}"
            pace_key = f"{recipient.channel}:{label}"  # the channel's other API, its own rate
        try:
            message = await self._compose(recipient, campaign)
            if courier is None:
                raise DeliveryFailed(f"no courier delivers on the {recipient.channel} channel")
            # Read before the pace counts the send: no send of the rate's window is earlier.
            handed_at = self._clock()
            if self._pace is not None and not await self._pace.take(pace_key):
                await self._marketing.release(admission)
                await self._defer(recipient_id, pace_key, now)
                waiting[pace_key] += 1
                return RATE_LIMITED
            handover = await courier.deliver(message) or Handover("sent")
        except DeliveryFailed as exc:
            await self._marketing.release(admission)
            await self._close(recipient_id, FAILED, f"delivery: {exc}"[:ERROR_CHARS], now)
            return FAILED
        except Exception as exc:  # a courier's own bug: recorded, and the run goes on
            logger.exception("A campaign courier failed on %s", recipient.channel)
            await self._marketing.release(admission)
            text = f"error: {type(exc).__name__}: {exc}"[:ERROR_CHARS]
            await self._close(recipient_id, FAILED, text, now)
            return FAILED
        await self._handed_over(recipient_id, sent_reason, handed_at, handover, admission)
        return SENT

    async def _handed_over(
        self,
        recipient_id: int,
        reason: str | None,
        at: datetime,
        handover: Handover,
        admission: Admission,
    ) -> None:
        values = {
            "status": SENT,
            "reason": reason,
            "sent_at": at,
            "delivery": handover.state,
            "delivery_key": handover.key,
            "delivery_at": at,
            "send_id": admission.send_id,
        }
        await self._db.session(
            lambda s: s.execute(
                update(RecipientRow).where(RecipientRow.id == recipient_id).values(**values)
            )
        )

    async def _defer(self, recipient_id: int, key: str, now: datetime) -> None:
        """Back to pending, due at once: the pace holds it until its rate has room."""
        await self._db.session(
            lambda s: s.execute(
                update(RecipientRow)
                .where(RecipientRow.id == recipient_id)
                .values(
                    status=PENDING,
                    next_attempt_at=now,
                    deferrals=RecipientRow.deferrals + 1,
                    reason=f"{RATE_LIMITED}: the {key} send rate is used up",
                )
            )
        )

    async def _outside_window(self, customer_id: str, channel: str, now: datetime) -> str | None:
        """The skip reason when the channel no longer lets the shop write to the customer
        (``outside_48h_window``), else None."""
        window = self._reply_windows.get(channel)
        if window is None or self._last_inbound is None:
            return None
        last = await self._last_inbound(customer_id, channel)
        if last is not None and now - last <= window:
            return None
        return f"outside_{int(window.total_seconds() // 3600)}h_window"

    async def _close(
        self, recipient_id: int, status: str, reason: str | None, now: datetime
    ) -> None:
        values: dict[str, object] = {"status": status, "reason": reason}
        if status == SENT:
            values["sent_at"] = now
        if status == PENDING:
            values["next_attempt_at"] = now + self._quiet_retry
        await self._db.session(
            lambda s: s.execute(
                update(RecipientRow).where(RecipientRow.id == recipient_id).values(**values)
            )
        )

    async def _compose(self, recipient: RecipientRow, campaign: Campaign) -> CampaignMessage:
        contact = await self._db.session(
            lambda s: s.get(ContactRow, (recipient.customer_id, recipient.channel))
        )
        language = contact.language if contact is not None and contact.language else "zh"
        chosen = campaign.variants.get(recipient.arm, [])

        def read(session: Session) -> list[CopyVariantRow]:
            query = select(CopyVariantRow).where(
                CopyVariantRow.id.in_(chosen), CopyVariantRow.status == "approved"
            )
            return list(session.scalars(query))

        variants = await self._db.session(read)
        if not variants:
            raise DeliveryFailed(f"arm {recipient.arm!r} has no approved copy left")
        variant = next((v for v in variants if v.language == language), variants[0])
        text = variant.edited_text if variant.edited_text is not None else variant.text
        if PICKS in text:
            text = text.replace(PICKS, await self._picked(recipient, variant.language))
        link = self.links.link(recipient.id) if campaign.url else None
        return CampaignMessage(
            campaign.name,
            recipient.customer_id,
            recipient.channel,
            contact.address if contact is not None else "",
            variant.language,
            f"{text}\n{link}" if link else text,
            link,
            self.links.link(recipient.id, "u"),
        )

    async def _picked(self, recipient: RecipientRow, language: str) -> str:
        """The recipient's recommended items, named in ``language`` for "{picks}"."""
        names = (
            await self._picks(recipient.customer_id, recipient.channel, language, PICKS_NAMED)
            if self._picks is not None
            else []
        )
        if not names:
            raise DeliveryFailed(
                "the copy names the recipient's picks ({picks}) and there are none to name"
            )
        return ("、" if language == "zh" else ", ").join(names)

    async def _finish(self, now: datetime) -> None:
        """Running campaigns with nothing pending (one-off ones, or triggered ones past their
        end) are done; pending recipients of a campaign past its end are skipped as expired."""

        def close(session: Session) -> None:
            ended = select(CampaignRow.id).where(
                CampaignRow.status.in_(["scheduled", "taking", "running"]),
                CampaignRow.ends_at <= now,
            )
            session.execute(
                update(RecipientRow)
                .where(RecipientRow.campaign_id.in_(ended), RecipientRow.status == PENDING)
                .values(status=SKIPPED, reason="expired: the campaign ended before a send")
            )
            busy = select(RecipientRow.campaign_id).where(
                RecipientRow.status.in_([PENDING, SENDING])
            )
            session.execute(
                update(CampaignRow)
                .where(
                    CampaignRow.status == "running",
                    or_(
                        and_(
                            CampaignRow.kind == "once",
                            CampaignRow.waves_taken >= CampaignRow.waves,
                        ),
                        CampaignRow.ends_at <= now,
                    ),
                    CampaignRow.id.not_in(busy),
                )
                .values(status="done", next_wave_at=None)
            )
            session.execute(
                update(CampaignRow)
                .where(CampaignRow.status.in_(["scheduled", "taking"]), CampaignRow.ends_at <= now)
                .values(status="done")
            )

        await self._db.session(close)

    # ---- links and conversions -----------------------------------------------------------------

    async def unsubscribe(self, token: str) -> str:
        """Opt the recipient of an unsubscribe link out of marketing on the message's channel;
        the confirmation in the message's language."""
        recipient_id = self.links.recipient(token, "u")

        def read(session: Session) -> tuple[str, str, str] | None:
            row = session.get(RecipientRow, recipient_id)
            if row is None or row.status != SENT:
                return None
            contact = session.get(ContactRow, (row.customer_id, row.channel))
            language = contact.language if contact is not None and contact.language else "zh"
            return row.customer_id, row.channel, language

        found = await self._db.session(read)
        if found is None:
            raise LinkNotFound("this link belongs to no message that was sent")
        return await self._marketing.opt_out(*found)

    async def click(self, token: str) -> str:
        """Record a click on a tracked link; the campaign's own URL to redirect to, with the
        link's token as ``campaign_click`` for the shop's checkout (``note_buyer``)."""
        recipient_id = self.links.recipient(token)
        now = self._clock()

        def record(session: Session) -> str | None:
            row = session.get(RecipientRow, recipient_id)
            if row is None or row.status != SENT:
                return None
            campaign = session.get(CampaignRow, row.campaign_id)
            if campaign is None or not campaign.url:
                return None
            session.execute(
                update(RecipientRow)
                .where(RecipientRow.id == recipient_id)
                .values(
                    clicks=RecipientRow.clicks + 1,
                    first_click_at=func.coalesce(RecipientRow.first_click_at, now),
                    last_click_at=now,
                )
            )
            return campaign.url

        url = await self._db.session(record)
        if url is None:
            raise LinkNotFound("this link belongs to no message that was sent")
        return with_click(url, token)

    async def note_buyer(self, token: str, customer_id: str) -> int:
        """The checkout's report that the shop's customer ``customer_id`` came by the tracked
        link ``token`` (its ``campaign_click``): their orders are credited to that message as
        if they were its recipient's. The campaign's id; LinkNotFound for a token of no sent
        message."""
        recipient_id = self.links.recipient(token)
        if not 1 <= len(customer_id) <= 128:
            raise InvalidMarketingRequest("customer_id must be 1 to 128 characters")

        def note(session: Session) -> int | None:
            row = session.get(RecipientRow, recipient_id)
            if row is None or row.status != SENT:
                return None
            row.buyer_id = customer_id
            return row.campaign_id

        campaign_id = await self._db.session(note)
        if campaign_id is None:
            raise LinkNotFound("this link belongs to no message that was sent")
        return campaign_id

    async def attribute_order(
        self, customer_id: str, order_id: str, revenue: float, at: datetime | None = None
    ) -> int | None:
        """Attribute an order to the campaign message the customer last received or clicked
        within the attribution window, and count it in the experiments the customer is in
        (held-out customers included); the campaign's id, or None when none is credited."""
        moment = at or self._clock()
        if moment.tzinfo is None:
            raise InvalidMarketingRequest("the order time must carry a time zone")
        if not CAMPAIGN.fullmatch(order_id or ""):
            raise InvalidMarketingRequest("order_id must be 1 to 64 letters, digits, '.', '_', '-'")
        if not (0 <= revenue < 1e9):
            raise InvalidMarketingRequest("revenue must be a number from 0 to 1e9")
        since = moment - timedelta(hours=self._marketing.config.attribution_hours)

        def credit(session: Session) -> tuple[int | None, list[tuple[int, str]]]:
            touches = session.execute(
                select(
                    RecipientRow.id,
                    RecipientRow.campaign_id,
                    RecipientRow.sent_at,
                    RecipientRow.last_click_at,
                ).where(
                    _reached(customer_id),
                    RecipientRow.status == SENT,
                    or_(
                        and_(RecipientRow.sent_at >= since, RecipientRow.sent_at <= moment),
                        and_(
                            RecipientRow.last_click_at >= since,
                            RecipientRow.last_click_at <= moment,
                        ),
                    ),
                )
            ).all()
            # The last touch before the order: its latest send or click inside the window.
            best = max(
                touches,
                key=lambda t: (
                    max(at for at in (t.sent_at, t.last_click_at) if at and at <= moment),
                    t.id,
                ),
                default=None,
            )
            # The experiments the customer is in, under the id they were assigned by (a
            # messaging-app recipient's app id when the checkout named the buyer).
            experiments = [
                (int(row.experiment_id), str(row.customer_id))
                for row in session.execute(
                    select(CampaignRow.experiment_id, RecipientRow.customer_id)
                    .join(RecipientRow, RecipientRow.campaign_id == CampaignRow.id)
                    .where(
                        _reached(customer_id),
                        RecipientRow.status.in_([SENT, HELD_OUT]),
                        CampaignRow.experiment_id.is_not(None),
                    )
                    .distinct()
                )
            ]
            if best is None:
                return None, experiments
            try:
                with session.begin_nested():
                    session.add(
                        CampaignConversionRow(
                            order_id=order_id,
                            campaign_id=best.campaign_id,
                            recipient_id=best.id,
                            customer_id=customer_id,
                            revenue=revenue,
                            converted_at=moment,
                        )
                    )
            except IntegrityError:
                return None, []  # the order was credited before: a replayed event
            return int(best.campaign_id), experiments

        campaign_id, experiments = await self._db.session(credit)
        for experiment_id, assigned in experiments:
            await self._marketing.record_conversion(
                experiment_id, assigned, order_id, revenue, moment
            )
        return campaign_id


def _reached(customer_id: str) -> ColumnElement[bool]:
    """Campaign rows of the customer: as the recipient, or as the buyer the checkout named."""
    return or_(RecipientRow.customer_id == customer_id, RecipientRow.buyer_id == customer_id)


def with_click(url: str, token: str) -> str:
    """``url`` with ``campaign_click=<token>`` added to its query (kept otherwise)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != CLICK_PARAM]
    query.append((CLICK_PARAM, token))
    return urlunsplit(parts._replace(query=urlencode(query)))


def _deliveries(rows: Sequence[RecipientRow], arm: str | None = None) -> dict[str, int]:
    """Sent messages (of one arm, or all) by what became of them, every state named."""
    found = Counter(r.delivery for r in rows if r.delivery and arm in (None, r.arm))
    return {state: found.get(state, 0) for state in DELIVERY_STATES}


def _deferred(rows: Sequence[RecipientRow], arm: str | None = None) -> int:
    """Recipients (of one arm, or all) the channel's send rate held back at least once."""
    return sum(1 for r in rows if r.deferrals and arm in (None, r.arm))


def _result(row: RecipientRow) -> RecipientResult:
    return RecipientResult(
        row.customer_id,
        row.channel,
        row.arm,
        row.status,
        row.reason,
        row.sent_at,
        row.clicks,
        row.delivery,
        row.delivery_at,
        row.deferrals,
    )


def _arm_figures(
    name: str, rows: Sequence[RecipientRow], credited: tuple[int, float]
) -> ArmFigures:
    mine = [r for r in rows if r.arm == name]
    sent = sum(1 for r in mine if r.status == SENT)
    conversions, revenue = credited
    return ArmFigures(
        name,
        False,
        len(mine),
        sent,
        sum(1 for r in mine if r.first_click_at is not None),
        conversions,
        revenue,
        conversions / sent if sent else None,
        wilson(conversions, sent),
    )


def _experiment_arm(
    arm: ArmResult, held_out: bool, rows: Sequence[RecipientRow], measured: bool
) -> ArmFigures:
    mine = [r for r in rows if r.arm == arm.name]
    return ArmFigures(
        arm.name,
        held_out,
        len(mine),
        sum(1 for r in mine if r.status == SENT),
        sum(1 for r in mine if r.first_click_at is not None),
        arm.conversions,
        arm.revenue,
        arm.conversion_rate if measured else None,
        wilson(arm.conversions, arm.recipients),
        arm.uplift,
        arm.uplift_interval,
    )


def _draft_problems(draft: CampaignDraft, starts: datetime, ends: datetime) -> list[str]:
    problems = []
    if not CAMPAIGN.fullmatch(draft.name or ""):
        problems.append("name must be 1 to 64 letters, digits, '.', '_' or '-'")
    if draft.kind not in KINDS:
        problems.append(f"kind must be one of {', '.join(KINDS)}, not {draft.kind!r}")
    if starts.tzinfo is None or ends.tzinfo is None:
        problems.append("starts_at and ends_at must carry a time zone")
    elif not starts < ends <= starts + timedelta(days=MAX_DAYS):
        problems.append(f"ends_at must come after starts_at, at most {MAX_DAYS} days later")
    if draft.url is not None:
        problems += _url_problems(draft.url)
    return problems + _wave_problems(draft, starts, ends)


def _wave_problems(draft: CampaignDraft, starts: datetime, ends: datetime) -> list[str]:
    if not 1 <= draft.waves <= MAX_WAVES:
        return [f"waves must be 1 to {MAX_WAVES}, not {draft.waves}"]
    if draft.waves == 1:
        return []
    if draft.kind != "once":
        return [
            "only a one-off campaign is sent in waves (a triggered one reaches members as "
            "they join)"
        ]
    if draft.wave_every < timedelta(hours=1):
        return ["wave_every_hours must be at least 1 when waves > 1"]
    last = starts + (draft.waves - 1) * draft.wave_every
    if starts.tzinfo is not None and ends.tzinfo is not None and last >= ends:
        return [
            f"the last of {draft.waves} waves, {draft.wave_every} apart, would start at "
            f"{last.isoformat()}, not before ends_at ({ends.isoformat()})"
        ]
    return []


def wave_share(campaign_id: int, customer_id: str, waves: int) -> int:
    """The wave (0 to ``waves`` - 1) a customer belongs to in a campaign: a stable hash, so
    every worker and every run agrees, and the shares are random with respect to the arms."""
    digest = hashlib.sha256(f"{campaign_id}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % waves


def _url_problems(url: str) -> list[str]:
    """A campaign link must be an absolute http(s) address: a redirect goes nowhere else."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ["url is not a valid address"]
    if (
        len(url) > MAX_URL
        or parts.scheme not in {"http", "https"}
        or not parts.hostname
        or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url)
    ):
        return [f"url must be an absolute http(s) address of at most {MAX_URL} characters"]
    return []


def _recipient_and_campaign(
    session: Session, recipient_id: int
) -> tuple[RecipientRow, Campaign] | None:
    recipient = session.get(RecipientRow, recipient_id)
    campaign = session.get(CampaignRow, recipient.campaign_id) if recipient else None
    if recipient is None or campaign is None:
        return None
    return recipient, _campaign(campaign)


def _campaign(row: CampaignRow) -> Campaign:
    kind: CampaignKind = "triggered" if row.kind == "triggered" else "once"
    variants = {arm: [int(i) for i in ids] for arm, ids in json.loads(row.content).items()}
    return Campaign(
        row.id,
        row.name,
        row.segment,
        variants,
        row.url,
        row.experiment_id,
        kind,
        row.starts_at,
        row.ends_at,
        row.status,
        row.waves,
        timedelta(seconds=row.wave_every_s),
        row.waves_taken,
        row.next_wave_at,
    )
