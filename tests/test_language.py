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
    ],
)
def test_detect_language(text: str, previous: str | None, expected: str | None) -> None:
    assert detect_language(text, previous=previous) == expected  # type: ignore[arg-type]
