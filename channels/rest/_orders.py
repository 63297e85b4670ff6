"""``POST /api/orders/placed``: the shop's back end reports an order placed outside the
dialogue (its own checkout), so the orders module stores it and tells its listeners (campaign
attribution, recommendation events); behind ``BOT_API_KEY``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Literal, Protocol

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from bot.orders import OrderService


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LineIn(_In):
    """One line of the order."""

    sku: str = Field(min_length=1, max_length=32)
    quantity: int = Field(ge=1, le=99)


class PlacedIn(_In):
    """A paid order of a customer the shop knows."""

    customer_id: str = Field(min_length=1, max_length=128)
    items: Annotated[list[LineIn], Field(min_length=1, max_length=50)]
    address: str = Field(min_length=1, max_length=200)
    recipient: str = Field(min_length=1, max_length=64)
    phone: str = Field(min_length=5, max_length=20)
    campaign_click: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The campaign_click parameter a tracked campaign link added to the shop's "
        "page, kept by the shop's site: the order is credited to that message.",
    )


class PlacedOut(BaseModel):
    """The stored order."""

    order_id: str
    customer_id: str
    total: int
    status: str
    campaign_click: Literal["noted", "unknown"] | None = Field(
        default=None,
        description="noted: the order is credited by the link; unknown: the token is no "
        "campaign link (the order is stored all the same).",
    )


class ClickNotes(Protocol):
    """Where the checkout's campaign clicks go (the campaign attribution's order listener)."""

    def expect_click(self, customer_id: str, token: str) -> bool: ...

    def forget_click(self, customer_id: str) -> None: ...


def build_orders_router(
    orders: OrderService,
    vouch: Callable[[Request], Awaitable[None]],
    clicks: ClickNotes | None = None,
) -> APIRouter:
    """``/api/orders/placed``; ``vouch`` checks the shop's API key."""
    router = APIRouter(prefix="/api/orders", tags=["orders"], dependencies=[Depends(vouch)])

    @router.post("/placed", status_code=201)
    async def placed(request: PlacedIn) -> PlacedOut:
        """Store the order (unknown customers, SKUs or bad addresses answer 422 saying which)
        and tell the order listeners, which credit it to the campaign that last reached the
        customer, or to the message whose link ``campaign_click`` names. One small SQLite
        write: run on the loop so the listeners' tasks join it."""
        click: Literal["noted", "unknown"] | None = None
        if request.campaign_click is not None and clicks is not None:
            noted = clicks.expect_click(request.customer_id, request.campaign_click)
            click = "noted" if noted else "unknown"
        try:
            order = orders.place(
                request.customer_id,
                [(line.sku, line.quantity) for line in request.items],
                address=request.address,
                recipient=request.recipient,
                phone=request.phone,
            )
        except Exception:  # refused: the click waits for no order; the error goes on
            if clicks is not None:
                clicks.forget_click(request.customer_id)
            raise
        return PlacedOut(
            order_id=order.id,
            customer_id=order.customer_id,
            total=order.total,
            status=order.status,
            campaign_click=click,
        )

    return router
