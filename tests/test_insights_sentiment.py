from __future__ import annotations

import pytest

from bot.insights import Sentiment, SentimentAnalyzer

# Customer-service messages with the label a human reader gives them.
LABELLED = [
    ("zh", "你们这什么垃圾服务", "negative"),
    ("zh", "客服态度太差了", "negative"),
    ("zh", "等了一个星期还没发货，太过分了", "negative"),
    ("zh", "买到假货了，你们就是骗子", "negative"),
    ("zh", "非常失望，再也不买了", "negative"),
    ("zh", "东西坏了，很不满意", "negative"),
    ("zh", "物流太慢了，急死了", "negative"),
    ("zh", "你们怎么回事，一直没人管", "negative"),
    ("zh", "谢谢，很满意", "positive"),
    ("zh", "东西不错，物流很快", "positive"),
    ("zh", "客服很耐心，给力", "positive"),
    ("zh", "非常感谢你的帮助", "positive"),
    ("zh", "好评，下次还来", "positive"),
    ("zh", "你好", "neutral"),
    ("zh", "我的订单YX2611010001到哪了", "neutral"),
    ("zh", "退款什么时候到账", "neutral"),
    ("zh", "可以开发票吗", "neutral"),
    ("zh", "怎么修改收货地址", "neutral"),
    ("zh", "好的", "neutral"),
    ("zh", "运费多少钱", "neutral"),
    ("en", "this is the worst service ever", "negative"),
    ("en", "I'm really disappointed with this order", "negative"),
    ("en", "your support is useless", "negative"),
    ("en", "it arrived broken and nobody helps, terrible", "negative"),
    ("en", "this is a scam, give me my money back", "negative"),
    ("en", "thank you so much, great help", "positive"),
    ("en", "love it, fast delivery", "positive"),
    ("en", "perfect, thanks!", "positive"),
    ("en", "where is my order YX2611010001", "neutral"),
    ("en", "how do I change my address", "neutral"),
    ("en", "can I get an invoice", "neutral"),
    ("en", "hello", "neutral"),
]


@pytest.fixture(scope="module")
def analyzer() -> SentimentAnalyzer:
    return SentimentAnalyzer()


def test_labels_agree_with_human_readers(analyzer: SentimentAnalyzer) -> None:
    wrong = [
        (text, expected, analyzer.analyze(text, language).label)  # type: ignore[arg-type]
        for language, text, expected in LABELLED
        if analyzer.analyze(text, language).label != expected  # type: ignore[arg-type]
    ]
    assert len(wrong) <= 2, wrong  # ≥ 94% on this set


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("zh", "我要投诉你们，打12315"),
        ("zh", "再不处理我就去消协曝光"),
        ("zh", "气死我了，什么破客服"),
        ("zh", "你们是骗子吗！！"),
        ("zh", "操，又发错货了"),
        ("zh", "你们给我滚"),
        ("zh", "他妈的怎么还没到"),
        ("zh", "我要曝光你们"),
        ("zh", "再不退款我就报警"),
        ("en", "I will sue you"),
        ("en", "WHERE IS MY ORDER!!! this is ridiculous"),
        ("en", "wtf is wrong with you people"),
    ],
)
def test_anger_is_recognized(analyzer: SentimentAnalyzer, language: str, text: str) -> None:
    result = analyzer.analyze(text, language)  # type: ignore[arg-type]
    assert result.angry, result
    assert result.score <= -0.5


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("zh", "退款什么时候到账"),
        ("zh", "订单号多少"),
        ("en", "refund status please"),
        # Everyday words that contain an anger term.
        ("zh", "退货要怎么操作"),
        ("zh", "滚筒洗衣机有货吗"),
        ("zh", "烟雾报警器坏了怎么保修"),
        ("zh", "给我妈的生日礼物能包装吗"),
        ("zh", "这款相机的曝光补偿怎么调"),
        ("zh", "包裹有什么破损要怎么办"),
        ("zh", "去死皮的面膜能退吗"),
    ],
)
def test_plain_questions_are_not_angry(
    analyzer: SentimentAnalyzer, language: str, text: str
) -> None:
    assert not analyzer.analyze(text, language).angry  # type: ignore[arg-type]


def test_a_polite_opening_is_not_annoyance_but_a_hassle_still_is(
    analyzer: SentimentAnalyzer,
) -> None:
    polite = analyzer.analyze("麻烦帮我看下订单YX2611010008现在到哪了", "zh")
    assert "烦" not in polite.terms
    assert polite.label != "negative", polite
    assert "烦" in analyzer.analyze("这也太麻烦了", "zh").terms


def test_negation_turns_praise_around(analyzer: SentimentAnalyzer) -> None:
    assert analyzer.analyze("我不喜欢", "zh").score < 0 < analyzer.analyze("我喜欢", "zh").score


def test_empty_text_is_neutral(analyzer: SentimentAnalyzer) -> None:
    assert analyzer.analyze("  ", "zh") == Sentiment(0.0, "neutral", False)
