"""The REST channel: ``POST /api/messages``, ``/api/media``, the ticket API ``/api/tickets`` and a
customer's own export and erasure ``/api/privacy`` (and ``/privacy/download/<token>``, the export
asked for in a chat), the marketing API ``/api/marketing``, ``/api/orders/placed`` for orders
the shop's own checkout takes, and ``/api/events`` for what customers do on the shop's site."""

from channels.rest._events import build_events_router
from channels.rest._marketing import build_campaign_links_router, build_marketing_router
from channels.rest._media import build_media_router
from channels.rest._orders import build_orders_router
from channels.rest._privacy import build_download_router, build_privacy_router
from channels.rest._router import MessageIn, MessagesOut, ReplyOut, build_router
from channels.rest._tickets import Authorize, TicketCaller, build_tickets_router, csv_cell

__all__ = [
    "Authorize",
    "MessageIn",
    "MessagesOut",
    "ReplyOut",
    "TicketCaller",
    "build_campaign_links_router",
    "build_download_router",
    "build_events_router",
    "build_marketing_router",
    "build_media_router",
    "build_orders_router",
    "build_privacy_router",
    "build_router",
    "build_tickets_router",
    "csv_cell",
]
