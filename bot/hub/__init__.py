"""The hub process: the FastAPI application that every channel plugs into."""

from bot.hub._app import Health, HubServices, create_app

__all__ = ["Health", "HubServices", "create_app"]
