"""The hub process: the FastAPI application that every channel plugs into."""

from bot.hub._app import Health, create_app, create_asgi

__all__ = ["Health", "create_app", "create_asgi"]
