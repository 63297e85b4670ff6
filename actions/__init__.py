"""Rasa custom actions, served by rasa-sdk: ``python -m rasa_sdk --actions actions``.

Actions only adapt dialogue to the modules in ``bot/``; business logic lives there.
"""

from actions.smalltalk import ActionOutOfScope

__all__ = ["ActionOutOfScope"]
