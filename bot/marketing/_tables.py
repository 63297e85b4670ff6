"""Tables of the marketing module: the audience, saved segments, sends (for frequency caps),
experiments with their assignments and conversions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage import Base, utcnow


class ContactRow(Base):
    """A customer the shop may market to on a channel: what marketing knows beyond the
    recommendation profile (time zone, tags, churn risk, last contact)."""

    __tablename__ = "marketing_contacts"

    customer_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    language: Mapped[str] = mapped_column(String(8), default="")
    timezone: Mapped[str] = mapped_column(String(64), default="")
    tags: Mapped[str] = mapped_column(Text, default="[]")  # a JSON list of texts
    churn_risk: Mapped[float] = mapped_column(Float, default=0.0)
    last_contact_at: Mapped[datetime | None] = mapped_column(default=None)
    # Where the channel reaches the customer when it is not the conversation (an e-mail address)
    address: Mapped[str] = mapped_column(String(254), default="")
    # "MM-DD" only (no year: PIPL minimisation), for birthday-triggered campaigns
    birthday: Mapped[str | None] = mapped_column(String(5), default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SegmentRow(Base):
    """A saved segment expression."""

    __tablename__ = "marketing_segments"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    expression: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SendRow(Base):
    """One marketing message admitted to a customer on a channel (what the caps count)."""

    __tablename__ = "marketing_sends"
    __table_args__ = (Index("ix_marketing_sends_customer", "customer_id", "sent_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(32))
    campaign: Mapped[str] = mapped_column(String(64))
    sent_at: Mapped[datetime] = mapped_column()


class ExperimentRow(Base):
    """An A/B/n experiment: its arms (the first is the hold-out control), policy and horizon."""

    __tablename__ = "marketing_experiments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    # JSON: {"arms": [control first, ...], "control_share": 0..1, "attribution_hours": n}
    arms: Mapped[str] = mapped_column(Text)
    policy: Mapped[str] = mapped_column(String(16))  # "fixed" | "thompson"
    horizon: Mapped[int] = mapped_column()  # recipients per arm before a decision is read
    seed: Mapped[int] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AssignmentRow(Base):
    """Which arm a customer got in an experiment (once: a replay returns the same arm)."""

    __tablename__ = "marketing_assignments"
    __table_args__ = (UniqueConstraint("experiment_id", "customer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("marketing_experiments.id"))
    customer_id: Mapped[str] = mapped_column(String(128))
    arm: Mapped[str] = mapped_column(String(32))
    assigned_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConversionRow(Base):
    """An order attributed to a customer's assignment (one per order: replays are ignored)."""

    __tablename__ = "marketing_conversions"
    __table_args__ = (UniqueConstraint("experiment_id", "order_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("marketing_experiments.id"))
    customer_id: Mapped[str] = mapped_column(String(128))
    order_id: Mapped[str] = mapped_column(String(64))
    revenue: Mapped[float] = mapped_column(Float)
    converted_at: Mapped[datetime] = mapped_column(default=utcnow)


class CopyVariantRow(Base):
    """A copy variant: as written (LLM or template), what the checker found, and the human
    review (approve, edit, reject); an edit keeps the original beside it as training signal."""

    __tablename__ = "marketing_copy_variants"
    __table_args__ = (Index("ix_marketing_copy_campaign", "campaign", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8))
    channel: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))  # "llm" | "template"
    brief: Mapped[str] = mapped_column(Text)  # JSON: the brief it was written and checked for
    text: Mapped[str] = mapped_column(Text)
    problems: Mapped[str] = mapped_column(Text, default="[]")  # JSON: the checker's findings
    # "pending" (passed the checker) | "blocked" (the checker refused it) | "approved" | "rejected"
    status: Mapped[str] = mapped_column(String(16))
    edited_text: Mapped[str | None] = mapped_column(Text, default=None)
    reviewer: Mapped[str | None] = mapped_column(String(64), default=None)
    reviewed_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CampaignRow(Base):
    """A campaign: its audience (a segment expression), its approved copy per arm, the link it
    tracks, its optional experiment, and when it runs (once at ``starts_at``, or triggered:
    the segment re-read on every run until ``ends_at``, each new member reached once)."""

    __tablename__ = "marketing_campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    segment: Mapped[str] = mapped_column(Text)
    content: Mapped[str] = mapped_column(Text)  # JSON: {arm: [approved variant ids]}
    url: Mapped[str | None] = mapped_column(Text, default=None)
    experiment_id: Mapped[int | None] = mapped_column(
        ForeignKey("marketing_experiments.id"), default=None
    )
    kind: Mapped[str] = mapped_column(String(16))  # "once" | "triggered"
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime] = mapped_column()
    # "scheduled" -> "taking" (one worker reads the audience) -> "running" -> "done"; a
    # one-off campaign in waves goes back to "taking" for each later wave.
    status: Mapped[str] = mapped_column(String(16))
    claimed_until: Mapped[datetime | None] = mapped_column(default=None)  # of "taking"
    # A one-off campaign's audience is taken in ``waves`` shares, ``wave_every_s`` apart, so a
    # Thompson experiment learns from the earlier waves' conversions before the later ones.
    waves: Mapped[int] = mapped_column(default=1, server_default="1")
    wave_every_s: Mapped[int] = mapped_column(default=0, server_default="0")
    waves_taken: Mapped[int] = mapped_column(default=0, server_default="0")
    next_wave_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RecipientRow(Base):
    """One customer on one channel in a campaign, and what became of their message."""

    __tablename__ = "marketing_recipients"
    __table_args__ = (
        UniqueConstraint("campaign_id", "customer_id", "channel"),
        Index("ix_marketing_recipients_due", "status", "next_attempt_at"),
        Index("ix_marketing_recipients_customer", "customer_id"),
        Index("ix_marketing_recipients_delivery", "delivery", "delivery_key"),
        Index("ix_marketing_recipients_buyer", "buyer_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("marketing_campaigns.id"))
    customer_id: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(32))
    arm: Mapped[str] = mapped_column(String(64))
    # "pending" | "sending" (claimed by one worker) | "sent" | "skipped" | "failed" | "held_out"
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text, default=None)  # why skipped or failed
    next_attempt_at: Mapped[datetime] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    first_click_at: Mapped[datetime | None] = mapped_column(default=None)
    last_click_at: Mapped[datetime | None] = mapped_column(default=None)
    clicks: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # What became of the message after the handover: "queued" | "sent" (the channel's API took
    # it) | "delivered" | "read" | "failed"; None while nothing went out (see _delivery.py).
    delivery: Mapped[str | None] = mapped_column(String(16), default=None)
    delivery_key: Mapped[str | None] = mapped_column(String(128), default=None)  # for news
    delivery_at: Mapped[datetime | None] = mapped_column(default=None)
    # The send the caps count (marketing_sends.id): taken back when the delivery fails later.
    send_id: Mapped[int | None] = mapped_column(default=None)
    # How often the channel's send rate held the recipient back when its turn came.
    deferrals: Mapped[int] = mapped_column(Integer, default=0)
    # The shop's own id of the customer who clicked this message's link and then bought: the
    # checkout reports the link's ``campaign_click`` with the order, so a messaging-app
    # recipient (an app id) is credited for an order under the shop's customer id.
    buyer_id: Mapped[str | None] = mapped_column(String(128), default=None)


class CampaignConversionRow(Base):
    """An order attributed to the campaign message the customer last received or clicked
    (one campaign per order: a replayed order event changes nothing)."""

    __tablename__ = "marketing_campaign_conversions"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[str] = mapped_column(String(64), unique=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("marketing_campaigns.id"))
    recipient_id: Mapped[int] = mapped_column(ForeignKey("marketing_recipients.id"))
    customer_id: Mapped[str] = mapped_column(String(128))
    revenue: Mapped[float] = mapped_column(Float)
    converted_at: Mapped[datetime] = mapped_column()
