"""The nearest-example vote of bench/nlu_variants.py (the kNN variant tried on the dev splits)."""

from __future__ import annotations

import numpy as np

from bench.nlu_variants import nearest_vote


def test_the_vote_favours_the_intent_of_the_closest_example() -> None:
    examples = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
    labels = ["a", "a", "b"]
    queries = np.array([[0.6, 0.8], [0.0, 1.0]])
    sharp = nearest_vote(queries, examples, labels, ["a", "b"], tau=0.01)
    # The first message is closest to the second "a" example (cosine 0.96 against 0.8).
    assert sharp[0].argmax() == 0
    assert sharp[1].argmax() == 1
    assert np.allclose(sharp.sum(axis=1), 1.0)
    # A higher temperature gives a flatter vote with the same winner.
    soft = nearest_vote(queries, examples, labels, ["a", "b"], tau=1.0)
    assert soft[0].argmax() == 0
    assert soft[0, 0] < sharp[0, 0]
