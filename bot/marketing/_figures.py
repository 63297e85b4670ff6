"""Figures of the simulator (PNG, matplotlib's Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

from bot.marketing._simulator import CampaignResult


def regret_png(result: CampaignResult, path: Path) -> Path:
    """Cumulative regret (expected conversions lost to the oracle) per day, per policy."""
    import matplotlib  # loaded only when a figure is drawn

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(7, 4), dpi=100)
    labels = {"bandit": "Thompson sampling", "fixed": "fixed 50/50 split"}
    for name, values in result.regret.items():
        days = range(1, len(values) + 1)
        axes.plot(days, values, label=labels.get(name, name), linewidth=2)
    axes.set_xlabel("day of the campaign")
    axes.set_ylabel("cumulative regret (conversions lost to the oracle)")
    axes.set_title("30-day campaign, synthetic audience: regret vs the oracle")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    pyplot.close(figure)
    return path
