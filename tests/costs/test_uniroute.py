"""UniRoute: a new LLM joins from a few scored prompts, without retraining anything."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.common.features import PrecomputedFeaturizer
from ir3de_core.decide.uniroute import UniRouteRouter

CENTRES = np.array([[5.0, 0.0], [0.0, 5.0], [-5.0, -5.0]])


def _blobs(n: int, seed: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    label = np.arange(n) % 3
    features = CENTRES[label] + rng.normal(scale=0.5, size=(n, 2))
    prompts = [f"prompt {seed}-{i}" for i in range(n)]
    return prompts, features, label


def _router(assignment: str = "hard") -> tuple[UniRouteRouter, list[str], np.ndarray]:
    train, x_train, label = _blobs(300, 0)
    test, x_test, test_label = _blobs(90, 1)
    featurizer = PrecomputedFeaturizer(train + test, np.vstack([x_train, x_test]))
    scores = np.stack([label == 0, label == 1], axis=1).astype(float)  # A wins blob 0, B blob 1
    router = UniRouteRouter(featurizer, n_clusters=3, assignment=assignment)  # type: ignore[arg-type]
    router.fit(train, scores, experts=["A", "B"])
    return router, test, test_label


@pytest.mark.parametrize("assignment", ["hard", "soft"])
def test_new_llm_added_without_retraining(assignment: str) -> None:
    router, test, test_label = _router(assignment)
    centroids, errors = router.centroids_.copy(), router.errors_.copy()
    train, _, label = _blobs(300, 0)
    picked = router.representatives(train, n=30)
    assert len(picked) == 30
    assert set(label[picked]) == {0, 1, 2}  # representatives cover every cluster
    new_scores = (label[picked] == 2).astype(float)  # C is the only one right on blob 2
    router.add_llm("C", [train[i] for i in picked], new_scores)
    np.testing.assert_array_equal(router.centroids_, centroids)
    np.testing.assert_array_equal(router.errors_[:2], errors)
    assert router.experts_ == ("A", "B", "C")
    routed = router.predict(test)
    np.testing.assert_array_equal(routed, np.array(["A", "B", "C"], dtype=object)[test_label])


def test_soft_probabilities_sum_to_one() -> None:
    router, test, _ = _router("soft")
    p = router.cluster_probabilities(test)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert p.shape == (90, 3)


def test_remove_and_duplicate_llm() -> None:
    router, test, _ = _router()
    with pytest.raises(Exception, match="already known"):
        router.add_llm("A", test[:3], [1.0, 0.0, 1.0])
    router.remove_llm("B")
    assert router.experts_ == ("A",)
    with pytest.raises(ValueError, match="no scores"):
        router.add_llm("D", test[:2], [np.nan, np.nan])
