"""The web-chat widget (plain JavaScript and CSS, no build step) and the demo shop page at ``/``."""

from channels.widget._pages import STATIC, build_pages

__all__ = ["STATIC", "build_pages"]
