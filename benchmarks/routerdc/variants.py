"""The routers the quality benchmark runs: IR3DE variants with their hyper-parameter grids."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from benchmarks.common.features import cached
from benchmarks.common.hybrid import DomainQualityRouter
from benchmarks.routerdc.data import MemoTokenFeaturizer, RoutingData
from ir3de_core.featurizers import (
    Featurizer,
    HashingFeaturizer,
    SentenceFeaturizer,
    TokenEmbeddingFeaturizer,
)
from ir3de_core.router import IR3DERouter

__all__ = [
    "Features",
    "Mode",
    "Variant",
    "default_rows",
    "default_variants",
    "fit_variant",
    "grid_points",
    "quick",
    "route_columns",
]

Mode = Literal["domain", "quality", "hybrid"]
Router = IR3DERouter | DomainQualityRouter


class Features:
    """Featurizers shared by every router of one run, so each prompt is encoded once.

    Args:
        cache_dir: where sentence embeddings persist between runs (None: memory only).
        memo: remember token ids and embeddings (quality runs); False gives plain featurizers
            that do all their work on every call (speed runs).
    """

    def __init__(self, cache_dir: Path | None = None, *, memo: bool = True) -> None:
        self.memo = memo
        self._memo: dict[str, NDArray[np.int64]] = {}
        self._tokens: dict[tuple[int, str], TokenEmbeddingFeaturizer] = {}
        self.sentence: Featurizer = (
            cached(SentenceFeaturizer(), cache_dir) if memo else SentenceFeaturizer()
        )

    def tokens(
        self, max_tokens: int = 256, truncation: str = "head+tail"
    ) -> TokenEmbeddingFeaturizer:
        """The `tokens` featurizer with this truncation (token ids shared across truncations)."""
        key = (max_tokens, truncation)
        if key not in self._tokens:
            settings: dict[str, Any] = {"max_tokens": max_tokens, "truncation": truncation}
            self._tokens[key] = (
                MemoTokenFeaturizer(self._memo, **settings)
                if self.memo
                else TokenEmbeddingFeaturizer(**settings)
            )
        return self._tokens[key]


@dataclass(frozen=True)
class Variant:
    """One router of the table.

    Attributes:
        name: row label.
        mode: how it is fitted (``domain`` labels, per-expert ``quality`` scores, or ``hybrid``).
        build: (settings, features) → an unfitted router.
        grid: hyper-parameter → candidate values, tried exhaustively on the validation split.
        sentence: whether it needs sentence embeddings (a transformer forward pass).
        new: a variant beyond the paper's (found here).
        defaults: fitted with the library's defaults only (nothing chosen by the benchmark:
            the router cross-validates its own settings on the training data it is given).
    """

    name: str
    mode: Mode
    build: Callable[[dict[str, Any], Features], Router]
    grid: dict[str, list[Any]] = field(default_factory=dict)
    sentence: bool = False
    new: bool = False
    defaults: bool = False


def quick(variant: Variant) -> Variant:
    """The variant with only the first value of each hyper-parameter (for smoke runs)."""
    return replace(variant, grid={k: v[:1] for k, v in variant.grid.items()})


def grid_points(grid: dict[str, list[Any]]) -> Iterator[dict[str, Any]]:
    """Every combination of the grid's values, as settings dicts."""
    keys = list(grid)
    for values in itertools.product(*(grid[k] for k in keys)):
        yield dict(zip(keys, values, strict=True))


def fit_variant(
    variant: Variant, params: dict[str, Any], data: RoutingData, features: Features
) -> Router:
    """Build `variant` with `params` and fit it on `data`."""
    router = variant.build(params, features)
    if isinstance(router, DomainQualityRouter):
        return router.fit(data.prompts, data.tasks.tolist(), data.scores, experts=data.experts)
    return fit_on(router, data)


def fit_on(router: IR3DERouter, data: RoutingData) -> IR3DERouter:
    """Fit `router` on `data` in its own mode: task labels (with scores) or scores alone."""
    if router.target == "domain":
        labels = data.tasks.tolist()
        return router.fit(data.prompts, labels, scores=data.scores, experts=data.experts)
    return router.fit(data.prompts, data.scores, experts=data.experts)


def route_columns(
    router: Router, data: RoutingData
) -> tuple[NDArray[np.intp], NDArray[np.object_] | None]:
    """Chosen expert columns, shape (n,), and predicted domains (domain-aware routers) or None."""
    names = router.predict(data.prompts)
    index = {e: j for j, e in enumerate(data.experts)}
    columns = np.array([index[str(name)] for name in names], dtype=np.intp)
    domains = None
    if isinstance(router, DomainQualityRouter) or router.target == "domain":
        domains = router.predict_domain(data.prompts)
    return columns, domains


