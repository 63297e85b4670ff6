"""The grounding check rejects answers that contradict their passage, on a shipped pair set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from knowledge import E5Embedder, Embedder, InvalidSource, grounding_report
from knowledge._generation import Passage, check_grounding

EVAL = Path(__file__).resolve().parent.parent / "knowledge" / "eval"
FREE = "Return shipping is free for quality problems."
ZH_FREE = "因质量问题退换货，来回运费由我们承担；金卡会员无理由退货免运费。"


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return E5Embedder()


@pytest.mark.parametrize(
    ("answer", "language", "passage", "reason"),
    [
        (
            "Return shipping is not free.",
            "en",
            FREE,
            "a statement contradicts the passages: it negates what the passage states: "
            "Return shipping is not free.",
        ),
        (
            "Return shipping is free for all returns.",
            "en",
            FREE,
            "a statement contradicts the passages: it widens or narrows the scope with 'all': "
            "Return shipping is free for all returns.",
        ),
        (
            "Gift cards are valid for 3 months.",
            "en",
            "Gift cards are valid for 3 years from purchase.",
            "a statement contradicts the passages: it changes a quantity or unit: 3 month: "
            "Gift cards are valid for 3 months.",
        ),
        (
            "Gift cards are valid for five years.",
            "en",
            "Gift cards are valid for 3 years from purchase.",
            "a statement contradicts the passages: it changes a quantity or unit: 5 year: "
            "Gift cards are valid for five years.",
        ),
        (
            "Orders placed after 4 pm ship the same day.",
            "en",
            "Orders placed before 4 pm ship the same day.",
            "a statement contradicts the passages: it says 'after' where the passage says "
            "'before': Orders placed after 4 pm ship the same day.",
        ),
        (
            "银卡会员无理由退货免运费。",
            "zh",
            ZH_FREE,
            "a statement contradicts the passages: it says '银卡' where the passage says '金卡': "
            "银卡会员无理由退货免运费。",
        ),
        (
            "因质量问题退换货，运费不由我们承担。",
            "zh",
            ZH_FREE,
            "a statement contradicts the passages: it negates what the passage states: "
            "运费不由我们承担。",
        ),
    ],
)
def test_contradicting_answers_are_rejected(
    embedder: Embedder, answer: str, language: str, passage: str, reason: str
) -> None:
    verdict = check_grounding(answer, "", language, [Passage(1, "", passage)], embedder)
    assert (verdict.ok, verdict.reason) == (False, reason)


@pytest.mark.parametrize(
    ("answer", "language", "passage"),
    [
        ("If the item has a quality problem, return shipping is free.", "en", FREE),
        (
            "Gift cards can't be exchanged for cash.",
            "en",
            "Gift cards cannot be exchanged for cash.",
        ),
        (
            "Orders not yet shipped can be cancelled free of charge.",
            "en",
            "Orders can be cancelled for free before they ship.",
        ),
        ("金卡会员无理由退货不用付运费，免运费。", "zh", ZH_FREE),
        ("礼品卡购买后三年内都有效。", "zh", "礼品卡自购买之日起3年内有效，不可兑换现金。"),
    ],
)
def test_faithful_paraphrases_are_kept(
    embedder: Embedder, answer: str, language: str, passage: str
) -> None:
    verdict = check_grounding(answer, "", language, [Passage(1, "", passage)], embedder)
    assert (verdict.ok, verdict.reason) == (True, "")


def test_the_test_split_meets_the_goal(embedder: Embedder) -> None:
    report = grounding_report(EVAL / "grounding_test.jsonl", embedder)
    assert (report.pairs, report.faithful, report.unfaithful) == (44, 22, 22)
    assert report.unfaithful_rejected >= 0.95
    assert report.faithful_accepted >= 0.9


def test_the_splits_share_no_passage() -> None:
    def passages(name: str) -> set[str]:
        lines = (EVAL / f"grounding_{name}.jsonl").read_text(encoding="utf-8").splitlines()
        return {json.loads(line)["passage"] for line in lines}

    assert passages("dev") & passages("test") == set()
    assert len(passages("dev")) + len(passages("test")) >= 20


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "pairs.jsonl: the grounding pairs file has no pairs"),
        ("{not json\n", "pairs.jsonl: line 1 is not valid JSON"),
        ("[1, 2]\n", "pairs.jsonl: line 1 must be a JSON object"),
        (
            '{"answer": "", "passage": "p", "language": "fr", "faithful": "yes"}\n',
            "pairs.jsonl: line 1: 'answer' must be a non-empty string; 'language' must be 'zh' "
            "or 'en'; 'faithful' must be true or false",
        ),
    ],
)
def test_bad_pair_files_are_named(
    tmp_path: Path, embedder: Embedder, content: str, message: str
) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InvalidSource) as raised:
        grounding_report(path, embedder)
    assert str(raised.value).startswith(message)
