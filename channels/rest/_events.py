"""``POST /api/events``: the shop's back end reports what its customers do on its own site or app
(views, searches, carts, ratings, "not interested"), so recommendations learn from it and the
marketing triggers see it (an abandoned cart is a cart event of an item not bought since);
behind ``BOT_API_KEY``. Purchases come with the order (``/api/orders/placed``).

A batch is checked whole before anything is stored: one bad event refuses the batch, saying
which, and stores none of it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from bot.recommend import Event, RecommendService
from bot.storage import utcnow

CHANNEL = "shop"  # where the events happened, as the recommendation events record it
# A shop's clock may run a little ahead of the hub's; an event further in the future is a bug.
CLOCK_SKEW = timedelta(minutes=5)
MAX_BATCH = 500


class EventIn(BaseModel):
    """One thing a customer did with an item."""

    model_config = ConfigDict(extra="forbid")

    customer_id: str = Field(
        min_length=1, max_length=128, description="The shop's customer id (as on /api/messages)."
    )
    item_id: str = Field(min_length=1, max_length=64, description="A catalogue item's id.")
    kind: Literal["view", "search", "click", "cart", "rating", "dismiss"]
    at: AwareDatetime | None = Field(
        default=None, description="When it happened, with a time zone; default: now."
    )
    value: float | None = Field(default=None, ge=0, le=10, description="The rating, 0 to 10.")
    query: str | None = Field(default=None, max_length=200, description="A search's words.")
    device: Literal["mobile", "desktop", "tablet", "app"] | None = None


class EventsIn(BaseModel):
    """A batch of events, oldest first or in any order."""

    model_config = ConfigDict(extra="forbid")

    events: Annotated[list[EventIn], Field(min_length=1, max_length=MAX_BATCH)]


class EventsOut(BaseModel):
    """How many events were stored."""

    recorded: int


def build_events_router(
    recommendations: RecommendService, vouch: Callable[[Request], Awaitable[None]]
) -> APIRouter:
    """``/api/events``; ``vouch`` checks the shop's API key."""
    router = APIRouter(prefix="/api/events", tags=["events"], dependencies=[Depends(vouch)])

    @router.post("", status_code=201)
    async def record(request: EventsIn) -> EventsOut:
        """Store the batch: each event updates the customer's profile and the served model."""
        catalogue = await recommendations.catalogue()
        latest = utcnow() + CLOCK_SKEW
        problems = []
        for index, event in enumerate(request.events):
            if event.item_id not in catalogue:
                problems.append(f"events[{index}]: item '{event.item_id}' is not in the catalogue")
            if event.kind == "rating" and event.value is None:
                problems.append(f"events[{index}]: a rating needs a value between 0 and 10")
            if event.at is not None and event.at > latest:
                problems.append(f"events[{index}]: 'at' is in the future ({event.at.isoformat()})")
        if problems:
            shown = "; ".join(problems[:10])
            more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
            raise HTTPException(422, detail=f"nothing was stored: {shown}{more}")
        for event in request.events:
            await recommendations.record_event(
                Event(
                    event.customer_id,
                    event.item_id,
                    event.kind,
                    event.at or utcnow(),
                    value=event.value,
                    channel=CHANNEL,
                    device=event.device,
                    query=event.query,
                )
            )
        return EventsOut(recorded=len(request.events))

    return router
