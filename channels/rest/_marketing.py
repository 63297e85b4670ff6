"""The marketing API (``/api/marketing/*``) for the shop's back end and its marketers' tools:
the audience, segment previews, the send gate, opt-outs, experiments and their results.

Behind ``BOT_API_KEY`` like ``/api/tickets``: without the key the routes stay closed, since the
audience is customers' personal data. Each route translates and calls one service method.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from bot.marketing import (
    CLAIMS,
    LENGTH_LIMITS,
    MAX_DAYS,
    MAX_WAVES,
    ArmResult,
    BudgetPlan,
    BudgetPlanner,
    Campaign,
    CampaignDraft,
    CampaignReport,
    Campaigns,
    Contact,
    CopyBrief,
    CopyDesk,
    CustomerProfile,
    Experiment,
    ExperimentPlan,
    MarketingService,
    Results,
    Variant,
    delivery_known_zh,
)

logger = logging.getLogger(__name__)

CustomerId = Annotated[str, Field(min_length=1, max_length=128, description="The customer's id.")]
Channel = Annotated[str, Field(min_length=1, max_length=32, description="rest, webchat, email...")]
Name = Annotated[str, Field(min_length=1, max_length=64)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ContactIn(_In):
    """A customer of the audience on one channel."""

    customer_id: CustomerId
    channel: Channel
    language: Literal["", "zh", "en"] = ""
    timezone: str = Field(default="", max_length=64, description="IANA name; empty: the shop's.")
    tags: list[Annotated[str, Field(max_length=64)]] = Field(default_factory=list, max_length=32)
    churn_risk: float = Field(default=0.0, ge=0, le=1)
    last_contact_at: AwareDatetime | None = None
    address: str = Field(default="", max_length=254, description="E-mail address (email only).")
    birthday: str = Field(
        default="",
        max_length=5,
        description='Month-day "MM-DD" (no year is kept), only for customers who agreed.',
    )


class ExpressionIn(_In):
    """A segment expression (see the README's grammar)."""

    expression: str = Field(max_length=2000)


class PreviewIn(ExpressionIn):
    """A segment to preview, and how many members to show."""

    sample: int = Field(default=10, ge=0, le=100)


class ProfileOut(BaseModel):
    """What a segment saw of a customer."""

    customer_id: str
    channel: str
    language: str
    timezone: str
    tags: list[str]
    recency_days: float | None
    frequency: int
    monetary: float
    churn_risk: float
    days_since_contact: float | None
    affinity: dict[str, float]
    consented: bool
    purchases: int
    days_since_first_purchase: float | None
    cart_abandoned_hours: float | None
    days_to_birthday: int | None

    @classmethod
    def of(cls, p: CustomerProfile) -> ProfileOut:
        return cls(
            customer_id=p.customer_id,
            channel=p.channel,
            language=p.language,
            timezone=p.timezone,
            tags=sorted(p.tags),
            recency_days=p.recency_days,
            frequency=p.frequency,
            monetary=p.monetary,
            churn_risk=p.churn_risk,
            days_since_contact=p.days_since_contact,
            affinity=dict(p.affinity),
            consented=p.consented,
            purchases=p.purchases,
            days_since_first_purchase=p.days_since_first_purchase,
            cart_abandoned_hours=p.cart_abandoned_hours,
            days_to_birthday=p.days_to_birthday,
        )


class ExclusionOut(BaseModel):
    """People seen on a channel who are no marketing contact, and why."""

    reason: str = Field(description="`anonymous_webchat`: unidentified web-chat visitors.")
    count: int
    detail: str


class PreviewOut(BaseModel):
    """A segment's size before use."""

    expression: str
    audience: int
    matched: int
    reachable: int = Field(
        description="Matched customers with a marketing opt-in on their channel."
    )
    sample: list[ProfileOut]
    excluded: list[ExclusionOut] = Field(
        default_factory=list,
        description="Who the channels saw but is outside the audience, with the reason.",
    )


class SendIn(_In):
    """Ask to send one marketing message now; an admitted send is counted against the caps."""

    customer_id: CustomerId
    channel: Channel
    campaign: Name


class AdmissionOut(BaseModel):
    """The gate's answer."""

    admitted: bool
    refused: Literal["no_consent", "quiet_hours", "frequency_cap"] | None
    at: datetime


class OptOutIn(_In):
    """A customer asks to stop marketing on a channel (the hub does this itself on "退订"/STOP)."""

    customer_id: CustomerId
    channel: Channel
    language: Literal["zh", "en"] = "zh"


class OptOutOut(BaseModel):
    """The confirmation to show the customer."""

    confirmation: str


class ExperimentIn(_In):
    """A new experiment; the first arm is the hold-out control."""

    name: Name
    arms: list[Name] = Field(min_length=2, max_length=10)
    policy: Literal["fixed", "thompson"] = "fixed"
    horizon: int = Field(default=1000, ge=1, le=10_000_000, description="Recipients per arm.")
    control_share: float | None = Field(default=None, gt=0, lt=1)
    attribution_hours: int | None = Field(default=None, ge=1, le=2160)
    seed: int = Field(default=0, ge=0, le=2**31)


class ExperimentOut(BaseModel):
    """An experiment as created."""

    id: int
    name: str
    arms: list[str]
    policy: str
    horizon: int
    control_share: float
    attribution_hours: int

    @classmethod
    def of(cls, e: Experiment) -> ExperimentOut:
        return cls(
            id=e.id,
            name=e.name,
            arms=e.arms,
            policy=e.policy,
            horizon=e.horizon,
            control_share=e.control_share,
            attribution_hours=e.attribution_hours,
        )


class AssignIn(_In):
    """A recipient to assign."""

    customer_id: CustomerId


class AssignOut(BaseModel):
    """The recipient's arm (the same on every call)."""

    arm: str


class ConversionIn(_In):
    """An order of a recipient."""

    customer_id: CustomerId
    order_id: Name
    revenue: float = Field(ge=0, lt=1e9)
    at: AwareDatetime | None = None


class ConversionOut(BaseModel):
    """Whether the order counted (in the window, first time seen)."""

    attributed: bool


class ArmOut(BaseModel):
    """One arm's figures."""

    name: str
    recipients: int
    conversions: int
    conversion_rate: float
    revenue: float
    revenue_per_recipient: float
    uplift: float | None
    uplift_interval: tuple[float, float] | None
    relative_uplift: float | None
    revenue_uplift: float | None
    revenue_uplift_interval: tuple[float, float] | None
    probability_better: float | None

    @classmethod
    def of(cls, a: ArmResult) -> ArmOut:
        return cls(**a.__dict__)


class ResultsOut(BaseModel):
    """Results and the stop rule's verdict."""

    arms: list[ArmOut]
    level: float
    horizon: int
    decided: bool
    winner: str | None
    stop_rule: str

    @classmethod
    def of(cls, r: Results) -> ResultsOut:
        return cls(
            arms=[ArmOut.of(a) for a in r.arms],
            level=r.level,
            horizon=r.horizon,
            decided=r.decided,
            winner=r.winner,
            stop_rule=r.stop_rule,
        )


class BriefIn(_In):
    """What the copy may say."""

    products: list[Annotated[str, Field(max_length=64)]] = Field(min_length=1, max_length=10)
    discounts: list[float] = Field(default_factory=list, max_length=5)
    prices: list[float] = Field(default_factory=list, max_length=10)
    claims: list[str] = Field(
        default_factory=list, max_length=len(CLAIMS), description=f"Of: {', '.join(CLAIMS)}."
    )
    channel: str = Field(default="sms", description=f"One of: {', '.join(LENGTH_LIMITS)}.")

    def brief(self) -> CopyBrief:
        return CopyBrief(
            tuple(self.products),
            tuple(self.discounts),
            tuple(self.prices),
            tuple(self.claims),
            self.channel,
        )


class DraftIn(_In):
    """Write variants for a campaign (the LLM when configured, else templates)."""

    campaign: Name
    language: Literal["zh", "en"]
    n: int = Field(default=3, ge=1, le=10)
    brief: BriefIn


class ProblemOut(BaseModel):
    """What the checker found."""

    kind: str
    detail: str


class VariantOut(BaseModel):
    """A variant and its review."""

    id: int
    campaign: str
    language: str
    channel: str
    source: str
    text: str
    problems: list[ProblemOut]
    status: str
    edited_text: str | None
    final_text: str
    reviewer: str | None
    reviewed_at: datetime | None

    @classmethod
    def of(cls, v: Variant) -> VariantOut:
        return cls(
            id=v.id,
            campaign=v.campaign,
            language=v.language,
            channel=v.channel,
            source=v.source,
            text=v.text,
            problems=[ProblemOut(kind=p.kind, detail=p.detail) for p in v.problems],
            status=v.status,
            edited_text=v.edited_text,
            final_text=v.final_text,
            reviewer=v.reviewer,
            reviewed_at=v.reviewed_at,
        )


class ReviewIn(_In):
    """A human's decision on a pending variant."""

    action: Literal["approve", "edit", "reject"]
    reviewer: str = Field(min_length=1, max_length=64)
    edited_text: str | None = Field(default=None, max_length=4000)


ExperimentId = Annotated[int, Path(ge=1, le=2**31)]


class ExperimentPlanIn(_In):
    """An experiment created with the campaign: the hold-out "holdout" and one arm per key of
    ``variants``."""

    policy: Literal["fixed", "thompson"] = "fixed"
    hold_out_share: float = Field(default=0.1, gt=0, lt=1)
    horizon: int = Field(default=1000, ge=1, le=10_000_000, description="Recipients per arm.")


class CampaignIn(_In):
    """A campaign: who (a segment expression), what (approved copy variant ids per arm), the
    link it tracks, its experiment, and when (once at ``starts_at``, or triggered: new members
    of the segment are reached on every run until ``ends_at``)."""

    name: Name
    segment: str = Field(max_length=2000)
    variants: dict[
        Annotated[str, Field(max_length=64)], Annotated[list[int], Field(max_length=10)]
    ] = Field(
        min_length=1,
        max_length=10,
        description='Arm to approved variant ids; without an experiment one arm, "main".',
    )
    url: str | None = Field(default=None, max_length=2000)
    experiment_id: int | None = Field(default=None, ge=1, le=2**31)
    experiment: ExperimentPlanIn | None = Field(
        default=None, description="A new experiment for this campaign (instead of experiment_id)."
    )
    kind: Literal["once", "triggered"] = "once"
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    waves: int = Field(
        default=1,
        ge=1,
        le=MAX_WAVES,
        description="A one-off campaign's audience in this many shares, sent wave_every_hours "
        "apart: a Thompson experiment learns from each wave's conversions before the next.",
    )
    wave_every_hours: float = Field(default=0, ge=0, le=MAX_DAYS * 24)


class CampaignOut(BaseModel):
    """A campaign as stored."""

    id: int
    name: str
    segment: str
    variants: dict[str, list[int]]
    url: str | None
    experiment_id: int | None
    kind: str
    starts_at: datetime
    ends_at: datetime
    status: str
    waves: int
    wave_every_hours: float
    waves_taken: int
    next_wave_at: datetime | None

    @classmethod
    def of(cls, c: Campaign) -> CampaignOut:
        return cls(
            id=c.id,
            name=c.name,
            segment=c.segment,
            variants=c.variants,
            url=c.url,
            experiment_id=c.experiment_id,
            kind=c.kind,
            starts_at=c.starts_at,
            ends_at=c.ends_at,
            status=c.status,
            waves=c.waves,
            wave_every_hours=c.wave_every.total_seconds() / 3600,
            waves_taken=c.waves_taken,
            next_wave_at=c.next_wave_at,
        )


class RecipientOut(BaseModel):
    """What became of one recipient's message: its status, and after the handover its
    delivery (queued, sent = accepted by the channel, delivered, read, failed)."""

    customer_id: str
    channel: str
    arm: str
    status: str
    reason: str | None
    sent_at: datetime | None
    clicks: int
    delivery: str | None
    delivery_at: datetime | None
    deferrals: int = Field(description="How often the channel's send rate held it back.")


class ArmFiguresOut(BaseModel):
    """One arm of a campaign: sent, clicks, conversions, rate with its Wilson 95% interval and,
    with an experiment, the uplift over the hold-out with the experiment's interval."""

    name: str
    held_out: bool
    recipients: int
    sent: int
    unique_clicks: int
    conversions: int
    revenue: float
    conversion_rate: float | None
    rate_interval: tuple[float, float] | None
    uplift: float | None
    uplift_interval: tuple[float, float] | None
    delivery: dict[str, int] = Field(
        description="Sent messages by delivery: queued, sent (accepted by the channel), "
        "delivered, read, failed."
    )
    deferred: int = Field(description="Recipients the channel's send rate held back at least once.")


class CampaignReportOut(BaseModel):
    """A campaign's results so far."""

    campaign: CampaignOut
    statuses: dict[str, int]
    reasons: dict[str, int]
    clicks: int
    unique_clicks: int
    conversions: int
    revenue: float
    recipients: list[RecipientOut]
    arms: list[ArmFiguresOut]
    delivery: dict[str, int] = Field(description="As each arm's, for the whole campaign.")
    delivery_known: dict[str, str] = Field(
        description="Per channel, what it reports after taking a message: most say nothing "
        'beyond "accepted by the channel".'
    )
    delivery_known_zh: dict[str, str] = Field(
        description="delivery_known in Chinese (what the console in Chinese shows)."
    )
    deferred: int = Field(description="Recipients the channel's send rate held back at least once.")
    deferrals: int = Field(description="How often it did.")

    @classmethod
    def of(cls, r: CampaignReport) -> CampaignReportOut:
        return cls(
            campaign=CampaignOut.of(r.campaign),
            statuses=r.statuses,
            reasons=r.reasons,
            clicks=r.clicks,
            unique_clicks=r.unique_clicks,
            conversions=r.conversions,
            revenue=r.revenue,
            recipients=[RecipientOut(**vars(x)) for x in r.recipients],
            arms=[ArmFiguresOut(**vars(a)) for a in r.arms],
            delivery=r.delivery,
            delivery_known=r.delivery_known,
            delivery_known_zh=delivery_known_zh(r.delivery_known),
            deferred=r.deferred,
            deferrals=r.deferrals,
        )


class RunOut(BaseModel):
    """What a run of the campaign job did."""

    recipients_added: int
    outcomes: dict[str, int]


def build_marketing_router(
    marketing: MarketingService,
    copy_desk: CopyDesk,
    vouch: Callable[[Request], Awaitable[None]],
    campaigns: Campaigns | None = None,
    budget: BudgetPlanner | None = None,
) -> APIRouter:
    """``/api/marketing/*``; ``vouch`` checks the shop's API key (or refuses when none is set)."""
    router = APIRouter(prefix="/api/marketing", tags=["marketing"], dependencies=[Depends(vouch)])
    if campaigns is not None:
        _campaign_routes(router, campaigns)
    if budget is not None:
        _budget_routes(router, budget)

    @router.put("/contacts", response_model=ContactIn)
    async def put_contact(contact: ContactIn) -> ContactIn:
        """Add or update a customer of the audience."""
        await marketing.upsert_contact(
            Contact(
                contact.customer_id,
                contact.channel,
                contact.language,
                contact.timezone,
                frozenset(contact.tags),
                contact.churn_risk,
                contact.last_contact_at,
                contact.address,
                contact.birthday,
            )
        )
        return contact

    @router.post("/segments/preview")
    async def preview(request: PreviewIn) -> PreviewOut:
        """How many customers the expression matches and may be reached, with a sample."""
        found = await marketing.preview(request.expression, request.sample)
        return PreviewOut(
            expression=found.expression,
            audience=found.audience,
            matched=found.matched,
            reachable=found.reachable,
            sample=[ProfileOut.of(p) for p in found.sample],
            excluded=[
                ExclusionOut(reason=e.reason, count=e.count, detail=e.detail)
                for e in found.excluded
            ],
        )

    @router.put("/segments/{name}")
    async def save_segment(
        name: Annotated[str, Path(min_length=1, max_length=64)], request: ExpressionIn
    ) -> dict[str, str]:
        """Keep a segment under a name."""
        segment = await marketing.save_segment(name, request.expression)
        return {"name": name, "expression": segment.expression}

    @router.get("/segments")
    async def segments() -> dict[str, str]:
        """Saved segments, name to expression."""
        return await marketing.segments()

    @router.post("/sends")
    async def send(request: SendIn) -> AdmissionOut:
        """Ask the gate for one send now (consent, quiet hours, caps); admitted sends count."""
        answer = await marketing.admit(request.customer_id, request.channel, request.campaign)
        return AdmissionOut(admitted=answer.admitted, refused=answer.refused, at=answer.at)

    @router.post("/opt-out")
    async def opt_out(request: OptOutIn) -> OptOutOut:
        """Stop marketing to the customer on the channel, at once."""
        text = await marketing.opt_out(request.customer_id, request.channel, request.language)
        return OptOutOut(confirmation=text)

    @router.post("/experiments", status_code=201)
    async def create_experiment(request: ExperimentIn) -> ExperimentOut:
        """A new A/B/n experiment with a hold-out control."""
        experiment = await marketing.create_experiment(
            request.name,
            request.arms,
            policy=request.policy,
            horizon=request.horizon,
            control_share=request.control_share,
            attribution_hours=request.attribution_hours,
            seed=request.seed,
        )
        return ExperimentOut.of(experiment)

    @router.get("/experiments")
    async def experiments() -> list[ExperimentOut]:
        """Every experiment, newest first."""
        return [ExperimentOut.of(e) for e in await marketing.experiments()]

    @router.post("/experiments/{experiment_id}/assignments")
    async def assign(experiment_id: ExperimentId, request: AssignIn) -> AssignOut:
        """The recipient's arm."""
        return AssignOut(arm=await marketing.assign(experiment_id, request.customer_id))

    @router.post("/experiments/{experiment_id}/conversions")
    async def convert(experiment_id: ExperimentId, request: ConversionIn) -> ConversionOut:
        """Attribute an order to the recipient's arm when it falls in the window."""
        attributed = await marketing.record_conversion(
            experiment_id, request.customer_id, request.order_id, request.revenue, request.at
        )
        return ConversionOut(attributed=attributed)

    @router.get("/experiments/{experiment_id}/results")
    async def results(experiment_id: ExperimentId) -> ResultsOut:
        """Conversion rate, revenue per recipient, uplift with intervals, the stop rule."""
        return ResultsOut.of(await marketing.results(experiment_id))

    @router.post("/copy/drafts", status_code=201)
    async def draft(request: DraftIn) -> list[VariantOut]:
        """Variants written and checked; those that pass wait for a human's review."""
        variants = await copy_desk.draft(
            request.campaign, request.brief.brief(), request.language, request.n
        )
        return [VariantOut.of(v) for v in variants]

    @router.get("/copy/{campaign}")
    async def variants(
        campaign: Annotated[str, Path(min_length=1, max_length=64)],
        status: Literal["pending", "blocked", "approved", "rejected"] | None = None,
    ) -> list[VariantOut]:
        """The campaign's variants: the approval queue with ``status=pending``."""
        return [VariantOut.of(v) for v in await copy_desk.variants(campaign, status)]

    @router.post("/copy/variants/{variant_id}/review")
    async def review(variant_id: ExperimentId, request: ReviewIn) -> VariantOut:
        """Approve, edit (checked again; the original is kept) or reject a pending variant."""
        variant = await copy_desk.review(
            variant_id, request.action, request.reviewer, request.edited_text
        )
        return VariantOut.of(variant)

    return router


def _campaign_routes(router: APIRouter, campaigns: Campaigns) -> None:
    @router.post("/campaigns", status_code=201)
    async def create_campaign(request: CampaignIn) -> CampaignOut:
        """A campaign of approved copy; the campaign job sends it when it is due."""
        draft = CampaignDraft(
            request.name,
            request.segment,
            request.variants,
            request.url,
            request.experiment_id,
            request.kind,
            request.starts_at,
            request.ends_at,
            request.waves,
            timedelta(hours=request.wave_every_hours),
        )
        if request.experiment is not None:
            plan = ExperimentPlan(
                request.experiment.policy,
                request.experiment.hold_out_share,
                request.experiment.horizon,
            )
            return CampaignOut.of(await campaigns.create_tested(draft, plan))
        return CampaignOut.of(await campaigns.create(draft))

    @router.get("/campaigns")
    async def list_campaigns() -> list[CampaignOut]:
        """Every campaign with its status, newest first."""
        return [CampaignOut.of(c) for c in await campaigns.campaigns()]

    @router.get("/campaigns/{campaign_id}")
    async def campaign_report(campaign_id: ExperimentId) -> CampaignReportOut:
        """Recipients by status and reason (sent, skipped, failed, held out), what became of
        the messages sent (queued, accepted by the channel, delivered, read, failed), the
        recipients the channels' send rates deferred, clicks, orders; in total and per arm."""
        return CampaignReportOut.of(await campaigns.report(campaign_id))

    @router.post("/campaigns/run")
    async def run_campaigns() -> RunOut:
        """Send what is due now, as the periodic job does (claims keep every send single),
        without waiting for a paced channel's next free place: recipients over a channel's
        send rate wait for the job (``rate_limited`` in the outcomes)."""
        report = await campaigns.run_due(wait=False)
        return RunOut(recipients_added=report.recipients_added, outcomes=report.outcomes)


class BudgetIn(_In):
    """A budget to plan across saved segments and channels."""

    budget: float = Field(gt=0, le=1e9, description="What may be spent, in the shop's currency.")
    cost: dict[Channel, Annotated[float, Field(gt=0, le=1e4)]] = Field(
        min_length=1, max_length=20, description="Cost per message on each channel to plan for."
    )
    segments: list[Name] = Field(
        default_factory=list, max_length=50, description="Saved segments; none: all of them."
    )


class CellOut(BaseModel):
    """One segment on one channel: its learnt conversion rate and its planned sends."""

    segment: str
    channel: str
    cost: float
    reachable: int
    sent: int = Field(description="Messages earlier campaigns sent this segment on the channel.")
    conversions: int
    rate: float = Field(description="Posterior mean of the conversion rate.")
    interval: tuple[float, float] = Field(description="90 % credible interval of the rate.")
    sends: int
    spend: float
    expected_conversions: float


class BudgetPlanOut(BaseModel):
    """The plan (an LP on posterior means) and an even split's expected conversions."""

    budget: float
    spend: float
    expected_conversions: float
    even_split_conversions: float
    prior_rate: float
    cells: list[CellOut]

    @classmethod
    def of(cls, plan: BudgetPlan) -> BudgetPlanOut:
        return cls.model_validate(asdict(plan))


def _budget_routes(router: APIRouter, budget: BudgetPlanner) -> None:
    @router.post("/budget/plan")
    async def plan_budget(request: BudgetIn) -> BudgetPlanOut:
        """How many messages to send each saved segment on each channel so the budget buys the
        most expected conversions, learnt from the campaigns sent to those segments before."""
        return BudgetPlanOut.of(await budget.plan(request.budget, request.cost, request.segments))


Token = Annotated[str, Path(min_length=1, max_length=200)]


def build_campaign_links_router(campaigns: Campaigns) -> APIRouter:
    """The links in campaign messages, open to whoever holds them (customers follow them from
    their mail or chat); the signed token is the only key. ``GET /m/c/<token>`` leads only to
    its own campaign's URL; ``/m/u/<token>`` unsubscribes: GET shows a button (mail scanners
    fetch links, and must not unsubscribe anyone), POST opts out (RFC 8058 one-click too)."""
    router = APIRouter(tags=["marketing"])

    @router.get("/m/c/{token}", response_class=RedirectResponse, status_code=302)
    async def follow(token: Token) -> RedirectResponse:
        """Record the click and redirect to the campaign's page; 404 for a bad token."""
        return RedirectResponse(await campaigns.click(token), status_code=302)

    @router.get("/m/u/{token}", response_class=HTMLResponse)
    async def unsubscribe_page(token: Token) -> HTMLResponse:
        """A page with one button that unsubscribes; 404 for a bad token."""
        campaigns.links.recipient(token, "u")
        action = f"/m/u/{html.escape(token, quote=True)}"
        form = f'<form method="post" action="{action}"><button>退订 · Unsubscribe</button></form>'
        return HTMLResponse(_page("退订营销消息 · Unsubscribe from marketing", form), headers=_PAGE)

    @router.post("/m/u/{token}", response_class=HTMLResponse)
    async def unsubscribe(token: Token) -> HTMLResponse:
        """Opt out of marketing on the channel the message came by; the confirmation."""
        confirmation = await campaigns.unsubscribe(token)
        return HTMLResponse(_page(html.escape(confirmation), ""), headers=_PAGE)

    return router


# No script, no resource from anywhere, the form posts only here, the token leaks nowhere.
_PAGE = {
    "Content-Security-Policy": "default-src 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title></head><body><p>{title}</p>{body}</body></html>"
    )
