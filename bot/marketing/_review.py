"""The copy desk: variants written by an LLM (or the templates when none is configured), checked,
stored, and reviewed by a human (approve, edit, reject) before anything can be sent."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.marketing._copy import (
    LENGTH_LIMITS,
    CopyBrief,
    CopyChecker,
    Language,
    Problem,
    Product,
    template_variants,
)
from bot.marketing._errors import AlreadyReviewed, InvalidMarketingRequest, VariantNotFound
from bot.marketing._limits import CAMPAIGN
from bot.marketing._tables import CopyVariantRow
from bot.storage import Database, utcnow

logger = logging.getLogger(__name__)

# prompt -> the model's text; the wiring passes one built on the configured OpenAI endpoint.
CopyWriter = Callable[[str], Awaitable[str]]
# The catalogue as the checker needs it (read when a variant is drafted or edited).
CatalogueLookup = Callable[[], Awaitable[dict[str, Product]]]
Review = Literal["approve", "edit", "reject"]
MAX_VARIANTS = 10
REVIEWER = re.compile(r"[A-Za-z0-9_.@-]{1,64}")


@dataclass(frozen=True)
class Variant:
    """A stored variant and its review."""

    id: int
    campaign: str
    language: str
    channel: str
    source: str
    text: str
    problems: list[Problem]
    status: str
    edited_text: str | None
    reviewer: str | None
    reviewed_at: datetime | None

    @property
    def final_text(self) -> str:
        """What would be sent once approved: the human's edit when there is one."""
        return self.edited_text if self.edited_text is not None else self.text


_PROMPT = {
    "zh": (
        "你是网店的营销文案。为下面的商品写 {n} 条不同的短信营销文案，每行一条，不要编号。"
        "只能使用这里给出的价格、折扣和卖点，不要写其他价格或承诺；每条不超过 {limit} 字；"
        "结尾写“回复退订不再接收”。\n商品：{facts}"
    ),
    "en": (
        "You write marketing copy for an online shop. Write {n} different SMS messages for the "
        "product below, one per line, no numbering. Use only the prices, discounts and selling "
        "points given here; no other prices or promises; at most {limit} characters each; end "
        "with 'Reply STOP to opt out.'\nProduct: {facts}"
    ),
}


