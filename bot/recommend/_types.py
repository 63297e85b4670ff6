"""Plain data crossing the module's border: catalogue items, events, recommendations, profiles."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

EventKind = Literal["view", "search", "click", "cart", "purchase", "rating", "return", "dismiss"]
# "dismiss": the customer said "not interested" to a recommended item.
EVENT_KINDS: tuple[EventKind, ...] = (
    "view",
    "search",
    "click",
    "cart",
    "purchase",
    "rating",
    "return",
    "dismiss",
)
# How much one event says about liking the item; a return says the customer did not want it.
# A rating weighs its stars: it says the customer used the item, the stars how much they liked it.
EVENT_WEIGHTS: dict[str, float] = {
    "view": 1.0,
    "search": 0.5,
    "click": 2.0,
    "cart": 3.0,
    "purchase": 5.0,
    "return": -5.0,
    "dismiss": -3.0,
}


def event_weight(kind: str, value: float | None) -> float:
    """The implicit-feedback weight of one event (a rating: its stars, 1 to 5)."""
    if kind == "rating":
        return max(0.0, value or 0.0)
    return EVENT_WEIGHTS[kind]


@dataclass(frozen=True)
class CatalogueItem:
    """One product of the catalogue; prices in yuan, ``stock`` None when unknown (unlimited)."""

    id: str
    name_zh: str
    name_en: str
    category: str
    price: float
    description_zh: str = ""
    description_en: str = ""
    stock: int | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    image: str | None = None

    def name(self, language: str) -> str:
        """The item's name in ``language`` ("zh" or "en")."""
        return self.name_zh if language == "zh" else self.name_en

    def text(self) -> str:
        """Name and description in both languages: what the content model embeds."""
        parts = [self.name_zh, self.name_en, self.category, self.description_zh]
        parts += [self.description_en, *(f"{k}: {v}" for k, v in self.attributes.items())]
        return " ".join(p for p in parts if p)


@dataclass(frozen=True)
class Event:
    """One interaction of a customer with an item (``value``: the rating for ``rating``)."""

    user_id: str
    item_id: str
    kind: EventKind
    at: datetime
    value: float | None = None
    channel: str | None = None
    device: str | None = None
    query: str | None = None


@dataclass(frozen=True)
class RowProblem:
    """A row of an imported file that was skipped, and why."""

    line: int
    message: str


@dataclass(frozen=True)
class ImportReport:
    """What an import kept and which rows it skipped (each with its line number)."""

    imported: int
    skipped: tuple[RowProblem, ...]


@dataclass(frozen=True)
class Reason:
    """Why an item is recommended, in both languages, and which model said so."""

    model: str
    zh: str
    en: str

    def text(self, language: str) -> str:
        """The reason in ``language`` ("zh" or "en")."""
        return self.zh if language == "zh" else self.en


@dataclass(frozen=True)
class Recommendation:
    """One recommended item with its reason and the per-model scores behind its rank."""

    item: CatalogueItem
    score: float
    reason: Reason
    breakdown: dict[str, float]


@dataclass(frozen=True)
class Filters:
    """Business rules applied after ranking; None means no restriction."""

    category: str | None = None
    budget_low: float | None = None
    budget_high: float | None = None
    in_stock_only: bool = True
    exclude_bought: bool = True
    exclude_returned: bool = True  # returned or dismissed ("not interested") items
    exclude: frozenset[str] = frozenset()


@dataclass(frozen=True)
class UserProfile:
    """A customer's profile as events built it: affinities, RFM, language."""

    user_id: str
    category_affinity: dict[str, float]
    price_band_affinity: dict[str, float]
    recency_days: float | None
    frequency: int
    monetary: float
    language: str | None
    events: int
    last_event_at: datetime | None
