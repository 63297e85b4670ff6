"""The assistant and the platform core.

Kept free of imports: Rasa's Python 3.10 environment imports ``bot.rasa_components`` and
``bot.language`` through this package.
"""
