"""The marketing service: the audience and its profiles, segment previews, the send gate
(consent, quiet hours, caps), opt-outs, and experiments with their results."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, and_, delete, false, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.marketing._errors import (
    ExperimentNotFound,
    InvalidMarketingRequest,
    InvalidSegment,
    SegmentNotFound,
)
from bot.marketing._keys import app_contact, privacy_key
from bot.marketing._limits import (
    CAMPAIGN,
    OPT_OUT_CONFIRMATION,
    Admission,
    ContactPolicy,
    check_ids,
    zone,
)
from bot.marketing._segments import CustomerProfile, Segment
from bot.marketing._stats import POLICIES, ArmLog, Policy, Results, choose_arm, hashed_unit, results
from bot.marketing._tables import (
    AssignmentRow,
    CampaignConversionRow,
    ContactRow,
    ConversionRow,
    ExperimentRow,
    RecipientRow,
    SegmentRow,
    SendRow,
)
from bot.marketing._triggers import check_birthday, trigger_facts
from bot.privacy import ConsentService
from bot.recommend import Event, UserProfile
from bot.storage import Database, utcnow

logger = logging.getLogger(__name__)

ProfileLookup = Callable[[str], Awaitable[UserProfile | None]]
# The customer's latest churn risk from the insights module's scores (None: never scored).
ChurnLookup = Callable[[str], Awaitable[float | None]]
# The customer's interaction events, oldest first (the recommendation service's ``events_of``).
EventLookup = Callable[[str], Awaitable[list[Event]]]
Clock = Callable[[], datetime]
MAX_TAGS = 32
EMAIL = "email"
# Deliberately loose (one "@", a dot in the domain, no spaces or angle brackets): the SMTP
# server is the judge of an address; this only refuses what could not be one or could inject.
EMAIL_ADDRESS = re.compile(r"[^@\s<>,;\"]{1,64}@[^@\s<>,;\"]+\.[^@\s<>,;\"]{2,}")
SAMPLE = 10
SEGMENT_NAME = CAMPAIGN
ARM_NAME = CAMPAIGN


@dataclass(frozen=True)
class Contact:
    """A customer in the marketing audience on one channel."""

    customer_id: str
    channel: str
    language: str = ""
    timezone: str = ""
    tags: frozenset[str] = frozenset()
    churn_risk: float = 0.0
    last_contact_at: datetime | None = None
    address: str = ""  # the e-mail address on the "email" channel; unused elsewhere
    # "MM-DD", imported by the shop only for customers who agreed; no year is kept (PIPL).
    birthday: str = ""


@dataclass(frozen=True)
class Exclusion:
    """People the shop's channels saw who are no marketing contact, and why (a segment's
    preview shows them, so a smaller audience than the visitors is not a mystery)."""

    reason: str  # e.g. "anonymous_webchat"
    count: int
    detail: str


# Who was seen on the channels but is no contact, read when a segment is previewed.
OutsideAudience = Callable[[], Awaitable[list[Exclusion]]]


@dataclass(frozen=True)
class Preview:
    """A segment before use: how many it matches, how many may be reached, a few members, and
    who is outside the audience altogether (see ``Exclusion``)."""

    expression: str
    audience: int
    matched: int
    reachable: int  # matched and with a marketing opt-in on their channel
    sample: list[CustomerProfile]
    excluded: list[Exclusion] = field(default_factory=list)


@dataclass(frozen=True)
class Experiment:
    """An A/B/n experiment as created."""

    id: int
    name: str
    arms: list[str]
    policy: Policy
    horizon: int
    control_share: float
    attribution_hours: int
    seed: int


@dataclass(frozen=True)
class MarketingConfig:
    """Marketing's settings, from the wiring."""

    policy: ContactPolicy = field(default_factory=ContactPolicy)
    attribution_hours: int = 168


