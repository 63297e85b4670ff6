"""Facts in the text of a screenshot: order ids, phone numbers and amounts of money."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

# "YX" + 10 digits; OCR and customers add spaces ("YX 2611 010 001").
_ORDER_ID = re.compile(r"(?<![A-Za-z0-9])YX\s?((?:\d\s?){9}\d)(?!\d)", re.IGNORECASE)
# Ten digits right after an order-number label, when the "YX" was cut off or not shown.
_LABELLED_ORDER_ID = re.compile(
    r"(?:订单号|订单编号|订单|order\s*(?:no\.?|number|id|#))\s*[:：#]?\s*(\d{10})(?!\d)",
    re.IGNORECASE,
)
# Mainland mobile numbers, also masked as shops show them (138****5678); landlines; 400 lines.
_PHONE = re.compile(
    r"(?<![\d*])(?:\+?86[\s-]?)?(1[3-9]\d(?:[\s-]?\d{4}|[*]{4})[\s-]?\d{4}"
    r"|0\d{2,3}-\d{7,8}|400-?\d{3}-?\d{4})(?![\d*])"
)
_AMOUNT = re.compile(
    r"(?:[¥]|RMB|CNY)\s?(\d{1,3}(?:,\d{3})+|\d+)(\.\d{1,2})?"
    r"|(\d{1,3}(?:,\d{3})+|\d+)(\.\d{1,2})?\s?(?:元|RMB|CNY)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ScreenshotFacts:
    """What a screenshot tells about an order, each list in reading order without repeats."""

    order_ids: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    amounts: list[str] = field(default_factory=list)  # "299.00": yuan, two decimals

    def as_json(self) -> dict[str, list[str]]:
        """Plain JSON for metadata and APIs."""
        return {"order_ids": self.order_ids, "phones": self.phones, "amounts": self.amounts}


def extract_facts(text: str) -> ScreenshotFacts:
    """Order ids, phone numbers and amounts in ``text`` (OCR output or a typed message)."""
    # NFKC turns full-width letters, digits and signs (ＹＸ, ：, ￥) into their plain forms.
    plain = unicodedata.normalize("NFKC", text)
    order_ids = _unique(
        [(m.start(), "YX" + re.sub(r"\s", "", m.group(1))) for m in _ORDER_ID.finditer(plain)]
        + [(m.start(1), "YX" + m.group(1)) for m in _LABELLED_ORDER_ID.finditer(plain)]
    )
    order_digits = {order_id[2:] for order_id in order_ids}
    phones = _unique(
        [
            (m.start(), number)
            for m in _PHONE.finditer(plain)
            if (number := re.sub(r"[\s-]", "", m.group(1))) not in order_digits
        ]
    )
    amounts = _unique(
        [(m.start(), amount) for m in _AMOUNT.finditer(plain) if (amount := _yuan(m))]
    )
    return ScreenshotFacts(order_ids, phones, amounts)


def _yuan(match: re.Match[str]) -> str | None:
    whole = (match.group(1) or match.group(3) or "").replace(",", "")
    cents = match.group(2) or match.group(4) or ""
    try:
        return f"{Decimal(whole + cents):.2f}"
    except InvalidOperation:
        return None


def _unique(found: list[tuple[int, str]]) -> list[str]:
    seen: dict[str, None] = {}
    for _position, value in sorted(found):
        seen.setdefault(value, None)
    return list(seen)
