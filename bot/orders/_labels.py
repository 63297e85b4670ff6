"""Names of carriers in the customer's language (the store keeps their codes)."""

from __future__ import annotations

CARRIERS = {
    "sf": ("顺丰速运", "SF Express"),
    "jd": ("京东物流", "JD Logistics"),
    "zto": ("中通快递", "ZTO Express"),
}


def carrier_name(code: str | None, language: str) -> str:
    """The carrier's name in ``language``; the code itself when unknown."""
    if code is None:
        return ""
    zh, en = CARRIERS.get(code, (code, code))
    return zh if language == "zh" else en
