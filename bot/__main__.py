"""``python -m bot``: the platform's command line."""

from bot.cli import app

app(prog_name="python -m bot")
