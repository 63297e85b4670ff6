"""Campaigns: an audience (a segment), approved copy per arm, a tracked link, an optional
experiment, and a schedule; sent by a periodic job through the customer's channel.

Every message passes the send gate (consent on the channel, quiet hours, caps) and leaves a
result per recipient: sent, skipped with the gate's reason, failed with the channel's error,
or held out (the experiment's control). Several workers (hub replicas) may run the job on one
database: a recipient is claimed by a conditional UPDATE before it is sent, so only one worker
sends it, and a claim whose worker died mid-send is closed as failed, never sent twice.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal, Protocol
from urllib.parse import urlsplit

from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.marketing._copy import PICKS
from bot.marketing._errors import (
    CampaignNotFound,
    DeliveryFailed,
    InvalidMarketingRequest,
    LinkNotFound,
)
from bot.marketing._limits import CAMPAIGN
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
ERROR_CHARS = 300
REPORT_ROWS = 500


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
    """Hands a campaign message to one channel; raises DeliveryFailed saying why it could not."""

    async def deliver(self, message: CampaignMessage) -> None: ...


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


@dataclass(frozen=True)
class CampaignReport:
    """A campaign's results: recipients by status and reason, clicks and conversions."""

    campaign: Campaign
    statuses: dict[str, int]
    reasons: dict[str, int]
    clicks: int
    unique_clicks: int
    conversions: int
    revenue: float
    recipients: list[RecipientResult]  # the first REPORT_ROWS
    arms: list[ArmFigures] = field(default_factory=list)


@dataclass(frozen=True)
class RunReport:
    """What one run of the campaign job did."""

    recipients_added: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)  # sent / skipped / failed / deferred


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
        """The campaign's results so far, in total and per arm."""
        campaign = await self.campaign(campaign_id)
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
            return CampaignReport(
                campaign,
                dict(Counter(r.status for r in rows)),
                dict(Counter((r.reason or "").split(":")[0] for r in rows if r.reason)),
                sum(r.clicks for r in rows),
                sum(1 for r in rows if r.first_click_at is not None),
                int(conversions[0]),
                float(conversions[1]),
                [
                    RecipientResult(
                        r.customer_id, r.channel, r.arm, r.status, r.reason, r.sent_at, r.clicks
                    )
                    for r in rows[:REPORT_ROWS]
                ],
                arms,
            )

        return await self._db.session(read)

    # ---- the job -------------------------------------------------------------------------------

    async def run_due(self) -> RunReport:
        """Take the audience of campaigns that are due, send what is due, close what is done."""
        now = self._clock()
        added = 0
        for campaign in await self._due_campaigns(now):
            if await self._take_turn(campaign, now):
                added += await self._add_audience(campaign, now)
                # Only now may it be sent and closed: its audience is all there.
                await self._set_status(campaign.id, "running")
        await self._close_abandoned_claims(now)
        outcomes: Counter[str] = Counter()
        for recipient_id in await self._claim(now):
            outcomes[await self._send(recipient_id, now)] += 1
        await self._finish(now)
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

    async def _take_turn(self, campaign: Campaign, now: datetime) -> bool:
        """Whether this worker reads the campaign's audience now: a triggered campaign's on
        every run, a one-off campaign's once, by the worker whose UPDATE moves it to "taking"
        (again after the lease, if that worker died before it was done)."""
        if campaign.kind == "triggered":
            await self._set_status(campaign.id, "running")
            return True

        def claim(session: Session) -> bool:
            moved = session.execute(
                update(CampaignRow)
                .where(
                    CampaignRow.id == campaign.id,
                    or_(
                        CampaignRow.status == "scheduled",
                        and_(CampaignRow.status == "taking", CampaignRow.claimed_until <= now),
                    ),
                )
                .values(status="taking", claimed_until=now + self._lease)
            )
            return bool(moved.rowcount == 1)  # type: ignore[attr-defined]

        return await self._db.session(claim)

    async def _set_status(self, campaign_id: int, status: str) -> None:
        await self._db.session(
            lambda s: s.execute(
                update(CampaignRow).where(CampaignRow.id == campaign_id).values(status=status)
            )
        )

    async def _add_audience(self, campaign: Campaign, now: datetime) -> int:
        members = await self._marketing.members(campaign.segment)
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

    async def _claim(self, now: datetime) -> list[int]:
        """Due recipients this worker now owns (status ``sending`` until the lease ends)."""

        def claim(session: Session) -> list[int]:
            candidates = session.scalars(
                select(RecipientRow.id)
                .join(CampaignRow, CampaignRow.id == RecipientRow.campaign_id)
                .where(
                    RecipientRow.status == PENDING,
                    RecipientRow.next_attempt_at <= now,
                    CampaignRow.status == "running",
                )
                .order_by(RecipientRow.id)
                .limit(self._batch)
            ).all()
            claimed = []
            for recipient_id in candidates:
                moved = session.execute(
                    update(RecipientRow)
                    .where(RecipientRow.id == recipient_id, RecipientRow.status == PENDING)
                    .values(status=SENDING, next_attempt_at=now + self._lease)
                )
                if moved.rowcount == 1:  # type: ignore[attr-defined]
                    claimed.append(recipient_id)
            return claimed

        return await self._db.session(claim)

    async def _send(self, recipient_id: int, now: datetime) -> str:
        """Gate, compose and deliver one claimed recipient; the outcome."""
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
        outside = await self._outside_window(recipient.customer_id, recipient.channel, now)
        if outside is not None:
            if recipient.channel not in self._window_couriers:
                await self._marketing.release(admission)  # nothing went out: the caps stay free
                await self._close(recipient_id, SKIPPED, outside, now)
                return SKIPPED
            label, courier = self._window_couriers[recipient.channel]
            sent_reason = f"{label}: {outside}"
        try:
            message = await self._compose(recipient, campaign)
            if courier is None:
                raise DeliveryFailed(f"no courier delivers on the {recipient.channel} channel")
            await courier.deliver(message)
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
        await self._close(recipient_id, SENT, sent_reason, now)
        return SENT

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
                    or_(CampaignRow.kind == "once", CampaignRow.ends_at <= now),
                    CampaignRow.id.not_in(busy),
                )
                .values(status="done")
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
        """Record a click on a tracked link; the campaign's own URL to redirect to."""
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
        return url

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

        def credit(session: Session) -> tuple[int | None, list[int]]:
            touches = session.execute(
                select(
                    RecipientRow.id,
                    RecipientRow.campaign_id,
                    RecipientRow.sent_at,
                    RecipientRow.last_click_at,
                ).where(
                    RecipientRow.customer_id == customer_id,
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
            experiments = list(
                session.scalars(
                    select(CampaignRow.experiment_id)
                    .join(RecipientRow, RecipientRow.campaign_id == CampaignRow.id)
                    .where(
                        RecipientRow.customer_id == customer_id,
                        RecipientRow.status.in_([SENT, HELD_OUT]),
                        CampaignRow.experiment_id.is_not(None),
                    )
                    .distinct()
                )
            )
            if best is None:
                return None, [e for e in experiments if e is not None]
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
            return int(best.campaign_id), [e for e in experiments if e is not None]

        campaign_id, experiments = await self._db.session(credit)
        for experiment_id in experiments:
            await self._marketing.record_conversion(
                experiment_id, customer_id, order_id, revenue, moment
            )
        return campaign_id


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
    return problems


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
    )
