"""Custom Rasa components; loaded by Rasa 3.6 in its Python 3.10 environment.

Nothing in the hub imports this package, and it imports nothing of ours but ``bot.language``
(standard library only).
"""

from bot.rasa_components.e5_featurizer import E5Featurizer
from bot.rasa_components.intent_classifier import IntentClassifier
from bot.rasa_components.language_tagger import LanguageTagger

__all__ = ["E5Featurizer", "IntentClassifier", "LanguageTagger"]
