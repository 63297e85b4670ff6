"""What the shop does not do through the chat: invoices, in-store services, instalment plans,
quotations. Questions about them are answered from the knowledge base; a request to do one is
declined with the next step."""

from __future__ import annotations

import re
from typing import Literal

UnsupportedService = Literal["invoice", "physical_store", "installments", "quotation", "other"]
UNSUPPORTED_SERVICES: tuple[UnsupportedService, ...] = (
    "invoice",
    "physical_store",
    "installments",
    "quotation",
    "other",
)
_PATTERNS: tuple[tuple[UnsupportedService, re.Pattern[str]], ...] = (
    ("invoice", re.compile(r"发票|专票|普票|收据|invoice|fapiao|receipt", re.I)),
    (
        "physical_store",
        re.compile(r"实体店|门店|线下|到店|店里|自提|\b(?:store|shop|branch|showroom)s?\b", re.I),
    ),
    ("installments", re.compile(r"分期|花呗|instal?lments?|monthly payments?|pay later", re.I)),
    ("quotation", re.compile(r"报价|合同|协议|采购|批发|quot(?:e|ation)|contract|wholesale", re.I)),
)


def unsupported_service(text: str) -> UnsupportedService:
    """Which unsupported service a request is about ("other" when it names none we know)."""
    return next((service for service, pattern in _PATTERNS if pattern.search(text)), "other")
