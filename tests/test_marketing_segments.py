"""Segment expressions: what they match, and clear errors for everything else."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.marketing import CustomerProfile, InvalidSegment, Segment

ALICE = CustomerProfile(
    customer_id="alice",
    channel="rest",
    language="zh",
    timezone="Asia/Shanghai",
    tags=frozenset({"vip", "newsletter"}),
    recency_days=3.0,
    frequency=5,
    monetary=1200.0,
    churn_risk=0.1,
    days_since_contact=2.0,
    affinity={"phone": 0.8},
    consented=True,
)
BOB = CustomerProfile(
    customer_id="bob",
    channel="webchat",
    language="en",
    churn_risk=0.7,
    recency_days=None,
    days_since_contact=None,
    consented=False,
)


@pytest.mark.parametrize(
    ("expression", "alice", "bob"),
    [
        ('language == "zh"', True, False),
        ("monetary >= 1000 and frequency > 2", True, False),
        ('"vip" in tags', True, False),
        ('not "vip" in tags', False, True),
        ("churn_risk > 0.5 or affinity.phone >= 0.8", True, True),
        ("affinity.shoes > 0", False, False),
        ('channel in ["rest", "email"]', True, False),
        ("recency_days < 30", True, False),  # never bought: not "recent"
        ("days_since_contact > 30", False, True),
        ("consented", True, False),
        ("consented == false", False, True),
        ("NOT (language == 'en' AND churn_risk > 0.5)", True, False),
        ('language != "zh" and (churn_risk >= 0.7)', False, True),
        ('"x" in []', False, False),
        ("true", True, True),
    ],
)
def test_expressions_match_profiles(expression: str, alice: bool, bob: bool) -> None:
    segment = Segment.parse(expression)
    assert (segment.matches(ALICE), segment.matches(BOB)) == (alice, bob)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("", "the segment expression is empty"),
        ("   ", "the segment expression is empty"),
        (
            "monetary >= 'high'",
            "column 10: 'monetary' (a number) cannot be compared with the text 'high'",
        ),
        ("salary > 3", "column 1: unknown field 'salary'"),
        ("language == zh", "column 13: unknown field 'zh'"),
        ("monetary", "column 1: 'monetary' (a number) is not a condition"),
        (
            "language == 'zh' and",
            "column 21: expected a field, number, text or list, found the end",
        ),
        ("(language == 'zh'", "column 18: expected ')', found the end"),
        ("language == 'zh')", "column 17: unexpected ')'"),
        (
            "tags == 'vip'",
            "column 6: 'tags' (a list of texts) cannot be compared with the text 'vip'",
        ),
        ("3 in tags", "column 3: 'in' asks whether a text is in a list"),
        ("language < 'zh'", "column 10: '<' compares numbers, not 'language' (a text)"),
        ("__import__('os')", "column 1: unknown field '__import__'"),
        ("language == 'zh'; drop table", "column 17: unexpected ';'"),
        ("channel in ['a' 'b']", "column 17: expected ',' or ']' in the list opened at column 12"),
        ("channel in [1]", "column 13: a list holds texts in quotes, found '1'"),
        ("<script>", "column 1: expected a field, number, text or list, found '<'"),
        ("x" * 2001, "the segment expression is 2001 characters long; the limit is 2000"),
        ("(" * 40 + "true" + ")" * 40, "the expression nests deeper than 32 levels"),
        ("not " * 40 + "true", "the expression nests deeper than 32 levels"),
    ],
)
def test_bad_expressions_say_what_is_wrong(expression: str, message: str) -> None:
    with pytest.raises(InvalidSegment) as error:
        Segment.parse(expression)
    assert str(error.value).startswith(message)


def test_quoted_text_keeps_escaped_quotes() -> None:
    profile = CustomerProfile("c", "rest", tags=frozenset({'say "hi"'}))
    assert Segment.parse(r'"say \"hi\"" in tags').matches(profile)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_any_text_parses_or_is_refused_clearly(text: str) -> None:
    """Hostile input: never an exception other than InvalidSegment, never a crash."""
    try:
        segment = Segment.parse(text)
    except InvalidSegment as exc:
        message = str(exc)
        assert message
    else:
        assert segment.matches(ALICE) in {True, False}