class CopyDesk:
    """Drafts, checks, stores and reviews copy variants."""

    def __init__(
        self, database: Database, catalogue: CatalogueLookup, writer: CopyWriter | None = None
    ) -> None:
        self._db = database
        self._catalogue = catalogue
        self._writer = writer

    async def checker(self) -> CopyChecker:
        """A checker on the catalogue as it is now."""
        return CopyChecker(await self._catalogue())

    @staticmethod
    def prompt(checker: CopyChecker, brief: CopyBrief, language: Language, n: int) -> str:
        """What the LLM is asked: the brief's facts only."""
        facts = []
        for product_id in brief.products:
            product = checker.catalogue[product_id]
            name = product.name_zh if language == "zh" else product.name_en
            facts.append(f"{name} ¥{product.price:g}")
        offers = [f"{d:g}% off" for d in brief.discounts]
        text = "; ".join(facts + offers + list(brief.claims))
        limit = LENGTH_LIMITS[brief.channel][language]
        return _PROMPT[language].format(n=n, facts=text, limit=limit)

    async def draft(
        self, campaign: str, brief: CopyBrief, language: Language, n: int = 3
    ) -> list[Variant]:
        """Write ``n`` variants (LLM, else templates), check each, store all: those that pass
        wait for review, those that fail are kept as blocked with the checker's reasons."""
        if not CAMPAIGN.fullmatch(campaign or ""):
            raise InvalidMarketingRequest("campaign must be 1 to 64 letters, digits, '.', '_', '-'")
        if not 1 <= n <= MAX_VARIANTS:
            raise InvalidMarketingRequest(f"n must be between 1 and {MAX_VARIANTS}")
        if language not in ("zh", "en"):
            raise InvalidMarketingRequest("language must be 'zh' or 'en'")
        checker = await self.checker()
        checker.check("", brief, language)  # unknown products are refused before writing
        if self._writer is not None:
            raw = await self._writer(self.prompt(checker, brief, language, n))
            texts = [_clean(line) for line in raw.splitlines() if _clean(line)][:n]
            source = "llm"
        else:
            texts = template_variants(checker, brief, language)[:n]
            source = "template"
        rows = []
        for text in texts:
            problems = checker.check(text, brief, language)
            rows.append(
                CopyVariantRow(
                    campaign=campaign,
                    language=language,
                    channel=brief.channel,
                    source=source,
                    brief=json.dumps(brief_json(brief)),
                    text=text,
                    problems=json.dumps([p.__dict__ for p in problems], ensure_ascii=False),
                    status="blocked" if problems else "pending",
                    created_at=utcnow(),
                )
            )

        def add(session: Session) -> list[Variant]:
            session.add_all(rows)
            session.flush()
            return [_variant(r) for r in rows]

        return await self._db.session(add)

    async def variants(self, campaign: str, status: str | None = None) -> list[Variant]:
        """The campaign's variants (optionally of one status), oldest first."""
        query = select(CopyVariantRow).where(CopyVariantRow.campaign == campaign)
        if status is not None:
            query = query.where(CopyVariantRow.status == status)
        query = query.order_by(CopyVariantRow.id)
        return await self._db.session(lambda s: [_variant(r) for r in s.execute(query).scalars()])

    async def review(
        self,
        variant_id: int,
        action: Review,
        reviewer: str,
        edited_text: str | None = None,
    ) -> Variant:
        """A human approves, edits (the edit is checked too, and kept beside the original) or
        rejects a pending variant."""
        if action not in ("approve", "edit", "reject"):
            raise InvalidMarketingRequest("action must be approve, edit or reject")
        if not REVIEWER.fullmatch(reviewer or ""):
            raise InvalidMarketingRequest(
                "reviewer must be 1 to 64 letters, digits, '.', '_', '@', '-'"
            )
        if action == "edit":
            if not edited_text or not edited_text.strip():
                raise InvalidMarketingRequest("an edit needs the edited text")
        elif edited_text is not None:
            raise InvalidMarketingRequest("edited_text goes with the action 'edit' only")
        checker = await self.checker()

        def write(session: Session) -> Variant:
            row = session.get(CopyVariantRow, variant_id)
            if row is None:
                raise VariantNotFound(f"no copy variant has id {variant_id}")
            if row.status != "pending":
                raise AlreadyReviewed(f"variant {variant_id} is {row.status}, not pending")
            if action == "edit":
                assert edited_text is not None
                language: Language = "en" if row.language == "en" else "zh"
                brief = brief_of(json.loads(row.brief))
                problems = checker.check(edited_text.strip(), brief, language)
                if problems:
                    raise InvalidMarketingRequest(
                        "the edit does not pass the checker: "
                        + "; ".join(p.detail for p in problems)
                    )
                row.edited_text = edited_text.strip()
            row.status = "rejected" if action == "reject" else "approved"
            row.reviewer = reviewer
            row.reviewed_at = utcnow()
            return _variant(row)

        return await self._db.session(write)


def brief_json(brief: CopyBrief) -> dict[str, object]:
    """The brief as plain JSON."""
    return {
        "products": list(brief.products),
        "discounts": list(brief.discounts),
        "prices": list(brief.prices),
        "claims": list(brief.claims),
        "channel": brief.channel,
    }


def brief_of(data: dict[str, Any]) -> CopyBrief:
    """A brief from its JSON."""
    return CopyBrief(
        products=tuple(data["products"]),
        discounts=tuple(float(d) for d in data.get("discounts", [])),
        prices=tuple(float(p) for p in data.get("prices", [])),
        claims=tuple(data.get("claims", [])),
        channel=data.get("channel", "sms"),
    )


def _clean(line: str) -> str:
    """A model's line without list markers or quotes."""
    return re.sub(r"^\s*(?:[-*•]|\d+[.、)])\s*", "", line).strip().strip('"“”')


def _variant(row: CopyVariantRow) -> Variant:
    return Variant(
        row.id,
        row.campaign,
        row.language,
        row.channel,
        row.source,
        row.text,
        [Problem(**p) for p in json.loads(row.problems)],
        row.status,
        row.edited_text,
        row.reviewer,
        row.reviewed_at,
    )