class MarketingService:
    """The one door into marketing: audience, segments, the send gate and experiments."""

    def __init__(
        self,
        database: Database,
        consents: ConsentService,
        profiles: ProfileLookup,
        config: MarketingConfig | None = None,
        *,
        clock: Clock = utcnow,
        churn: ChurnLookup | None = None,
        events: EventLookup | None = None,
        outside_audience: OutsideAudience | None = None,
    ) -> None:
        self._db = database
        self._outside_audience = outside_audience
        self._churn = churn
        self._events = events
        self._consents = consents
        self._profiles = profiles
        self.config = config or MarketingConfig()
        self._clock = clock
        # Check-then-record of a send is one critical section per hub process; across processes
        # SQLite's single writer serialises them, and on PostgreSQL a transaction-scoped
        # advisory lock per customer does (``_record_send``).
        self._send_lock = asyncio.Lock()
        self._assign_lock = asyncio.Lock()
        self._rng = np.random.default_rng()

    # ---- audience ----------------------------------------------------------------------------

    async def upsert_contact(self, contact: Contact) -> Contact:
        """Add or update a customer of the audience (the shop's CRM or the wiring feeds it)."""
        check_ids(contact.customer_id, contact.channel)
        if contact.timezone:
            zone(contact.timezone)
        if len(contact.tags) > MAX_TAGS or any(not CAMPAIGN.fullmatch(tag) for tag in contact.tags):
            raise InvalidMarketingRequest(
                f"tags: at most {MAX_TAGS}, each 1 to 64 letters, digits, '.', '_' or '-'"
            )
        if not 0.0 <= contact.churn_risk <= 1.0:
            raise InvalidMarketingRequest("churn_risk must be between 0 and 1")
        if contact.language not in {"", "zh", "en"}:
            raise InvalidMarketingRequest("language must be 'zh', 'en' or empty")
        if contact.channel == EMAIL and (
            len(contact.address) > 254 or not EMAIL_ADDRESS.fullmatch(contact.address)
        ):
            raise InvalidMarketingRequest(
                "a contact on the email channel needs an address like name@example.com"
            )
        if contact.channel != EMAIL and contact.address:
            raise InvalidMarketingRequest("only contacts on the email channel take an address")
        if contact.birthday:
            check_birthday(contact.birthday)

        def write(session: Session) -> None:
            row = session.get(ContactRow, (contact.customer_id, contact.channel))
            if row is None:
                row = ContactRow(customer_id=contact.customer_id, channel=contact.channel)
                session.add(row)
            row.language = contact.language
            row.timezone = contact.timezone
            row.tags = json.dumps(sorted(contact.tags), ensure_ascii=False)
            row.churn_risk = contact.churn_risk
            row.last_contact_at = contact.last_contact_at
            row.address = contact.address
            row.birthday = contact.birthday or None
            row.updated_at = self._clock()

        await self._db.session(write)
        return contact

    async def contacts(self) -> list[Contact]:
        """The whole audience, by customer then channel."""

        def read(session: Session) -> list[Contact]:
            rows = session.execute(
                select(ContactRow).order_by(ContactRow.customer_id, ContactRow.channel)
            ).scalars()
            return [
                Contact(
                    r.customer_id,
                    r.channel,
                    r.language,
                    r.timezone,
                    frozenset(json.loads(r.tags)),
                    r.churn_risk,
                    r.last_contact_at,
                    r.address,
                    r.birthday or "",
                )
                for r in rows
            ]

        return await self._db.session(read)

    async def profile(self, contact: Contact) -> CustomerProfile:
        """What a segment sees of the contact: recommendation profile (affinities, RFM) and
        the marketing consent on the contact's channel."""
        now = self._clock()
        bought = await self._profiles(contact.customer_id)
        # The churn model's latest score, when the customer was scored, wins over the value the
        # shop's CRM gave: triggered campaigns on churn risk follow the scores as they change.
        scored = await self._churn(contact.customer_id) if self._churn else None
        consented = await self._consents.allows(
            privacy_key(contact.customer_id, contact.channel), "marketing", contact.channel
        )
        timezone = contact.timezone or self.config.policy.default_timezone
        events = await self._events(contact.customer_id) if self._events else []
        facts = trigger_facts(events, contact.birthday, timezone, now)
        contact_days = (
            (now - contact.last_contact_at).total_seconds() / 86400
            if contact.last_contact_at
            else None
        )
        return CustomerProfile(
            customer_id=contact.customer_id,
            channel=contact.channel,
            language=contact.language or (bought.language if bought and bought.language else ""),
            timezone=timezone,
            tags=contact.tags,
            recency_days=bought.recency_days if bought else None,
            frequency=bought.frequency if bought else 0,
            monetary=bought.monetary if bought else 0.0,
            churn_risk=scored if scored is not None else contact.churn_risk,
            days_since_contact=contact_days,
            affinity=dict(bought.category_affinity) if bought else {},
            consented=consented,
            purchases=facts.purchases,
            days_since_first_purchase=facts.days_since_first_purchase,
            cart_abandoned_hours=facts.cart_abandoned_hours,
            days_to_birthday=facts.days_to_birthday,
        )

    # ---- segments ----------------------------------------------------------------------------

    async def preview(self, expression: str, sample: int = SAMPLE) -> Preview:
        """Count and sample the customers ``expression`` matches, before it is used."""
        segment = Segment.parse(expression)
        contacts = await self.contacts()
        matched = [p for p in [await self.profile(c) for c in contacts] if segment.matches(p)]
        return Preview(
            segment.expression,
            len(contacts),
            len(matched),
            sum(1 for p in matched if p.consented),
            matched[: max(0, min(sample, 100))],
            await self._outside_audience() if self._outside_audience is not None else [],
        )

    async def members(self, expression: str) -> list[CustomerProfile]:
        """Every customer the segment matches."""
        segment = Segment.parse(expression)
        return [
            p for p in [await self.profile(c) for c in await self.contacts()] if segment.matches(p)
        ]

    async def save_segment(self, name: str, expression: str) -> Segment:
        """Keep a segment under ``name`` (replacing an older one of that name)."""
        if not SEGMENT_NAME.fullmatch(name or ""):
            raise InvalidSegment("a segment name is 1 to 64 letters, digits, '.', '_' or '-'")
        segment = Segment.parse(expression)

        def write(session: Session) -> None:
            row = session.get(SegmentRow, name)
            if row is None:
                session.add(SegmentRow(name=name, expression=segment.expression))
            else:
                row.expression = segment.expression

        await self._db.session(write)
        return segment

    async def segment(self, name: str) -> Segment:
        """A saved segment."""
        row = await self._db.session(lambda s: s.get(SegmentRow, name))
        if row is None:
            raise SegmentNotFound(f"no saved segment is named {name!r}")
        return Segment.parse(row.expression)

    async def segments(self) -> dict[str, str]:
        """Saved segments: name to expression."""
        query = select(SegmentRow).order_by(SegmentRow.name)
        return await self._db.session(
            lambda s: {r.name: r.expression for r in s.execute(query).scalars()}
        )

    # ---- the send gate -----------------------------------------------------------------------

    async def admit(
        self, customer_id: str, channel: str, campaign: str, at: datetime | None = None
    ) -> Admission:
        """May the customer get the campaign's message on ``channel`` now? An admitted send is
        recorded in the same step, so the caps count it; a refusal records nothing."""
        check_ids(customer_id, channel)
        if not CAMPAIGN.fullmatch(campaign or ""):
            raise InvalidMarketingRequest(
                "campaign must be 1 to 64 letters, digits, '.', '_' or '-'"
            )
        moment = at or self._clock()
        if moment.tzinfo is None:
            raise InvalidMarketingRequest("the send time must carry a time zone")
        if not await self._consents.allows(privacy_key(customer_id, channel), "marketing", channel):
            return Admission(customer_id, channel, campaign, moment, "no_consent")
        timezone = await self._timezone(customer_id, channel)
        if self.config.policy.quiet_at(moment, timezone):
            return Admission(customer_id, channel, campaign, moment, "quiet_hours")
        async with self._send_lock:
            return await self._db.session(
                lambda s: self._record_send(s, customer_id, channel, campaign, moment)
            )

    def _record_send(
        self, session: Session, customer_id: str, channel: str, campaign: str, moment: datetime
    ) -> Admission:
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            # Hub replicas: one transaction at a time reads and adds a customer's sends (the
            # lock ends with the transaction; read committed then sees the other's send).
            session.execute(select(func.pg_advisory_xact_lock(_lock_key(customer_id))))
        elif dialect == "sqlite":
            # Another process on the same file: take SQLite's write lock before reading (the
            # driver opens the transaction only at the first write), so its check waits for
            # this record. A write that matches no row is enough to take it.
            session.execute(update(SendRow).where(false()).values(campaign=SendRow.campaign))
        since = moment - timedelta(days=7)
        earlier = list(
            session.execute(
                select(SendRow.sent_at).where(
                    SendRow.customer_id == customer_id, SendRow.sent_at > since
                )
            ).scalars()
        )
        if self.config.policy.over_cap(earlier, moment):
            return Admission(customer_id, channel, campaign, moment, "frequency_cap")
        row = SendRow(customer_id=customer_id, channel=channel, campaign=campaign, sent_at=moment)
        session.add(row)
        session.flush()
        return Admission(customer_id, channel, campaign, moment, send_id=row.id)

    async def release(self, admission: Admission) -> None:
        """Take back an admitted send whose delivery failed: only messages that went out count
        against the frequency caps (a channel outage must not use up the customer's week)."""
        if admission.send_id is None:
            return
        await self._db.session(
            lambda s: s.execute(delete(SendRow).where(SendRow.id == admission.send_id))
        )

    async def sends(self, customer_id: str) -> list[datetime]:
        """When the customer was sent marketing (every channel), oldest first."""
        query = (
            select(SendRow.sent_at)
            .where(SendRow.customer_id == customer_id)
            .order_by(SendRow.sent_at)
        )
        return await self._db.session(lambda s: list(s.execute(query).scalars()))

    async def _timezone(self, customer_id: str, channel: str) -> str:
        row = await self._db.session(lambda s: s.get(ContactRow, (customer_id, channel)))
        return row.timezone if row is not None and row.timezone else ""

    async def opt_out(self, customer_id: str, channel: str, language: str = "zh") -> str:
        """Revoke the customer's marketing consent on ``channel`` at once; the confirmation."""
        check_ids(customer_id, channel)
        await self._consents.revoke(
            privacy_key(customer_id, channel), "marketing", channel, actor_kind="customer"
        )
        logger.info("A customer opted out of marketing on %s", channel)
        return OPT_OUT_CONFIRMATION["en" if language == "en" else "zh"]

    # ---- personal data ----------------------------------------------------------------------

    async def export_customer(self, customer_id: str) -> dict[str, object]:
        """What marketing holds about the customer, as JSON (for the privacy module's export);
        ``customer_id`` is the privacy key (a messaging-app customer: ``channel:app id``)."""
        check_ids(customer_id, "any")

        def read(session: Session) -> dict[str, object]:
            contacts = session.execute(
                select(ContactRow).where(_whose(ContactRow, customer_id))
            ).scalars()
            sends = session.execute(
                select(SendRow).where(_whose(SendRow, customer_id)).order_by(SendRow.id)
            ).scalars()
            assignments = session.execute(
                select(AssignmentRow).where(_whose(AssignmentRow, customer_id))
            ).scalars()
            conversions = session.execute(
                select(ConversionRow).where(_whose(ConversionRow, customer_id))
            ).scalars()
            received = session.execute(
                select(RecipientRow).where(_whose(RecipientRow, customer_id))
            ).scalars()
            # Messages of another identity's (an app id's) whose link the customer bought by.
            bought_by = session.execute(
                select(RecipientRow.campaign_id, RecipientRow.channel).where(
                    RecipientRow.buyer_id == customer_id
                )
            ).all()
            return {
                "campaign_links_bought_by": [
                    {"campaign": campaign, "channel": channel} for campaign, channel in bought_by
                ],
                "campaign_messages": [
                    {
                        "campaign": r.campaign_id,
                        "channel": r.channel,
                        "status": r.status,
                        "sent_at": r.sent_at.isoformat() if r.sent_at else None,
                        "delivery": r.delivery,
                        "clicks": r.clicks,
                    }
                    for r in received
                ],
                "contacts": [
                    {
                        "channel": c.channel,
                        "language": c.language,
                        "timezone": c.timezone,
                        "tags": json.loads(c.tags),
                        "churn_risk": c.churn_risk,
                        "address": c.address,
                        "birthday": c.birthday,
                    }
                    for c in contacts
                ],
                "sends": [
                    {"channel": r.channel, "campaign": r.campaign, "at": r.sent_at.isoformat()}
                    for r in sends
                ],
                "assignments": [{"experiment": a.experiment_id, "arm": a.arm} for a in assignments],
                "conversions": [
                    {"experiment": c.experiment_id, "order_id": c.order_id, "revenue": c.revenue}
                    for c in conversions
                ],
            }

        return await self._db.session(read)

    async def erase_customer(self, customer_id: str) -> dict[str, int]:
        """Delete the customer (by the privacy key, as ``export_customer``) from every marketing
        table; the counts deleted."""
        check_ids(customer_id, "any")

        def erase(session: Session) -> dict[str, int]:
            counts = {}
            for name, table in (
                ("contacts", ContactRow),
                ("sends", SendRow),
                ("assignments", AssignmentRow),
                ("conversions", ConversionRow),
                ("campaign_conversions", CampaignConversionRow),
                ("campaign_recipients", RecipientRow),
            ):
                result = session.execute(delete(table).where(_whose(table, customer_id)))
                counts[name] = int(getattr(result, "rowcount", 0) or 0)
            # Another identity's message the customer bought by keeps no trace of them.
            result = session.execute(
                update(RecipientRow)
                .where(RecipientRow.buyer_id == customer_id)
                .values(buyer_id=None)
            )
            counts["campaign_links_bought_by"] = int(getattr(result, "rowcount", 0) or 0)
            return counts

        return await self._db.session(erase)

    # ---- experiments -------------------------------------------------------------------------

    async def create_experiment(
        self,
        name: str,
        arms: list[str],
        *,
        policy: str = "fixed",
        horizon: int = 1000,
        control_share: float | None = None,
        attribution_hours: int | None = None,
        seed: int = 0,
    ) -> Experiment:
        """A new experiment; ``arms[0]`` is the hold-out control (it is sent nothing)."""
        problems = []
        if not SEGMENT_NAME.fullmatch(name or ""):
            problems.append("name must be 1 to 64 letters, digits, '.', '_' or '-'")
        if not 2 <= len(arms) <= 10 or len(set(arms)) != len(arms):
            problems.append("arms: 2 to 10 distinct names, the control first")
        if any(not ARM_NAME.fullmatch(arm or "") for arm in arms):
            problems.append("each arm name is 1 to 64 letters, digits, '.', '_' or '-'")
        if policy not in POLICIES:
            problems.append(f"policy must be one of {', '.join(POLICIES)}, not {policy!r}")
        if not 1 <= horizon <= 10_000_000:
            problems.append("horizon must be between 1 and 10000000 recipients per arm")
        share = 1 / len(arms) if control_share is None and arms else control_share or 0.0
        if not 0 < share < 1:
            problems.append("control_share must be between 0 and 1 (exclusive)")
        hours = self.config.attribution_hours if attribution_hours is None else attribution_hours
        if not 1 <= hours <= 24 * 90:
            problems.append("attribution_hours must be between 1 and 2160")
        if problems:
            raise InvalidMarketingRequest("; ".join(problems))
        row = ExperimentRow(
            name=name,
            arms=json.dumps({"arms": arms, "control_share": share, "attribution_hours": hours}),
            policy=policy,
            horizon=horizon,
            seed=seed,
            created_at=self._clock(),
        )

        def add(session: Session) -> int:
            session.add(row)
            session.flush()
            return row.id

        try:
            await self._db.session(add)
        except IntegrityError as exc:
            raise InvalidMarketingRequest(f"an experiment is already named {name!r}") from exc
        return _experiment(row)

    async def experiment(self, experiment_id: int) -> Experiment:
        """The experiment with that id."""
        row = await self._db.session(lambda s: s.get(ExperimentRow, experiment_id))
        if row is None:
            raise ExperimentNotFound(f"no experiment has id {experiment_id}")
        return _experiment(row)

    async def experiments(self) -> list[Experiment]:
        """Every experiment, newest first."""
        query = select(ExperimentRow).order_by(ExperimentRow.id.desc())
        return await self._db.session(
            lambda s: [_experiment(r) for r in s.execute(query).scalars()]
        )

    async def assign(self, experiment_id: int, customer_id: str) -> str:
        """The customer's arm (the same one on every call)."""
        check_ids(customer_id, "any")
        experiment = await self.experiment(experiment_id)
        async with self._assign_lock:
            existing = await self._db.session(
                lambda s: s.execute(
                    select(AssignmentRow.arm).where(
                        AssignmentRow.experiment_id == experiment_id,
                        AssignmentRow.customer_id == customer_id,
                    )
                ).scalar_one_or_none()
            )
            if existing is not None:
                return existing
            counts = await self._counts(experiment_id) if experiment.policy == "thompson" else {}
            arm = choose_arm(
                experiment.arms,
                experiment.control_share,
                experiment.policy,
                hashed_unit(experiment.seed, customer_id),
                counts,
                self._rng,
            )
            row = AssignmentRow(
                experiment_id=experiment_id,
                customer_id=customer_id,
                arm=arm,
                assigned_at=self._clock(),
            )
            await self._db.session(lambda s: s.add(row))
            return arm

    async def _counts(self, experiment_id: int) -> dict[str, tuple[int, int]]:
        def read(session: Session) -> dict[str, tuple[int, int]]:
            sent = {
                arm: int(n)
                for arm, n in session.execute(
                    select(AssignmentRow.arm, func.count())
                    .where(AssignmentRow.experiment_id == experiment_id)
                    .group_by(AssignmentRow.arm)
                ).all()
            }
            converted = {
                arm: int(n)
                for arm, n in session.execute(
                    select(AssignmentRow.arm, func.count(func.distinct(ConversionRow.customer_id)))
                    .join(
                        ConversionRow,
                        (ConversionRow.experiment_id == AssignmentRow.experiment_id)
                        & (ConversionRow.customer_id == AssignmentRow.customer_id),
                    )
                    .where(AssignmentRow.experiment_id == experiment_id)
                    .group_by(AssignmentRow.arm)
                ).all()
            }
            return {arm: (n, converted.get(arm, 0)) for arm, n in sent.items()}

        return await self._db.session(read)

    async def record_conversion(
        self,
        experiment_id: int,
        customer_id: str,
        order_id: str,
        revenue: float,
        at: datetime | None = None,
    ) -> bool:
        """Attribute an order to the customer's assignment when it falls in the attribution
        window; False when it does not count (no assignment, outside the window, a replay)."""
        check_ids(customer_id, "any")
        if not CAMPAIGN.fullmatch(order_id or ""):
            raise InvalidMarketingRequest("order_id must be 1 to 64 letters, digits, '.', '_', '-'")
        if not (0 <= revenue < 1e9) or revenue != revenue:
            raise InvalidMarketingRequest("revenue must be a number from 0 to 1e9")
        experiment = await self.experiment(experiment_id)
        moment = at or self._clock()
        if moment.tzinfo is None:
            raise InvalidMarketingRequest("the conversion time must carry a time zone")
        window = timedelta(hours=experiment.attribution_hours)

        def write(session: Session) -> bool:
            assigned = session.execute(
                select(AssignmentRow.assigned_at).where(
                    AssignmentRow.experiment_id == experiment_id,
                    AssignmentRow.customer_id == customer_id,
                )
            ).scalar_one_or_none()
            if assigned is None or not assigned <= moment <= assigned + window:
                return False
            replay = session.execute(
                select(ConversionRow.id).where(
                    ConversionRow.experiment_id == experiment_id,
                    ConversionRow.order_id == order_id,
                )
            ).scalar_one_or_none()
            if replay is not None:
                return False
            session.add(
                ConversionRow(
                    experiment_id=experiment_id,
                    customer_id=customer_id,
                    order_id=order_id,
                    revenue=revenue,
                    converted_at=moment,
                )
            )
            return True

        return await self._db.session(write)

    async def results(self, experiment_id: int) -> Results:
        """Conversion rate, revenue per recipient and uplift over control, per arm."""
        experiment = await self.experiment(experiment_id)

        def read(session: Session) -> list[ArmLog]:
            revenue: dict[str, float] = {}
            for customer, amount in session.execute(
                select(ConversionRow.customer_id, func.sum(ConversionRow.revenue))
                .where(ConversionRow.experiment_id == experiment_id)
                .group_by(ConversionRow.customer_id)
            ).all():
                revenue[customer] = float(amount)
            per_arm: dict[str, list[float]] = {arm: [] for arm in experiment.arms}
            converted: dict[str, int] = dict.fromkeys(experiment.arms, 0)
            for customer, arm in session.execute(
                select(AssignmentRow.customer_id, AssignmentRow.arm).where(
                    AssignmentRow.experiment_id == experiment_id
                )
            ).all():
                per_arm.setdefault(arm, []).append(revenue.get(customer, 0.0))
                converted[arm] = converted.get(arm, 0) + (customer in revenue)
            return [ArmLog(arm, per_arm[arm], converted[arm]) for arm in experiment.arms]

        logs = await self._db.session(read)
        return results(logs, experiment.horizon, seed=experiment.seed)


def _lock_key(customer_id: str) -> int:
    """A stable signed 64-bit key of the customer for PostgreSQL's advisory locks."""
    digest = hashlib.blake2b(customer_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _experiment(row: ExperimentRow) -> Experiment:
    setup = json.loads(row.arms)
    policy: Policy = "thompson" if row.policy == "thompson" else "fixed"
    return Experiment(
        row.id,
        row.name,
        list(setup["arms"]),
        policy,
        row.horizon,
        float(setup["control_share"]),
        int(setup["attribution_hours"]),
        row.seed,
    )


def _whose(table: Any, key: str) -> ColumnElement[bool]:
    """The rows of the customer the privacy key names: rows under the key itself and, for a
    messaging-app customer ("telegram:42"), rows under their app id on that channel. Tables that
    keep no channel (experiment assignments and conversions) match the app id alone: a customer
    elsewhere with the same id would lose theirs too (experiment rows: no personal data)."""
    condition: ColumnElement[bool] = table.customer_id == key
    contact = app_contact(key)
    if contact is None:
        return condition
    app_id, channel = contact
    own = table.customer_id == app_id
    if hasattr(table, "channel"):
        own = and_(own, table.channel == channel)
    return or_(condition, own)
