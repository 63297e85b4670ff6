"""Retention actions for customers at risk, with a hold-out group per rule so uplift is measured.

A rule picks customers by churn risk and value; each picked customer falls, by a hash of the
rule and their id, in the treated group or the hold-out (the same customer always falls in the
same group for a rule, and the groups split in the rule's proportion). Treated customers get the
action (a coupon needs their marketing consent on that channel); every decision is recorded,
hold-outs and refusals included, so uplift = retained share of treated minus that of hold-out.

A rule decides a customer once per round: the decision is claimed (a unique row per customer,
rule and round) before its action is carried out, so two runs at once (the daily job and the
command, or two replicas) never give one customer two coupons; an action that fails is recorded
as failed and not tried again (at most once, never twice). A new round, the customer's next
decision by the same rule, opens only ``cooldown`` after the last one (default 90 days,
``BOT_RETENTION_COOLDOWN_DAYS``): a customer still at risk then is treated again, and stays in
the same arm (the hash does not change), so the hold-out stays a hold-out.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import Float, Index, String, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from bot.privacy import ConsentService
from bot.storage import Base, Database, utcnow

logger = logging.getLogger(__name__)

ActionKind = Literal["coupon", "priority_routing", "follow_up_ticket"]
ACTION_KINDS: tuple[ActionKind, ...] = ("coupon", "priority_routing", "follow_up_ticket")
Arm = Literal["treated", "holdout"]
Effect = Callable[["AtRiskCustomer", "RetentionRule"], Awaitable[str]]
MAX_OUTCOMES = 100_000
DEFAULT_COOLDOWN = timedelta(days=90)


class RetentionError(ValueError):
    """A retention rule or outcome is invalid (unknown action, share out of range, bad id)."""


class RetentionUndeliverable(Exception):
    """An effect could not reach the customer (no conversation on their channel, say)."""


class RetentionAction(Base):
    """One decision of a rule about one customer: its arm, what was done, and the outcome."""

    __tablename__ = "insights_retention_actions"
    __table_args__ = (
        Index(
            "uq_insights_retention_actions_customer_rule_round",
            "customer_id",
            "rule",
            "round",
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(128), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    rule: Mapped[str] = mapped_column(String(64))
    round: Mapped[int] = mapped_column(default=0)  # 0, then 1 after a cool-down, ...
    action: Mapped[str] = mapped_column(String(32))
    arm: Mapped[str] = mapped_column(String(16))  # "treated" | "holdout"
    # pending (claimed, being carried out) | done | no_consent | holdout | no_handler |
    # undeliverable | failed
    status: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(String(200))
    risk: Mapped[float] = mapped_column(Float)
    value: Mapped[float] = mapped_column(Float)
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)
    retained: Mapped[bool | None] = mapped_column(default=None)


@dataclass(frozen=True)
class RetentionRule:
    """Customers with risk ≥ ``min_risk`` and value ≥ ``min_value`` get ``action``."""

    name: str
    action: ActionKind
    min_risk: float
    min_value: float = 0.0
    max_value: float | None = None
    holdout_share: float = 0.5

    def __post_init__(self) -> None:
        if self.action not in ACTION_KINDS:
            raise RetentionError(f"action must be one of {', '.join(ACTION_KINDS)}")
        if not 0.0 < self.holdout_share < 1.0:
            raise RetentionError("holdout_share must be between 0 and 1 (exclusive)")
        if not 0.0 <= self.min_risk <= 1.0:
            raise RetentionError("min_risk must be a probability")

    def applies(self, risk: float, value: float) -> bool:
        """Whether a customer of this risk and value is one of the rule's."""
        below_max = self.max_value is None or value < self.max_value
        return risk >= self.min_risk and value >= self.min_value and below_max


DEFAULT_RULES: tuple[RetentionRule, ...] = (
    # High-value customers at risk go to a senior agent; the rest at risk get a coupon.
    RetentionRule("senior_agent_high_value", "priority_routing", 0.5, min_value=1000.0),
    RetentionRule("coupon_at_risk", "coupon", 0.5, max_value=1000.0),
    RetentionRule("follow_up_very_high_risk", "follow_up_ticket", 0.75),
)


def holdout_arm(customer_id: str, rule: str, share: float) -> Arm:
    """Treated or hold-out, decided by a hash of the rule and the customer (deterministic)."""
    digest = hashlib.sha256(f"{rule}\x00{customer_id}".encode()).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64
    return "holdout" if position < share else "treated"


