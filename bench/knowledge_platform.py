"""What customers get for the knowledge base's eval questions, asked through the whole platform.

    .venv/bin/python -m bench.knowledge_platform

``bench/knowledge.py`` measures the knowledge base alone; here every question of the test split
``knowledge/sample/eval.test.jsonl`` goes, as a new customer, through the hub's REST channel to
Rasa (NLU, rules, forms, fallback) and the action server, on a private platform. Each reply is one
of: an answer from the knowledge base citing a relevant document (``kb_right``) or none
(``kb_wrong``), its abstention (``kb_abstained``), a handoff to a human (``handed_over``), or
another reply of the dialogue (an order form, intent suggestions, small talk: ``other``).
Counted apart for answerable and unanswerable questions; prints JSON.
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import httpx
from tqdm import tqdm

from knowledge._eval import QAItem, load_qa
from tests.launch import PlatformProcess

SAMPLE_QA = Path(__file__).resolve().parent.parent / "knowledge" / "sample" / "eval.test.jsonl"


def outcome(item: QAItem, answer: dict[str, Any]) -> str:
    """How the platform met one question."""
    if answer.get("mode") != "bot":
        return "handed_over"
    data = [
        r["custom"] for r in answer.get("replies", []) if "knowledge" in (r.get("custom") or {})
    ]
    if not data:
        return "other"
    if data[0]["knowledge"]["abstained"]:
        return "kb_abstained"
    cited = {c["doc_id"] for c in data[0]["citations"]}
    return "kb_right" if cited & set(item.relevant_ids) else "kb_wrong"


def measure(platform: PlatformProcess, items: list[QAItem]) -> dict[str, dict[str, int]]:
    counts: dict[str, collections.Counter[str]] = {
        "answerable": collections.Counter(),
        "unanswerable": collections.Counter(),
    }
    with httpx.Client(base_url=platform.hub_url, timeout=120) as client:
        for item in tqdm(items, desc="asking", unit="question"):
            sender = f"bench-{uuid.uuid4().hex[:10]}"
            response = client.post("/api/messages", json={"sender": sender, "text": item.question})
            response.raise_for_status()
            group = "answerable" if item.relevant_ids else "unanswerable"
            counts[group][outcome(item, response.json())] += 1
    return {group: dict(sorted(counter.items())) for group, counter in counts.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qa", type=Path, default=SAMPLE_QA)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    items = load_qa(args.qa)
    with tempfile.TemporaryDirectory(prefix="bench-kb-platform-") as var:
        # Open all day: outside business hours a handoff would be a different reply.
        platform = PlatformProcess(Path(var), extra_env={"BOT_BUSINESS_HOURS": "00:00-24:00"})
        with platform:
            counts = measure(platform, items)
    answerable = sum(counts["answerable"].values())
    report = {
        **counts,
        "answerable_kb_right_share": round(counts["answerable"].get("kb_right", 0) / answerable, 3),
    }
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
