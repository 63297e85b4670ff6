"""The marketing module's exceptions: one small hierarchy, mapped to HTTP statuses in
``channels/connector/_errors.py``."""

from __future__ import annotations


class MarketingError(Exception):
    """Base of the marketing module's errors."""


class InvalidSegment(MarketingError):
    """A segment expression that does not parse or compares values of the wrong kind."""


class InvalidMarketingRequest(MarketingError):
    """A request with a bad field (customer id, channel, time zone, experiment arms...)."""


class ExperimentNotFound(MarketingError):
    """No experiment has that id."""


class SegmentNotFound(MarketingError):
    """No saved segment has that name."""


class VariantNotFound(MarketingError):
    """No copy variant has that id."""


class AlreadyReviewed(MarketingError):
    """The variant was reviewed already (or the checker blocked it): nothing changed."""


class CampaignNotFound(MarketingError):
    """No campaign has that id."""


class LinkNotFound(MarketingError):
    """A tracked link whose token is forged, mistyped or not of a sent message."""


class DeliveryFailed(MarketingError):
    """A channel could not take a campaign message (raised by couriers, recorded per
    recipient; never reaches HTTP)."""
