"""Reading screenshots with both OCR engines, and the facts taken from the text."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from channels.media import (
    NoTextFound,
    OcrEngine,
    ScreenshotFacts,
    build_ocr_engine,
    extract_facts,
    render_text_image,
)

ORDER_PAGE = [
    "优选商城 订单详情",
    "订单号：YX2611010001",
    "订单状态：已发货",
    "实付金额：¥299.00",
    "收货人电话：135****6633",
]


@pytest.fixture(scope="module", params=["rapidocr", "tesseract"])
def engine(request: pytest.FixtureRequest) -> OcrEngine:
    ocr = build_ocr_engine(request.param)
    ocr.load()
    return ocr


def test_an_order_screenshot_is_read_with_its_facts(engine: OcrEngine, tmp_path: Path) -> None:
    shot = render_text_image(ORDER_PAGE, tmp_path / "order.png", noise=0.2, angle=1.0)
    read = engine.read(shot)
    assert read.language == "zh"
    assert read.backend == engine.name
    assert "YX2611010001" in read.text
    assert extract_facts(read.text).order_ids == ["YX2611010001"]


def test_an_english_screenshot(engine: OcrEngine, tmp_path: Path) -> None:
    shot = render_text_image(
        ["YouXuan Mall Order details", "Order No: YX2611010002", "Status: Shipped"],
        tmp_path / "order-en.png",
    )
    read = engine.read(shot)
    assert read.language == "en"
    assert "Shipped" in read.text
    assert extract_facts(read.text).order_ids == ["YX2611010002"]


def test_a_picture_without_text_is_refused(engine: OcrEngine, tmp_path: Path) -> None:
    blank = tmp_path / "sky.png"
    Image.new("RGB", (640, 480), (120, 170, 230)).save(blank)
    with pytest.raises(NoTextFound, match="no text could be read in the image"):
        engine.read(blank)


@pytest.mark.parametrize(
    ("text", "facts"),
    [
        (
            "订单号：YX2611010001\n实付金额：¥299.00\n电话：135****6633",
            ScreenshotFacts(["YX2611010001"], ["135****6633"], ["299.00"]),
        ),
        # Full-width letters and signs, spaces inside the id, yuan after the number.
        (
            "订单 ＹＸ 2611 010 002，合计 1,299元",
            ScreenshotFacts(["YX2611010002"], [], ["1299.00"]),
        ),
        ("Order No: 2611010003  Paid: RMB 89.5", ScreenshotFacts(["YX2611010003"], [], ["89.50"])),
        # Each fact once, in reading order; phone numbers without their separators.
        (
            "yx2611010004 and YX2611010004 again; call 400-800-1234 or 13812345678",
            ScreenshotFacts(["YX2611010004"], ["4008001234", "13812345678"], []),
        ),
        # Eleven digits are not an order id, nine are not either.
        ("YX26110100011 YX261101000", ScreenshotFacts([], [], [])),
    ],
)
def test_facts_from_text(text: str, facts: ScreenshotFacts) -> None:
    assert extract_facts(text) == facts
