"""Property tests on the parsers of what customers type: order ids, phone endings, budgets.

The three cases at the end are bugs these properties found (full-width digits kept, an
overflow on a huge number), fixed in ``bot/orders`` by folding every digit to ASCII first.
"""

from __future__ import annotations

import re

from hypothesis import example, given
from hypothesis import strategies as st

from bot.orders import Budget, InvalidOrderId, normalize_order_id, parse_budget, phone_last4_from

ASCII_DIGITS = st.text(alphabet="0123456789", min_size=10, max_size=10)
NOISE = st.sampled_from(["", " ", "-", "_", "#", ":", "：", "  "])


@given(st.text())
@example("No.")
@example("YX")
@example("yx 2611 010 001")
def test_normalize_order_id_returns_an_id_or_says_why(text: str) -> None:
    try:
        normalized = normalize_order_id(text)
    except InvalidOrderId as exc:
        message = str(exc)
    else:
        assert normalize_order_id(normalized) == normalized
        return
    assert message.endswith("expected YX and 10 digits, e.g. YX2611010001")


@given(ASCII_DIGITS, st.sampled_from(["", "YX", "yx", "Yx", "No.", "no.yx"]), NOISE, NOISE)
def test_every_way_of_typing_an_order_id_gives_the_same_id(
    digits: str, prefix: str, before: str, between: str
) -> None:
    typed = before + prefix + digits[:4] + between + digits[4:7] + between + digits[7:] + before
    assert normalize_order_id(typed) == f"YX{digits}"


@given(st.text())
def test_phone_last4_never_raises_and_quotes_the_text(text: str) -> None:
    last4 = phone_last4_from(text)
    assert last4 is None or (len(last4) == 4 and last4 in text)


@given(
    st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
    st.sampled_from(["", "手机号", "my number is ", "尾号是"]),
    st.sampled_from(["", "。", " thanks", "，谢谢"]),
)
def test_phone_last4_of_a_number_in_text(number: str, before: str, after: str) -> None:
    assert phone_last4_from(before + number + after) == number[-4:]
    assert phone_last4_from(f"尾号{number[-4:]}") == number[-4:]


@given(st.text(max_size=200))
def test_parse_budget_never_raises_and_gives_an_ordered_range(text: str) -> None:
    budget = parse_budget(text)
    if budget is None:
        return
    assert budget.low is not None or budget.high is not None
    assert all(end is None or end >= 0 for end in (budget.low, budget.high))
    if budget.low is not None and budget.high is not None:
        assert budget.low <= budget.high


@given(st.integers(min_value=1, max_value=10_000_000))
def test_a_budget_ceiling_round_trips(amount: int) -> None:
    assert parse_budget(f"{amount}元以内") == Budget(None, amount)
    assert parse_budget(f"under {amount} yuan") == Budget(None, amount)
    assert parse_budget(f"{amount}以上") == Budget(amount, None)


@given(st.integers(min_value=1, max_value=100_000), st.integers(min_value=1, max_value=100_000))
def test_a_budget_range_round_trips_in_either_order(a: int, b: int) -> None:
    assert parse_budget(f"{a}-{b}元") == Budget(min(a, b), max(a, b))
    assert parse_budget(f"between {a} and {b}") == Budget(min(a, b), max(a, b))


# --- Bugs these properties found, now fixed -----------------------------------------------------
def test_full_width_order_digits_give_the_canonical_id() -> None:
    # Chinese input methods type full-width digits; today the result keeps them.
    assert normalize_order_id("２６１１０１０００１") == "YX2611010001"


def test_phone_last4_is_four_ascii_digits() -> None:
    last4 = phone_last4_from("尾号８００１")
    assert last4 is not None
    assert re.fullmatch(r"[0-9]{4}", last4)


def test_a_huge_number_is_not_a_crash() -> None:
    assert parse_budget("9" * 400) is None
