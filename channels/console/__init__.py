"""The agent console: its HTTP API, its pages, and the dispatcher that routes the queue."""

from channels.console._api import build_router
from channels.console._context import ContextBuilder, OrdersLookup, Suggester, summarize
from channels.console._dispatch import Dispatcher
from channels.console._live import ConsoleNamespace
from channels.console._pages import build_pages

__all__ = [
    "ConsoleNamespace",
    "ContextBuilder",
    "Dispatcher",
    "OrdersLookup",
    "Suggester",
    "build_pages",
    "build_router",
    "summarize",
]
