"""``python -m bot``: the platform's command line."""

from bot.app import app

app(prog_name="python -m bot")
