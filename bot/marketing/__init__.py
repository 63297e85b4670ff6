"""Marketing: the audience and its segments (a safe expression language over profiles), the
send gate (marketing opt-in per channel, quiet hours in the customer's time zone, frequency
caps), opt-outs, and A/B/n experiments (fixed split or Thompson sampling) with their results."""

from bot.marketing._errors import (
    ExperimentNotFound,
    InvalidMarketingRequest,
    InvalidSegment,
    MarketingError,
    SegmentNotFound,
)
from bot.marketing._figures import regret_png
from bot.marketing._limits import (
    OPT_OUT_CONFIRMATION,
    OPT_OUT_WORDS,
    Admission,
    ContactPolicy,
    Refusal,
    is_opt_out,
)
from bot.marketing._segments import FIELDS, CustomerProfile, Segment
from bot.marketing._service import (
    Contact,
    Experiment,
    MarketingConfig,
    MarketingService,
    Preview,
    ProfileLookup,
)
from bot.marketing._simulator import (
    AllocationSetup,
    AuctionSetup,
    BidAgent,
    CampaignResult,
    CampaignSetup,
    allocate,
    simulate_allocation,
    simulate_bidding,
    simulate_campaign,
)
from bot.marketing._stats import (
    POLICIES,
    ArmLog,
    ArmResult,
    Policy,
    Results,
    results,
    sample_size,
)

__all__ = [
    "FIELDS",
    "OPT_OUT_CONFIRMATION",
    "OPT_OUT_WORDS",
    "POLICIES",
    "Admission",
    "AllocationSetup",
    "ArmLog",
    "ArmResult",
    "AuctionSetup",
    "BidAgent",
    "CampaignResult",
    "CampaignSetup",
    "Contact",
    "ContactPolicy",
    "CustomerProfile",
    "Experiment",
    "ExperimentNotFound",
    "InvalidMarketingRequest",
    "InvalidSegment",
    "MarketingConfig",
    "MarketingError",
    "MarketingService",
    "Policy",
    "Preview",
    "ProfileLookup",
    "Refusal",
    "Results",
    "Segment",
    "SegmentNotFound",
    "allocate",
    "is_opt_out",
    "regret_png",
    "results",
    "sample_size",
    "simulate_allocation",
    "simulate_bidding",
    "simulate_campaign",
]
