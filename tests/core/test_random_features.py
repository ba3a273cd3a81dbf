"""`sentence-rff`: the random-feature ridge is the ridge of its explicit feature matrix, the map
is seeded and saved bit for bit, and updates equal a fresh fit."""

from __future__ import annotations

import numpy as np
import pytest

from ir3de_core.featurizers import SentenceRFFFeaturizer, make_featurizer
from ir3de_core.featurizers.random_features import median_gamma
from ir3de_core.router import IR3DERouter

pytest.importorskip("sentence_transformers")

EXPERTS = ["p", "q", "r"]


def _scores(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(size=(n, len(EXPERTS)))


def _plain(featurizer: object, **settings: object) -> IR3DERouter:
    """A quality router with one plain fit: α fixed, nothing tuned, nothing rescaled."""
    return IR3DERouter(
        featurizer,  # type: ignore[arg-type]
        target="quality", alpha=settings.pop("alpha", 1.0), balance=False, normalize=False,
        confidence_temperature=1.0, safe_default=False, **settings,  # type: ignore[arg-type]
    )  # fmt: skip


def test_the_map_approximates_the_rbf_kernel_and_gamma_is_the_median_heuristic(prompts) -> None:
    featurizer = SentenceRFFFeaturizer(n_components=4096).fit(prompts)
    embeddings = featurizer.base.transform(prompts).astype(np.float64)
    distances = np.sqrt(((embeddings[:, None] - embeddings[None]) ** 2).sum(-1))
    median = np.median(distances[np.triu_indices(len(prompts), k=1)])
    gamma = featurizer.map[2]
    assert gamma == pytest.approx(1 / (2 * median**2), rel=1e-9)  # all 120 prompts < sample
    z = featurizer.transform(prompts).astype(np.float64)
    kernel = np.exp(-gamma * distances**2)
    assert np.abs(z @ z.T - kernel).mean() < 0.02  # Monte Carlo error ~ 1/√D
    assert np.abs(kernel - np.eye(len(prompts))).mean() > 0.3  # the kernel is not trivial


def test_random_feature_ridge_equals_the_ridge_of_the_explicit_matrix(prompts) -> None:
    y = _scores(len(prompts))
    router = _plain({"kind": "sentence-rff", "n_components": 256, "seed": 7}).fit(
        prompts, y, experts=EXPERTS
    )
    featurizer = router.state_.featurizer
    assert isinstance(featurizer, SentenceRFFFeaturizer)
    weights, offset, gamma = featurizer.map
    embeddings = featurizer.base.transform(prompts).astype(np.float64)
    explicit = np.sqrt(2 / 256) * np.cos(embeddings @ weights + offset)
    phi = featurizer.transform(prompts).astype(np.float64)
    np.testing.assert_allclose(phi, explicit, atol=1e-6)  # float32 rows of the same matrix
    mean_x, mean_y = phi.mean(axis=0), y.mean(axis=0)
    centred = phi - mean_x
    coef = np.linalg.solve(centred.T @ centred + np.eye(256), centred.T @ (y - mean_y))
    np.testing.assert_allclose(router.coef_, coef, rtol=0, atol=1e-8)
    np.testing.assert_allclose(router.intercept_, mean_y - mean_x @ coef, rtol=0, atol=1e-8)
    assert gamma == pytest.approx(median_gamma(embeddings))


def test_save_and_load_round_trip_the_map_bit_for_bit(prompts, tmp_path) -> None:
    router = _plain("sentence-rff").fit(prompts, _scores(len(prompts)), experts=EXPERTS)
    loaded = IR3DERouter.load(router.save(tmp_path / "rff"))
    mine, theirs = router.state_.featurizer, loaded.state_.featurizer
    assert isinstance(theirs, SentenceRFFFeaturizer)
    for name, array in mine.state_arrays().items():  # type: ignore[attr-defined]
        assert theirs.state_arrays()[name].tobytes() == array.tobytes(), name
    assert loaded.coef_.tobytes() == router.coef_.tobytes()
    assert (
        loaded.decision_function(prompts).tobytes() == router.decision_function(prompts).tobytes()
    )
    assert theirs.get_config() == mine.get_config()
    assert loaded.get_params()["featurizer"] == mine.get_config()


def test_add_and_remove_equal_a_fresh_fit(prompts) -> None:
    y = _scores(len(prompts), seed=1)
    # one prompt per forward pass: a prompt's embedding does not depend on its batch's padding
    spec = {"kind": "sentence-rff", "n_components": 128, "gamma": 0.5, "batch_size": 1}
    fresh = _plain(spec).fit(prompts, y, experts=EXPERTS)
    grown = _plain(spec).fit(prompts[:70], y[:70], experts=EXPERTS)
    grown.partial_fit(prompts[70:], y[70:])
    np.testing.assert_allclose(grown.coef_, fresh.coef_, rtol=0, atol=1e-8)
    np.testing.assert_allclose(grown.intercept_, fresh.intercept_, rtol=0, atol=1e-8)
    without = _plain(spec).fit(prompts, y[:, :2], experts=EXPERTS[:2])
    fresh.remove_expert("r")
    np.testing.assert_allclose(fresh.coef_, without.coef_, rtol=0, atol=1e-8)
    with_r = without.add_expert("r", prompts, y[:, 2])
    np.testing.assert_allclose(with_r.coef_[:, 2], grown.coef_[:, 2], rtol=0, atol=1e-8)


def test_the_map_is_a_function_of_seed_width_and_gamma_only() -> None:
    one = SentenceRFFFeaturizer(n_components=64, gamma=0.7, seed=3).map
    two = make_featurizer({"kind": "sentence-rff", "n_components": 64, "gamma": 0.7, "seed": 3})
    assert one[0].tobytes() == two.map[0].tobytes()  # type: ignore[attr-defined]
    assert one[1].tobytes() == two.map[1].tobytes()  # type: ignore[attr-defined]
    other = SentenceRFFFeaturizer(n_components=64, gamma=0.7, seed=4).map
    assert not np.array_equal(one[0], other[0])
    assert one[0].std() == pytest.approx(np.sqrt(2 * 0.7), rel=0.05)  # W ~ N(0, 2γ)


def test_bad_settings_and_an_unfitted_median_map_are_refused() -> None:
    for bad in ({"n_components": 0}, {"gamma": -1.0}, {"gamma": "auto"}, {"seed": -1}):
        with pytest.raises(ValueError, match=r"must be"):
            make_featurizer({"kind": "sentence-rff", **bad})
    featurizer = SentenceRFFFeaturizer()
    assert not featurizer.is_fitted
    assert featurizer.state_arrays() == {}
    with pytest.raises(RuntimeError, match="learns gamma from data"):
        featurizer.transform(["hello"])
    with pytest.raises(ValueError, match="expected"):
        featurizer.load_state_arrays(
            {"rff_weights": np.zeros((384, 3)), "rff_offset": np.zeros(3), "rff_gamma": np.ones(1)}
        )
    with pytest.raises(ValueError, match="at least 2 prompts"):
        median_gamma(np.zeros((1, 4)))
