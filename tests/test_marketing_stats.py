"""Experiment arithmetic on synthetic logs with known answers (no real customers)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats  # type: ignore[import-untyped]

from bot.marketing import ArmLog, InvalidMarketingRequest, results, sample_size
from bot.marketing._stats import choose_arm, hashed_unit


def arm(name: str, recipients: int, conversions: int, revenue_each: float) -> ArmLog:
    return ArmLog(
        name, [revenue_each] * conversions + [0.0] * (recipients - conversions), conversions
    )


def test_sample_size_matches_the_textbook_formula() -> None:
    # 10% vs 12%, alpha 0.05 two-sided, power 0.8: 3841 per arm (Fleiss' formula by hand).
    assert sample_size(0.10, 0.02) == 3841
    # 5% vs 6%, power 0.9: (1.96 * 0.32241 + 1.28155 * 0.32234)^2 / 0.01^2 = 10920.5.
    assert sample_size(0.05, 0.01, alpha=0.05, power=0.9) == 10921


@pytest.mark.parametrize(
    ("baseline", "lift"), [(0.0, 0.1), (0.5, 0.6), (0.2, 0.0), (1.2, -0.1), (-0.1, 0.2)]
)
def test_sample_size_refuses_rates_outside_zero_and_one(baseline: float, lift: float) -> None:
    with pytest.raises(InvalidMarketingRequest, match="conversion rates between 0 and 1"):
        sample_size(baseline, lift)


def test_results_on_a_known_log() -> None:
    control = arm("control", 1000, 100, 50.0)
    treatment = arm("B", 1000, 150, 60.0)
    out = results([control, treatment], horizon=1000, seed=1)
    first, second = out.arms
    assert (first.recipients, first.conversions, first.conversion_rate) == (1000, 100, 0.1)
    assert first.revenue == 5000.0
    assert first.revenue_per_recipient == 5.0
    assert first.uplift is None
    assert (second.conversion_rate, second.revenue_per_recipient) == (0.15, 9.0)
    assert second.uplift == pytest.approx(0.05)
    assert second.relative_uplift == pytest.approx(0.5)
    # The Beta posterior's interval agrees with Wald's at these counts.
    half = 1.96 * math.sqrt(0.1 * 0.9 / 1000 + 0.15 * 0.85 / 1000)
    assert second.uplift_interval is not None
    low, high = second.uplift_interval
    assert low == pytest.approx(0.05 - half, abs=0.003)
    assert high == pytest.approx(0.05 + half, abs=0.003)
    # Welch's interval of the revenue-per-recipient difference, by hand.
    a = np.array(treatment.revenue)
    b = np.array(control.revenue)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    margin = stats.t.ppf(0.975, df) * math.sqrt(va + vb)
    assert second.revenue_uplift == pytest.approx(4.0)
    assert second.revenue_uplift_interval == pytest.approx((4.0 - margin, 4.0 + margin))
    assert second.probability_better is not None
    assert second.probability_better > 0.99
    assert out.level == 0.95
    assert (out.decided, out.winner) == (True, "B")


def test_no_winner_before_the_horizon_however_clear_it_looks() -> None:
    out = results([arm("control", 1000, 100, 1.0), arm("B", 1000, 200, 1.0)], horizon=1001)
    assert out.arms[1].uplift_interval is not None
    assert out.arms[1].uplift_interval[0] > 0
    assert (out.decided, out.winner) == (False, None)
    assert "fixed horizon" in out.stop_rule


def test_intervals_widen_with_more_arms_bonferroni() -> None:
    control = arm("control", 1000, 100, 1.0)
    two = results([control, arm("B", 1000, 120, 1.0)], horizon=1000, seed=3)
    four = results(
        [control, arm("B", 1000, 120, 1.0), arm("C", 1000, 90, 1.0), arm("D", 1000, 100, 1.0)],
        horizon=1000,
        seed=3,
    )
    assert four.level == pytest.approx(1 - 0.05 / 3)
    narrow, wide = two.arms[1].uplift_interval, four.arms[1].uplift_interval
    assert narrow is not None
    assert wide is not None
    assert wide[1] - wide[0] > narrow[1] - narrow[0]


def test_a_worse_treatment_makes_the_control_the_winner() -> None:
    out = results([arm("control", 2000, 300, 1.0), arm("B", 2000, 150, 1.0)], horizon=2000)
    assert out.winner == "control"


def test_aa_experiments_rarely_name_a_false_winner() -> None:
    """Two identical arms (5%), 2000 recipients each: the fixed-horizon rule names a winner in
    about 5% of runs (the test level), not more."""
    rng = np.random.default_rng(11)
    false_winners = 0
    runs = 300
    for run in range(runs):
        conversions = rng.binomial(2000, 0.05, size=2)
        logs = [
            arm(name, 2000, int(c), 1.0)
            for name, c in zip(["control", "B"], conversions, strict=True)
        ]
        if results(logs, horizon=2000, seed=run).winner is not None:
            false_winners += 1
    assert false_winners / runs <= 0.08


def test_an_experiment_needs_a_treatment() -> None:
    with pytest.raises(InvalidMarketingRequest, match="a control and at least one treatment"):
        results([arm("control", 10, 1, 1.0)], horizon=10)


def test_fixed_split_keeps_the_control_share_and_splits_the_rest_evenly() -> None:
    rng = np.random.default_rng(0)
    arms = ["control", "B", "C"]
    picks = [choose_arm(arms, 0.2, "fixed", hashed_unit(7, f"c{i}"), {}, rng) for i in range(20000)]
    shares = {a: picks.count(a) / len(picks) for a in arms}
    assert shares["control"] == pytest.approx(0.2, abs=0.01)
    assert shares["B"] == pytest.approx(0.4, abs=0.015)
    assert shares["C"] == pytest.approx(0.4, abs=0.015)


def test_thompson_sampling_sends_traffic_to_the_better_treatment() -> None:
    rng = np.random.default_rng(0)
    counts = {"control": (500, 25), "B": (500, 25), "C": (500, 50)}
    picks = [
        choose_arm(["control", "B", "C"], 0.1, "thompson", 0.5, counts, rng) for _ in range(2000)
    ]
    assert picks.count("C") / len(picks) > 0.95
    assert "control" not in picks  # the unit 0.5 is above the hold-out share


def test_hashed_units_are_stable_and_differ_by_experiment() -> None:
    assert hashed_unit(1, "alice") == hashed_unit(1, "alice")
    assert hashed_unit(1, "alice") != hashed_unit(2, "alice")
    assert 0 <= hashed_unit(1, "alice") < 1
