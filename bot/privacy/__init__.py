"""Personal data: redaction of what must not leave the platform or reach a log."""

from bot.privacy._redact import RedactingFilter, redact

__all__ = ["RedactingFilter", "redact"]
