"""Parse messages with a trained Rasa model: ``python -m bot.rasa_components.nlu_predict``.

Runs in the Rasa environment (Python 3.10) for ``python -m bot eval nlu``, which computes the
scores in the hub's environment. Reads JSON lines ``{"text": ...}`` from ``--input`` and writes
one JSON line per message: the predicted intent, its confidence, the ranking and the entities.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from typing import Any, Dict, List

logger = logging.getLogger(__name__)


async def _predict(model: str, texts: List[str]) -> List[Dict[str, Any]]:
    from rasa.core.agent import Agent
    from rasa.utils.common import configure_logging_and_warnings
    from rasa.utils.log_utils import configure_structlog

    # Rasa logs every parse at debug level; the caller only wants the predictions.
    configure_logging_and_warnings(logging.WARNING)
    configure_structlog(logging.WARNING)

    agent = Agent.load(model)
    results = []
    for text in texts:
        parsed = await agent.parse_message(text)
        results.append(
            {
                "text": text,
                "intent": (parsed.get("intent") or {}).get("name"),
                "confidence": (parsed.get("intent") or {}).get("confidence"),
                "ranking": [
                    {"name": r.get("name"), "confidence": r.get("confidence")}
                    for r in parsed.get("intent_ranking") or []
                ][:5],
                "entities": [
                    {
                        "entity": e.get("entity"),
                        "start": e.get("start"),
                        "end": e.get("end"),
                        "value": e.get("value"),
                    }
                    for e in parsed.get("entities") or []
                    if e.get("entity") != "language"
                ],
                # Set by IntentClassifier when its LLM assist was asked (intent_classifier.py).
                "llm_assist": parsed.get("llm_assist"),
            }
        )
    return results


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a trained model (.tar.gz)")
    parser.add_argument("--input", required=True, help="JSON lines with a text field each")
    parser.add_argument("--output", required=True, help="where to write the predictions")
    args = parser.parse_args(argv)
    with open(args.input, encoding="utf-8") as source:
        texts = [json.loads(line)["text"] for line in source if line.strip()]
    predictions = asyncio.run(_predict(args.model, texts))
    with open(args.output, "w", encoding="utf-8") as target:
        for prediction in predictions:
            target.write(json.dumps(prediction, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
