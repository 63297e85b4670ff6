from __future__ import annotations

import pytest

from bot.language import detect_language


@pytest.mark.parametrize(
    ("text", "previous", "expected"),
    [
        ("你好", None, "zh"),
        ("hello", None, "en"),
        ("我的order到哪了", None, "zh"),
        ("iPhone 15 有货吗", None, "zh"),
        ("please check my order 订单", None, "en"),
        ("Can you tell me where is 北京 store", None, "en"),
        ("ok", "zh", "en"),
        ("12345", "zh", "zh"),
        ("12345", "en", "en"),
        ("12345", None, None),
        ("？？", "en", "zh"),
        ("👍", "en", "en"),
        ("", "zh", "zh"),
        ("退货 return", None, "zh"),
        ("繁體中文也算中文", None, "zh"),
        # Codes with digits carry no language: an order id alone keeps the conversation's.
        ("YX2611010001", "zh", "zh"),
        ("YX2611010001", "en", "en"),
        ("SF1234567890 yx2611010001", "zh", "zh"),
        ("order YX2611010001", "zh", "en"),
        ("订单YX2611010001", "en", "zh"),
        ("iPhone 15", "zh", "en"),
        # Mixed messages: the sentence frame decides, not the first Han character.
        ("help me change my address to 上海市浦东新区世纪大道100号", "zh", "en"),
        ("Please change the address to 北京市朝阳区建国路88号 3栋", None, "en"),
        ("the 小米手环 I bought is broken", None, "en"),
        ("Do you have 华为 phones in stock?", None, "en"),
        ("I want to return the “蓝牙耳机”", None, "en"),
        ("can I pay with 花呗", None, "en"),
        ("我想买 AirPods Pro，有没有 noise cancelling 的版本", None, "zh"),
        ("请问 Apple Watch 的 warranty 是多久", None, "zh"),
        ("帮我查一下 Nike Air Max 的 order status", None, "zh"),
        ("我要 return 这个 order", None, "zh"),
        ("把地址改成上海市浦东新区世纪大道100号", "en", "zh"),
        ("MacBook Air 有货吗", None, "zh"),
        ("Sony WH-1000XM5 耳机多少钱", None, "zh"),
    ],
)
def test_detect_language(text: str, previous: str | None, expected: str | None) -> None:
    assert detect_language(text, previous=previous) == expected  # type: ignore[arg-type]
