"""Redaction of personal data in Chinese and English text, and the logging filter."""

from __future__ import annotations

import io
import logging
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum import luhn
from stdnum.cn import ric

from bot.privacy import RedactingFilter, Redaction, names_a_person, redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "我的手机号是138 1234 5678，订单YX2611010001，价格¥1299",
            Redaction("我的手机号是[phone]，订单YX2611010001，价格¥1299", ("phone",)),
        ),
        ("联系我：+86 139-0011-2233", Redaction("联系我：[phone]", ("phone",))),
        ("手机１３８１２３４５６７８", Redaction("手机[phone]", ("phone",))),
        ("座机 010-62345678 转人工", Redaction("座机 [phone] 转人工", ("phone",))),
        ("Call me on (0755) 8888 8888", Redaction("Call me on [phone]", ("phone",))),
        ("My UK number is +44 20 7946 0958.", Redaction("My UK number is [phone].", ("phone",))),
        (
            "Email zhang.san@example.com.cn please",
            Redaction("Email [email] please", ("email",)),
        ),
        ("身份证号11010519491231002X", Redaction("身份证号[id-number]", ("id_number",))),
        ("老身份证110105491231002", Redaction("老身份证[id-number]", ("id_number",))),
        ("卡号 4111 1111 1111 1111 谢谢", Redaction("卡号 [bank-card] 谢谢", ("bank_card",))),
        ("card 4111-1111-1111-1111", Redaction("card [bank-card]", ("bank_card",))),
        (
            "送到广东省深圳市南山区科技园路100号3栋2单元401室，谢谢",
            Redaction("送到[address]，谢谢", ("address",)),
        ),
        ("地址：北京市朝阳区建国路88号", Redaction("地址：[address]", ("address",))),
        (
            "Ship it to 221B Baker Street, Apt 4, London.",
            Redaction("Ship it to [address], London.", ("address",)),
        ),
        ("I live at 1600 Pennsylvania Avenue", Redaction("I live at [address]", ("address",))),
        (
            "订单YX2611010001的快递单号SF1234567890123，共¥1,299.00，预算2000元",
            Redaction("订单YX2611010001的快递单号SF1234567890123，共¥1,299.00，预算2000元", ()),
        ),
        # Not a valid ID (checksum) nor a card (Luhn): a long number that must stay.
        ("ref 110105194912310021", Redaction("ref 110105194912310021", ())),
        ("ref 4111111111111112", Redaction("ref 4111111111111112", ())),
        (
            "Zhang, 13800138000, zs@qq.com, 4111111111111111",
            Redaction("Zhang, [phone], [email], [bank-card]", ("email", "bank_card", "phone")),
        ),
    ],
)
def test_samples(text: str, expected: Redaction) -> None:
    assert Redaction.of(text) == expected
    assert redact(text) == expected.text


FILLERS = st.sampled_from(["", "我的", "号码是", " my number is ", "，", "谢谢", " thanks.", "："])


@st.composite
def id_numbers(draw: st.DrawFn) -> str:
    province = draw(st.sampled_from(["11", "31", "44", "51", "65"]))
    area = draw(st.from_regex(r"[0-9]{4}", fullmatch=True))
    born = draw(st.dates(min_value=date(1920, 1, 1), max_value=date(2020, 12, 31)))
    birth = f"{born.year:04d}{born.month:02d}{born.day:02d}"
    body = province + area + birth + draw(st.from_regex(r"[0-9]{3}", fullmatch=True))
    return body + ric.calc_check_digit(body + "0")


@st.composite
def bank_cards(draw: st.DrawFn) -> str:
    body = draw(st.sampled_from(["62", "4", "5"])) + draw(
        st.from_regex(r"[0-9]{14}", fullmatch=True)
    )
    number = body + luhn.calc_check_digit(body)
    if draw(st.booleans()):
        return " ".join(number[i : i + 4] for i in range(0, len(number), 4))
    return number


@st.composite
def phones(draw: st.DrawFn) -> str:
    number = (
        "1" + draw(st.sampled_from("3456789")) + draw(st.from_regex(r"[0-9]{9}", fullmatch=True))
    )
    sep = draw(st.sampled_from(["", " ", "-"]))
    prefix = draw(st.sampled_from(["", "+86 ", "+86", "0086-"]))
    return prefix + number[:3] + sep + number[3:7] + sep + number[7:]


@given(FILLERS, st.one_of(id_numbers(), bank_cards(), phones()), FILLERS)
def test_generated_personal_numbers_are_always_redacted(
    before: str, number: str, after: str
) -> None:
    redacted = redact(before + number + after)
    assert number not in redacted
    assert not any(ch.isdigit() for ch in redacted)


@given(
    FILLERS,
    st.one_of(
        st.from_regex(r"YX[0-9]{10}", fullmatch=True),
        st.decimals(min_value=0, max_value=999999, places=2).map(lambda d: f"¥{d}"),
        st.integers(min_value=0, max_value=99999).map(lambda n: f"{n}元"),
        st.integers(min_value=0, max_value=99999).map(lambda n: f"${n:,}"),
    ),
    FILLERS,
)
def test_order_ids_and_prices_are_never_redacted(before: str, value: str, after: str) -> None:
    text = before + value + after
    assert Redaction.of(text) == Redaction(text, ())


def test_the_filter_redacts_messages_and_arguments(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.privacy.filter")
    handler_filter = RedactingFilter()
    logger.addFilter(handler_filter)
    try:
        with caplog.at_level(logging.INFO, logger="test.privacy.filter"):
            logger.info("customer %s wrote from %s", "13812345678", "zs@example.com")
            logger.info("card 4111 1111 1111 1111 for order %s", "YX2611010001")
            logger.info("bad format %d", "not a number")
    finally:
        logger.removeFilter(handler_filter)
    assert [r.getMessage() for r in caplog.records] == [
        "customer [phone] wrote from [email]",
        "card [bank-card] for order YX2611010001",
        "bad format %d (arguments dropped: TypeError)",
    ]


def test_the_filter_redacts_tracebacks_on_a_handler() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    parent = logging.getLogger("test.privacy.parent")
    parent.addHandler(handler)
    try:
        try:
            raise ValueError("no order for 13812345678")
        except ValueError:
            logging.getLogger("test.privacy.parent.child").exception("lookup failed")
    finally:
        parent.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "lookup failed"
    assert lines[-1] == "ValueError: no order for [phone]"
    assert "13812345678" not in stream.getvalue()


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("Do you sell gift cards?", False),
        ("退货政策是什么？", False),
        ("iPhone 15 多少钱，2024年的款", False),  # short numbers name no one
        ("My phone is 13812345678", True),
        ("我的手机 138 1234 5678", True),
        ("email me at li.lei@example.com", True),
        ("订单YX2611010001到哪了", True),  # an order number
        ("yx 2611 010001 cancel it", True),
        ("工单 T-20261202-0001 怎么样了", True),  # a ticket number
        ("tracking number SF1234567890123", True),
        ("寄到北京市朝阳区建国路88号", True),  # an address
        ("１３８１２３４５６７８", True),  # full-width digits
    ],
)
def test_what_names_a_person(text: str, named: bool) -> None:
    assert names_a_person(text) is named
