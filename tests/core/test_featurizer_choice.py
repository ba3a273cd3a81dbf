"""``featurizer="auto"``: the installed featurizer whose own cross-validation scores highest."""

from __future__ import annotations

import numpy as np
import pytest

from ir3de_core.decide.policy import RoutingPolicy
from ir3de_core.featurizers import CachedFeaturizer, make_featurizer
from ir3de_core.fit.featurizer_choice import chosen_score, fit_auto, installed_featurizers
from ir3de_core.router import IR3DERouter
from ir3de_core.settings import RouterSettings

pytest.importorskip("sentence_transformers")


def test_auto_keeps_the_featurizer_with_the_best_cv_score_and_is_reproducible(
    prompts, domains, tmp_path
) -> None:
    router = IR3DERouter("auto").fit(prompts, domains)
    tried = router.state_.tuning.featurizers  # type: ignore[union-attr]
    assert [t["featurizer"] for t in tried] == installed_featurizers()
    assert installed_featurizers() == ["tokens", "hashing", "sentence", "sentence-rff"]
    best = max(tried, key=lambda t: t["score"])
    assert router.state_.featurizer.kind == best["featurizer"] == "tokens"
    assert chosen_score(router.state_.tuning) == best["score"]
    assert min(t["score"] for t in tried) < best["score"]  # the choice is not a tie of all
    assert not isinstance(router.state_.featurizer, CachedFeaturizer)
    assert router.get_params()["featurizer"] == "auto"  # the setting is stored unchanged
    again = IR3DERouter("auto").fit(prompts, domains)
    assert again.state_.tuning.featurizers == tried  # type: ignore[union-attr]
    assert again.coef_.tobytes() == router.coef_.tobytes()
    loaded = IR3DERouter.load(router.save(tmp_path / "auto"))
    assert loaded.state_.tuning.featurizers == tried  # type: ignore[union-attr]
    assert loaded.state_.featurizer.get_config() == router.state_.featurizer.get_config()
    np.testing.assert_array_equal(loaded.predict(prompts), router.predict(prompts))


def test_a_clear_winner_wins_whatever_the_order(prompts, domains) -> None:
    settings = RouterSettings()
    policy = RoutingPolicy()
    one = fit_auto(settings, prompts, domains, policy=policy, candidates=["hashing", "tokens"])
    two = fit_auto(settings, prompts, domains, policy=policy, candidates=["tokens", "hashing"])
    scores = {t["featurizer"]: t["score"] for t in one.tuning.featurizers}  # type: ignore[union-attr]
    winner = max(scores, key=scores.__getitem__)
    error = one.tuning.standard_error  # type: ignore[union-attr]
    assert abs(scores["tokens"] - scores["hashing"]) > 2 * error  # type: ignore[operator]
    assert one.featurizer.kind == two.featurizer.kind == winner


def test_auto_is_for_a_cross_validated_fit_only(prompts, domains) -> None:
    with pytest.raises(ValueError, match=r"chosen by IR3DERouter\.fit"):
        make_featurizer("auto")
    with pytest.raises(ValueError, match=r"chosen by IR3DERouter\.fit"):
        IR3DERouter("auto").compute_statistics(prompts, domains)
    fixed = IR3DERouter(
        "auto", alpha=1.0, aggregation="pooled", confidence_temperature=1.0, safe_default=False
    )
    with pytest.raises(ValueError, match="chooses by cross-validation"):
        fixed.fit(prompts, domains)