@dataclass(frozen=True)
class AtRiskCustomer:
    """A customer the churn model scored: id, channel, calibrated risk and value (spend)."""

    customer_id: str
    channel: str
    risk: float
    value: float


@dataclass(frozen=True)
class Decision:
    """What a rule decided for a customer."""

    customer_id: str
    rule: str
    action: ActionKind
    arm: Arm
    status: str
    detail: str
    round: int = 0


@dataclass(frozen=True)
class Uplift:
    """Retained shares of treated and hold-out customers of one rule (outcomes known)."""

    rule: str
    treated: int
    treated_retained: int
    holdout: int
    holdout_retained: int

    @property
    def uplift(self) -> float | None:
        """Treated retained share minus hold-out retained share; None until both have outcomes."""
        if not self.treated or not self.holdout:
            return None
        return round(self.treated_retained / self.treated - self.holdout_retained / self.holdout, 4)


class RetentionDesk:
    """Applies retention rules, records every decision, and measures uplift."""

    def __init__(
        self,
        database: Database,
        consents: ConsentService,
        effects: Mapping[ActionKind, Effect] | None = None,
        rules: Sequence[RetentionRule] = DEFAULT_RULES,
        cooldown: timedelta = DEFAULT_COOLDOWN,
    ) -> None:
        if cooldown <= timedelta(0):
            raise RetentionError("the cool-down between two decisions must be positive")
        self._cooldown = cooldown
        self._db = database
        self._consents = consents
        self._effects = dict(effects or {})
        self.rules = tuple(rules)

    async def act(self, customers: Iterable[AtRiskCustomer]) -> list[Decision]:
        """Every rule over every customer; a customer a rule decided less than the cool-down
        ago is skipped by it."""
        customers = list(customers)
        decided = await self._decided({c.customer_id for c in customers})
        now = utcnow()
        decisions: list[Decision] = []
        for customer in customers:
            for rule in self.rules:
                last = decided.get((customer.customer_id, rule.name))
                if last is not None and now - last[1] < self._cooldown:
                    continue
                if not rule.applies(customer.risk, customer.value):
                    continue
                decision = await self._decide(customer, rule, 0 if last is None else last[0] + 1)
                if decision is not None:
                    decisions.append(decision)
        return decisions

    async def _decide(
        self, customer: AtRiskCustomer, rule: RetentionRule, round_: int
    ) -> Decision | None:
        """Claim, carry out and record one decision; None when another run claimed it first."""
        arm = holdout_arm(customer.customer_id, rule.name, rule.holdout_share)
        claimed = await self._claim(customer, rule, arm, round_)
        if claimed is None:
            logger.info("Retention rule %s: decided by another run meanwhile", rule.name)
            return None
        status, detail = "holdout", ""
        if arm == "treated":
            try:
                status, detail = await self._treat(customer, rule)
            except Exception as exc:  # recorded as failed: never carried out twice
                logger.exception("Retention rule %s: the %s action failed", rule.name, rule.action)
                status, detail = "failed", f"{type(exc).__name__}: {exc}"
            await self._settle(claimed, status, detail)
        logger.info("Retention rule %s: %s (%s)", rule.name, arm, status)
        return Decision(
            customer.customer_id, rule.name, rule.action, arm, status, detail[:200], round_
        )

    async def _claim(
        self, customer: AtRiskCustomer, rule: RetentionRule, arm: Arm, round_: int
    ) -> int | None:
        """The id of the new decision row; None when the customer already has one for the rule
        in this round (another run claimed it)."""
        row = RetentionAction(
            customer_id=customer.customer_id,
            channel=customer.channel,
            rule=rule.name,
            round=round_,
            action=rule.action,
            arm=arm,
            status="pending" if arm == "treated" else "holdout",
            detail="",
            risk=round(customer.risk, 4),
            value=round(customer.value, 2),
            decided_at=utcnow(),
        )

        def add(session: Session) -> int:
            session.add(row)
            session.flush()
            return row.id

        try:
            return await self._db.session(add)
        except IntegrityError:
            return None

    async def _settle(self, decision_id: int, status: str, detail: str) -> None:
        def work(session: Session) -> None:
            session.execute(
                update(RetentionAction)
                .where(RetentionAction.id == decision_id)
                .values(status=status, detail=detail[:200])
            )

        await self._db.session(work)

    async def _treat(self, customer: AtRiskCustomer, rule: RetentionRule) -> tuple[str, str]:
        if rule.action == "coupon" and not await self._consents.allows(
            customer.customer_id, "marketing", customer.channel
        ):
            return "no_consent", "no marketing consent on this channel"
        effect = self._effects.get(rule.action)
        if effect is None:
            return "no_handler", f"recorded only: nothing is wired to carry out {rule.action}"
        try:
            return "done", await effect(customer, rule)
        except RetentionUndeliverable as exc:
            return "undeliverable", str(exc)

    async def _decided(self, ids: set[str]) -> dict[tuple[str, str], tuple[int, datetime]]:
        """(customer, rule) → the last decision's round and time."""

        def load(session: Session) -> dict[tuple[str, str], tuple[int, datetime]]:
            query = (
                select(
                    RetentionAction.customer_id,
                    RetentionAction.rule,
                    RetentionAction.round,
                    RetentionAction.decided_at,
                )
                .where(RetentionAction.customer_id.in_(ids))
                .order_by(RetentionAction.round)
            )
            return {(c, r): (n, at) for c, r, n, at in session.execute(query)}

        return await self._db.session(load) if ids else {}

    async def treated(self, customer_id: str, action: ActionKind) -> bool:
        """Whether an action was carried out for the customer (e.g. priority routing is on)."""

        def load(session: Session) -> bool:
            query = select(RetentionAction.id).where(
                RetentionAction.customer_id == customer_id,
                RetentionAction.action == action,
                RetentionAction.status == "done",
            )
            return session.execute(query.limit(1)).first() is not None

        return await self._db.session(load)

    async def record_outcomes(self, retained: Mapping[str, bool]) -> int:
        """Whether each customer stayed (e.g. ordered again within 60 days); returns rows set."""
        if len(retained) > MAX_OUTCOMES:
            raise RetentionError(f"at most {MAX_OUTCOMES} outcomes at once")

        def work(session: Session) -> int:
            changed = 0
            for customer_id, stayed in retained.items():
                result = session.execute(
                    update(RetentionAction)
                    .where(RetentionAction.customer_id == customer_id)
                    .values(retained=bool(stayed))
                )
                changed += int(getattr(result, "rowcount", 0) or 0)
            return changed

        return await self._db.session(work)

    async def uplift(self) -> list[Uplift]:
        """Per rule: treated vs hold-out customers whose outcome is known."""

        def load(session: Session) -> list[tuple[str, str, bool | None]]:
            query = select(RetentionAction.rule, RetentionAction.arm, RetentionAction.retained)
            return [(r, a, k) for r, a, k in session.execute(query)]

        rows = await self._db.session(load)
        result: list[Uplift] = []
        for rule in sorted({r for r, _, _ in rows}):
            known = [(a, k) for r, a, k in rows if r == rule and k is not None]
            treated = [k for a, k in known if a == "treated"]
            holdout = [k for a, k in known if a == "holdout"]
            result.append(Uplift(rule, len(treated), sum(treated), len(holdout), sum(holdout)))
        return result

    async def history(self, customer_id: str) -> list[Decision]:
        """The decisions recorded about one customer, oldest first."""

        def load(session: Session) -> list[Decision]:
            query = (
                select(RetentionAction)
                .where(RetentionAction.customer_id == customer_id)
                .order_by(RetentionAction.id)
            )
            return [
                Decision(
                    r.customer_id,
                    r.rule,
                    r.action,  # type: ignore[arg-type]
                    r.arm,  # type: ignore[arg-type]
                    r.status,
                    r.detail,
                    r.round,
                )
                for r in session.scalars(query)
            ]

        return await self._db.session(load)

    async def export_customer(self, customer_id: str) -> dict[str, object]:
        """The retention decisions about a customer (their data export)."""
        return {"decisions": [asdict(d) for d in await self.history(customer_id)]}

    async def erase_customer(self, customer_id: str) -> dict[str, int]:
        """Delete the decisions about a customer (their erasure; uplift loses their rows)."""

        def work(session: Session) -> int:
            result = session.execute(
                delete(RetentionAction).where(RetentionAction.customer_id == customer_id)
            )
            return int(getattr(result, "rowcount", 0) or 0)

        return {"decisions": await self._db.session(work)}
