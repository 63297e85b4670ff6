"""Retention: personal data is kept no longer than needed (PIPL art. 19; GDPR art. 5(1)(e)).

Each kind (messages, media originals, Rasa's dialogue events, closed tickets) has its own period;
the module owning the data counts or removes what is older (``Sweep``), the wiring passes each
in, and a scheduled job runs them. A dry run counts and changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.privacy._errors import InvalidPrivacyRequest
from bot.storage import utcnow

logger = logging.getLogger(__name__)

# (cutoff, dry_run) -> how many went (or would go), in total or per table
Sweep = Callable[[datetime, bool], Awaitable[int | Mapping[str, int]]]


@dataclass(frozen=True)
class RetentionRule:
    """Keep ``kind`` for ``days`` (None: for ever); ``sweep`` counts or removes what is older."""

    kind: str
    days: float | None
    sweep: Sweep

    def __post_init__(self) -> None:
        if self.days is not None and self.days < 0:
            raise InvalidPrivacyRequest(
                f"the retention of {self.kind} must be a number of days, 0 or more (0: kept only "
                f"until the next sweep), or unset (kept for ever), not {self.days}"
            )


class Retention:
    """Applies every rule, or counts what each would remove."""

    def __init__(self, rules: list[RetentionRule], clock: Callable[[], datetime] = utcnow) -> None:
        self._rules = rules
        self._now = clock

    async def run(self, *, dry_run: bool) -> dict[str, Any]:
        """``{"dry_run", "at", "kinds": {kind: {"days", "before", "count", ...}}}``; a kind kept
        for ever is listed with a count of 0."""
        now = self._now()
        kinds: dict[str, dict[str, Any]] = {}
        for rule in self._rules:
            if rule.days is None:
                kinds[rule.kind] = {"days": None, "before": None, "count": 0}
                continue
            before = now - timedelta(days=rule.days)
            found = await rule.sweep(before, dry_run)
            entry: dict[str, Any] = {"days": rule.days, "before": before.isoformat()}
            if isinstance(found, Mapping):
                # Per table; the kind's own table is its count ("messages": 5).
                entry["count"] = int(found.get(rule.kind, sum(found.values())))
                entry["detail"] = dict(found)
            else:
                entry["count"] = int(found)
            kinds[rule.kind] = entry
        if not dry_run:
            removed = {kind: entry["count"] for kind, entry in kinds.items() if entry["count"]}
            if removed:
                logger.info("Retention removed %s", removed)
        return {"dry_run": dry_run, "at": now.isoformat(), "kinds": kinds}
