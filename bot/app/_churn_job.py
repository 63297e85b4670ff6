"""The churn job: every ``churn_job_hours`` the hub scores every customer with the trained churn
model and applies the retention rules to the fresh scores.

Off by default (``churn_job_hours = 0``): its actions reach customers (coupon notices) and change
routing, and its model must first be trained on the shop's own customers (``bot insights
churn-train``); a shop turns it on once it has read the model's figures. One replica runs it each
period (the job lease), and a rule decides each customer once (``RetentionDesk`` claims every
decision before acting), so a repeated or overlapping run gives no one a second coupon.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.app._churn_features import ChurnFeatureBuilder, at_risk, load_model, score_activity
from bot.app._container import HubServices, order_service
from bot.app._jobs import Job
from bot.app._settings import Settings
from bot.insights import ChurnScores, RetentionDesk

logger = logging.getLogger(__name__)

# A minute after start: the hub serves first; a restart loop cannot repeat it within a period
# on several replicas (the lease), and a repeated run decides no one twice anyway.
FIRST_RUN_AFTER_S = 60.0


def churn_model_path(settings: Settings) -> Path:
    """Where ``churn-train`` writes the model and the job and ``churn-score`` read it."""
    return settings.var_dir / "insights" / "churn_model.joblib"


async def apply_retention(desk: RetentionDesk, scores: ChurnScores) -> dict[str, Any]:
    """The retention rules over the stored scores; counts of what was decided."""
    lowest = min(rule.min_risk for rule in desk.rules)
    found = await scores.at_least(lowest)
    decisions = await desk.act(at_risk(found))
    counts: dict[str, int] = {}
    for d in decisions:
        key = f"{d.rule}:{d.arm}:{d.status}"
        counts[key] = counts.get(key, 0) + 1
    return {"considered": len(found), "decided": len(decisions), "by_outcome": counts}


class ChurnJob:
    """One run: load the newest model, score every customer, store, apply the rules."""

    def __init__(
        self,
        builder: ChurnFeatureBuilder,
        scores: ChurnScores,
        desk: RetentionDesk,
        model_path: Path,
    ) -> None:
        self._builder = builder
        self._scores = scores
        self._desk = desk
        self._model_path = model_path

    async def run(self) -> dict[str, Any]:
        """Score and act; without a trained model there is nothing to score (logged)."""
        if not self._model_path.is_file():
            logger.warning(
                "Churn job: no model at %s yet; train one with `python -m bot insights "
                "churn-train`",
                self._model_path,
            )
            return {"scored": 0, "skipped": "no churn model"}
        # Loaded each run: `churn-train` may have written a newer model since.
        fitted = await asyncio.to_thread(load_model, self._model_path)
        activities = await self._builder.activities(datetime.now(UTC))
        scores = await asyncio.to_thread(score_activity, fitted, activities, self._model_path.name)
        stored = await self._scores.replace(scores)
        retention = await apply_retention(self._desk, self._scores)
        logger.info(
            "Churn job: %d customers scored, %d retention decisions", stored, retention["decided"]
        )
        return {"scored": stored, **retention}


def churn_jobs(hub: HubServices) -> list[Job]:
    """The churn job when ``churn_job_hours`` turns it on (one replica runs it each period)."""
    settings = hub.settings
    if not settings.churn_job_hours:
        return []
    builder = ChurnFeatureBuilder(
        order_service(settings), hub.conversations, hub.handoffs, hub.tickets
    )
    job = ChurnJob(builder, hub.churn_scores, hub.retention_desk, churn_model_path(settings))
    return [
        Job(
            "churn-retention",
            settings.churn_job_hours * 3600.0,
            job.run,
            first_after_s=FIRST_RUN_AFTER_S,
        )
    ]
