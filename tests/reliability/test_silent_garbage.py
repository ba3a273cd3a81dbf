"""No silent garbage: impossible settings, non-finite features and fits without targets are
refused at the boundary with a message naming the setting; numpy scalars are welcome."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ir3de_core import IR3DERouter, RoutingPolicy
from ir3de_core.decide.fallback import call_with_fallback
from ir3de_core.featurizers import make_featurizer

HASH = {"kind": "hashing", "n_features": 64, "tfidf": False}


class NaNFeaturizer:
    """A featurizer that returns NaN for prompts containing "<nan>" (a broken encoder)."""

    kind = "nan-test"

    def __init__(self) -> None:
        self.inner = make_featurizer(HASH)

    @property
    def n_features(self) -> int:
        return 64

    def transform(self, texts: list[str]) -> np.ndarray:
        rows = np.asarray(self.inner.transform(texts), dtype=np.float32)
        rows[["<nan>" in t for t in texts]] = np.nan
        return rows

    def get_config(self) -> dict[str, object]:
        return {"kind": self.kind}


@pytest.mark.parametrize(
    ("setting", "match"),
    [({"alpha": "1"}, "alpha"), ({"alpha": math.nan}, "alpha"), ({"alpha": -1}, "alpha"),
     ({"confidence_temperature": math.nan}, "confidence_temperature"),
     ({"confidence_temperature": 0}, "confidence_temperature"),
     ({"entropy_top_k": "3"}, "entropy_top_k must be an integer"),
     ({"entropy_top_k": 0}, "entropy_top_k"), ({"target": "best"}, "target"),
     ({"featurizer": {"kind": "hashing", "n_features": 0}}, "n_features"),
     ({"featurizer": {"kind": "tokens", "max_tokens": 0}}, "max_tokens")],
)  # fmt: skip
def test_impossible_settings_are_refused_by_name(prompts, domains, setting, match) -> None:
    params = {"featurizer": HASH, **setting}
    with pytest.raises(ValueError, match=match):
        IR3DERouter(**params).fit(prompts, domains)


def test_numpy_scalars_are_welcome(prompts, domains) -> None:
    router = IR3DERouter(
        HASH, alpha=np.float32(1), entropy_top_k=np.int64(3), confidence_temperature=np.float64(0.2)
    )
    assert router.fit(prompts, domains).settings.alpha == 1.0


def test_non_finite_features_are_refused_at_fit_and_route(prompts, domains) -> None:
    with pytest.raises(ValueError, match="NaN or inf features"):
        IR3DERouter(NaNFeaturizer()).fit([*prompts[:5], "<nan> here"], [*domains[:5], "math"])
    router = IR3DERouter(NaNFeaturizer()).fit(prompts, domains)
    with pytest.raises(ValueError, match=r"NaN or inf features for prompt\(s\) \[1\]"):
        router.route(["fine", "a <nan> prompt"])
    with pytest.raises(ValueError, match="NaN or inf"):
        router.predict(["a <nan> prompt"])


def test_a_quality_fit_without_any_score_is_refused(prompts) -> None:
    empty = [{"a": None, "b": None} for _ in prompts[:10]]
    router = IR3DERouter(HASH, target="quality", missing_scores="ignore")
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="no prompt has a usable"):
        router.fit(prompts[:10], empty)


def test_fallback_records_the_expert_that_answered(prompts, domains) -> None:
    """Regression: with no runnable for the chosen expert, the decision named it anyway."""
    router = IR3DERouter(HASH, expert_map={d: d for d in set(domains)}).fit(prompts, domains)
    decision = router.route(["Solve x + 1 = 2"], available={"code", "writing"})[0]

    def call(expert: str) -> str:
        if expert == decision.expert:
            raise ConnectionError("down")
        return expert

    answer, used = call_with_fallback(
        decision, call, policy=RoutingPolicy(), available={"code", "writing"}
    )
    assert used.expert == answer and used.fallback_from == (decision.expert,)
    assert used.expert in {"code", "writing"}


def test_an_infinite_penalty_ignores_the_prompt(prompts, quality_scores) -> None:
    """alpha=inf is the ridge's limit: no prompt signal, every prompt to the best single expert."""
    router = IR3DERouter(HASH, target="quality", alpha=math.inf, safe_default=False)
    router.fit(prompts, quality_scores)
    assert set(router.predict(prompts).tolist()) == {router.prior_}
    assert not router.coef_.any()
