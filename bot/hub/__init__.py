"""The hub process: the FastAPI application that every channel plugs into."""

from bot.hub._app import Health, create_app

__all__ = ["Health", "create_app"]
