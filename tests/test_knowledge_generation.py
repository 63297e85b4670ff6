"""The grounding check: a generated answer is kept only when the passages support all of it."""

from __future__ import annotations

import pytest

from knowledge import E5Embedder, Embedder
from knowledge._generation import Passage, check_grounding

EN = [
    Passage(
        1,
        "Returns › Refund times",
        "Refunds go back to the original payment method (Alipay, WeChat Pay, bank card) within "
        "3–5 business days after the warehouse receives and checks the return.",
    ),
    Passage(
        2,
        "Returns › Return shipping",
        "Return shipping is free for quality problems. For no-reason returns the customer pays a "
        "flat ¥10, deducted from the refund; members of tier Gold or above return for free.",
    ),
]
ZH = [
    Passage(
        1,
        "退换货与退款政策 › 退款时效",
        "仓库收到退货并验收后，3–5个工作日内原路退回到您的支付账户。",
    ),
    Passage(
        2,
        "退换货与退款政策 › 退货运费",
        "因质量问题退换货，来回运费由我们承担。无理由退货的运费由顾客承担，统一为10元，从退款中扣除；"
        "金卡及以上会员无理由退货免运费。",
    ),
]


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return E5Embedder()


@pytest.mark.parametrize(
    ("raw", "language", "passages", "cited", "text"),
    [
        (
            "Your refund goes back to your original payment method within 3–5 business days "
            "after the warehouse receives the return [1].",
            "en",
            EN,
            (1,),
            "Your refund goes back to your original payment method within 3–5 business days "
            "after the warehouse receives the return.",
        ),
        (
            "For a no-reason return you pay ¥10, taken from the refund [2]. Gold members return "
            "for free [2].",
            "en",
            EN,
            (2,),
            "For a no-reason return you pay ¥10, taken from the refund. Gold members return for "
            "free.",
        ),
        # Without markers the citations come from the passages that support each statement.
        (
            "Refunds take 3-5 business days once the warehouse has your return.",
            "en",
            EN,
            (1,),
            "Refunds take 3-5 business days once the warehouse has your return.",
        ),
        (
            "仓库收到退货后，退款会在3–5个工作日内原路退回【1】。",
            "zh",
            ZH,
            (1,),
            "仓库收到退货后，退款会在3–5个工作日内原路退回。",
        ),
        (
            "无理由退货需要支付10元运费，金卡会员免运费 [2]。",
            "zh",
            ZH,
            (2,),
            "无理由退货需要支付10元运费，金卡会员免运费。",
        ),
    ],
)
def test_supported_answers_are_kept(
    embedder: Embedder,
    raw: str,
    language: str,
    passages: list[Passage],
    cited: tuple[int, ...],
    text: str,
) -> None:
    verdict = check_grounding(raw, "How long does a refund take?", language, passages, embedder)
    assert (verdict.ok, verdict.reason, verdict.cited, verdict.text) == (True, "", cited, text)


@pytest.mark.parametrize(
    ("raw", "language", "passages", "reason"),
    [
        (
            "Refunds arrive within 7 business days [1].",
            "en",
            EN,
            "the answer states numbers the passages do not: ['7']",
        ),
        (
            "退款会在七个工作日内到账。",
            "zh",
            ZH,
            "the answer states numbers the passages do not: ['7']",
        ),
        (
            "Refunds arrive within 3–5 business days [1]. We also give you a free gift card for "
            "your trouble.",
            "en",
            EN,
            "a statement is not supported by the passages",
        ),
        (
            "退款会在3–5个工作日内到账，另外我们会赠送优惠券。",
            "zh",
            ZH,
            "a statement is not supported by the passages",
        ),
        (
            "Refunds arrive within 3–5 business days [3].",
            "en",
            EN,
            "the model cited passages that do not exist: [3]",
        ),
        ("NO_ANSWER", "en", EN, "the model found no answer in the passages"),
        ("I'm sorry. NO ANSWER", "en", EN, "the model found no answer in the passages"),
        (
            "Refunds arrive within 3–5 business days [1].",
            "zh",
            EN,
            "the model did not answer in Simplified Chinese",
        ),
        ("", "en", EN, "the model found no answer in the passages"),
    ],
)
def test_unsupported_answers_are_rejected(
    embedder: Embedder, raw: str, language: str, passages: list[Passage], reason: str
) -> None:
    verdict = check_grounding(raw, "How long does a refund take?", language, passages, embedder)
    assert verdict.ok is False
    assert verdict.reason.startswith(reason)
    assert verdict.cited == ()