def _tokens_domain(aggregation: str) -> Callable[[dict[str, Any], Features], Router]:
    def build(p: dict[str, Any], f: Features) -> Router:
        return IR3DERouter(
            f.tokens(p["max_tokens"], p["truncation"]),
            aggregation=aggregation,  # type: ignore[arg-type]
            entropy_top_k=p.get("top_k"),
            alpha=p["alpha"],
            safe_default=False,
        )

    return build


def _hybrid(sentence: bool) -> Callable[[dict[str, Any], Features], Router]:
    def build(p: dict[str, Any], f: Features) -> Router:
        domain = IR3DERouter(
            f.tokens(64, "tail"), aggregation="average", alpha=100.0, safe_default=False
        )
        quality = f.sentence if sentence else f.tokens(p["max_tokens"], "tail")
        return DomainQualityRouter(
            domain, quality_featurizer=quality, alpha=p["alpha"], temperature=p["temperature"]
        )

    return build


def default_variants(*, sentence: bool = True) -> list[Variant]:
    """The benchmark's IR3DE rows; `sentence=False` drops those needing a forward pass."""
    both: dict[str, list[Any]] = {"max_tokens": [64, 256], "truncation": ["head+tail", "tail"]}
    tail: dict[str, list[Any]] = {"max_tokens": [64, 256], "truncation": ["tail"]}
    variants = [
        Variant("IR3DE tokens+domain, vote", "domain", _tokens_domain("vote"),
                {"alpha": [1.0, 100.0], **both}),
        Variant("IR3DE tokens+domain, vote-top-k", "domain", _tokens_domain("vote"),
                {"alpha": [100.0], "top_k": [8, 32], **tail}),
        Variant("IR3DE tokens+domain, average", "domain", _tokens_domain("average"),
                {"alpha": [1.0, 100.0], **tail}),
        Variant("IR3DE sentence+domain", "domain",
                lambda p, f: IR3DERouter(f.sentence, alpha=p["alpha"], safe_default=False),
                {"alpha": [0.1, 1.0, 10.0]}, sentence=True),
        Variant("IR3DE sentence+quality", "quality",
                lambda p, f: IR3DERouter(f.sentence, target="quality", alpha=p["alpha"],
                                         safe_default=False),
                {"alpha": [0.1, 1.0, 10.0, 100.0]}, sentence=True),
        Variant("IR3DE hashing+quality", "quality",
                lambda p, f: IR3DERouter(HashingFeaturizer(), target="quality", alpha=p["alpha"],
                                         safe_default=False),
                {"alpha": [0.1, 1.0, 10.0, 100.0]}),
        Variant("IR3DE+ tokens domain × tokens quality", "hybrid", _hybrid(sentence=False),
                {"alpha": [0.03, 0.1, 0.3, 1.0, 10.0], "max_tokens": [256],
                 "temperature": [None, 0.01]}, new=True),
        Variant("IR3DE+ tokens domain × sentence quality", "hybrid", _hybrid(sentence=True),
                {"alpha": [0.3, 1.0, 3.0, 10.0, 100.0], "temperature": [None]},
                sentence=True, new=True),
        *default_rows(),
    ]  # fmt: skip
    return [v for v in variants if sentence or not v.sentence]


def default_rows() -> list[Variant]:
    """Routers with the library's defaults: ``IR3DERouter(featurizer[, target="quality"])``,
    nothing else given (α, the aggregation and the safe default are cross-validated inside)."""
    return [
        Variant("defaults: tokens, domain", "domain", lambda p, f: IR3DERouter(f.tokens()),
                defaults=True),
        Variant("defaults: tokens, quality", "quality",
                lambda p, f: IR3DERouter(f.tokens(), target="quality"), defaults=True),
        Variant("defaults: sentence, domain", "domain", lambda p, f: IR3DERouter(f.sentence),
                sentence=True, defaults=True),
        Variant("defaults: sentence, quality", "quality",
                lambda p, f: IR3DERouter(f.sentence, target="quality"), sentence=True,
                defaults=True),
        Variant("defaults: hashing, quality", "quality",
                lambda p, f: IR3DERouter(HashingFeaturizer(), target="quality"), defaults=True),
    ]  # fmt: skip
