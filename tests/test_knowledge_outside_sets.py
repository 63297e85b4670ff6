"""The outside FAQ evaluation sets are well formed: what bench/kb_outside.py reports rests on them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.app import PROJECT_ROOT
from knowledge._eval import load_qa
from knowledge._loaders import load_source

OUTSIDE = PROJECT_ROOT / "knowledge" / "eval" / "outside"
SETS = sorted(p for p in OUTSIDE.iterdir() if (p / "corpus.jsonl").exists())


def test_the_shipped_sets_are_all_there() -> None:
    assert [p.name for p in SETS] == ["anhe-bank-zh", "nlpjs-corpus50-en", "xinglian-telecom-zh"]


@pytest.mark.parametrize("folder", SETS, ids=lambda p: p.name)
def test_a_set_is_well_formed(folder: Path) -> None:
    corpus = load_source(folder / "corpus.jsonl", "corpus")  # the loader ingestion uses
    ids = {entry.doc_id for entry in corpus.faqs}
    assert len(ids) == len(corpus.faqs)
    held_out: set[str] = set()
    if (folder / "held_out.jsonl").exists():
        rows = folder.joinpath("held_out.jsonl").read_text("utf-8").splitlines()
        held_out = {json.loads(line)["id"] for line in rows if line.strip()}
        assert not held_out & ids  # a held-out entry is not in the corpus
    for split in ("dev", "test"):
        items = load_qa(folder / f"{split}.jsonl")
        answerable = [i for i in items if i.relevant_ids]
        assert answerable  # both kinds of question
        assert len(answerable) < len(items)
        assert {r for i in answerable for r in i.relevant_ids} <= ids
    assert (folder / "README.md").read_text("utf-8").strip()
