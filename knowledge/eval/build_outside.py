"""Rebuild the outside FAQ evaluation sets under ``knowledge/eval/outside/`` from their sources.

    .venv/bin/python -m knowledge.eval.build_outside nlpjs-corpus50-en --source corpus-en.json

``nlpjs-corpus50-en``: the "Corpus 50" intent corpus of nlp.js (MIT licence,
``examples/13-languages/corpora/corpus-en.json`` in the axa-group/nlp.js repository): 50 intents,
each with five training utterances and five held-out test utterances written by other people.
Each intent becomes one FAQ entry (first utterance the question, the other four its alternative
wordings, the intent name in words the answer); the held-out utterances are the customers'
questions. A seeded 30 % of the entries is left out of the corpus, so their questions (and the
corpus's own six out-of-domain questions) must be abstained on. Dev and test are split by
entry, so no entry has questions in both.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "outside"
REMOVED_SHARE = 0.3
SEED = 15


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text(
        "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8"
    )


def build_nlpjs(source: Path, out: Path) -> dict[str, int]:
    data = json.loads(source.read_text(encoding="utf-8"))["data"]
    intents = [d for d in data if d["intent"] != "None"]
    out_of_domain = [q for d in data if d["intent"] == "None" for q in d["tests"]]
    rng = random.Random(SEED)
    order = sorted(intents, key=lambda d: d["intent"])
    rng.shuffle(order)
    removed = {d["intent"] for d in order[: round(len(order) * REMOVED_SHARE)]}
    dev_entries = {d["intent"] for d in order[::2]}
    corpus: list[dict[str, Any]] = []
    dev: list[dict[str, Any]] = []
    test: list[dict[str, Any]] = []
    for entry in sorted(intents, key=lambda d: d["id"]):
        intent = entry["intent"]
        wordings = list(dict.fromkeys(entry["utterances"]))
        if intent not in removed:
            corpus.append(
                {
                    "id": intent,
                    "question": wordings[0],
                    "alternatives": wordings[1:],
                    "answer": intent.replace(".", ": ").replace("_", " "),
                    "language": "en",
                }
            )
        relevant = [] if intent in removed else [intent]
        split = dev if intent in dev_entries else test
        split.extend({"question": q, "relevant_ids": relevant} for q in entry["tests"])
    for n, question in enumerate(out_of_domain):
        (dev if n % 2 == 0 else test).append({"question": question, "relevant_ids": []})
    out.mkdir(parents=True, exist_ok=True)
    _write_jsonl(out / "corpus.jsonl", corpus)
    _write_jsonl(out / "dev.jsonl", dev)
    _write_jsonl(out / "test.jsonl", test)
    return {
        "entries": len(corpus),
        "removed_entries": len(removed),
        "dev_questions": len(dev),
        "dev_unanswerable": sum(not r["relevant_ids"] for r in dev),
        "test_questions": len(test),
        "test_unanswerable": sum(not r["relevant_ids"] for r in test),
    }


BUILDERS = {"nlpjs-corpus50-en": build_nlpjs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", choices=sorted(BUILDERS))
    parser.add_argument("--source", type=Path, required=True, help="The source file.")
    args = parser.parse_args()
    counts = BUILDERS[args.name](args.source, OUT / args.name)
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
