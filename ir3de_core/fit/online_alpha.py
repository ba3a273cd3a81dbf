"""Re-choosing α online: a router that learns from feedback revisits what its fit chose.

A fit on a few seed prompts chooses α, or "no prompt signal" (α = ∞: every prompt to the best
single expert), from too little data, and rank-one updates (`ir3de_core.ridge.online`) would keep
that choice forever: a no-signal router never starts routing on the prompt, however much
feedback arrives. `FeedbackSample` keeps a bounded uniform sample (a reservoir) of the feedback
rows a router has folded; each time the folded events reach the data the last choice was made
on (the data doubled, from `MIN_EVENTS` events on), `choose_alpha` scores the α grid and no
signal again by k-fold held-out squared error of the observed scores. Fold f's model is the
router's statistics minus fold f's rows, so the seed's data always trains and is never held
out, and nothing but folded training data informs the choice. Feedback reveals one expert's
score per prompt, so the routing criterion of a fit (the chosen expert's observed score) is not
available; squared error, the ridge's own objective, is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from ir3de_core.ridge.statistics import SufficientStatistics

__all__ = ["MIN_EVENTS", "FeedbackSample", "choose_alpha"]

MIN_EVENTS = 100
"""Feedback events before the first re-choice of α."""
_SAMPLE_BYTES = 32 * 2**20  # the reservoir's feature rows hold at most this many bytes


class FeedbackSample:
    """A seeded reservoir of folded feedback rows, and when α is due to be chosen again.

    Args:
        fitted_rows: rows the fit chose α on (the next choice comes once as many events
            arrived, and at least `min_events`).
        n_features: d.
        n_experts: k.
        capacity: rows kept (default: as many as 32 MiB of features hold, at most 4,096).
        min_events: events before the first re-choice.
        seed: the reservoir's seed (replicas folding one log in one order keep the same rows).
    """

    def __init__(
        self,
        fitted_rows: float,
        n_features: int,
        n_experts: int,
        *,
        capacity: int | None = None,
        min_events: int = MIN_EVENTS,
        seed: int = 0,
    ) -> None:
        cap = capacity or max(64, min(4096, _SAMPLE_BYTES // (8 * max(n_features, 1))))
        self.features = np.zeros((cap, n_features))
        self.targets = np.full((cap, n_experts), np.nan)
        self.weights = np.zeros(cap)
        self.size = 0
        self.seen = 0
        self.next_choice = int(max(min_events, math.ceil(fitted_rows)))
        self._fitted = float(fitted_rows)
        self._rng = np.random.default_rng(seed)

    def add(
        self,
        features: NDArray[np.float64],
        targets: NDArray[np.float64],
        weights: NDArray[np.float64] | None = None,
    ) -> None:
        """Offer m folded rows: features (m, d), targets (m, k) with NaN unscored, weights (m,)."""
        w = np.ones(len(features)) if weights is None else weights
        capacity = len(self.weights)
        for i in range(len(features)):
            self.seen += 1
            slot = self.size if self.size < capacity else int(self._rng.integers(self.seen))
            if slot < capacity:  # reservoir sampling: each row seen is kept with equal chance
                self.features[slot], self.targets[slot], self.weights[slot] = (
                    features[i], targets[i], w[i],
                )  # fmt: skip
                self.size = max(self.size, slot + 1)

    @property
    def due(self) -> bool:
        """Whether enough events arrived since the last choice to choose α again."""
        return self.seen >= self.next_choice

    def chosen(self) -> None:
        """Note a choice: the next one comes when the data has doubled again."""
        self.next_choice = math.ceil(2 * self.seen + self._fitted)


def choose_alpha(
    statistics: SufficientStatistics,
    sample: FeedbackSample,
    grid: Sequence[float],
    *,
    folds: int = 5,
) -> tuple[float, dict[float, float]]:
    """The α (``inf``: no prompt signal) of lowest k-fold held-out squared error on `sample`.

    Args:
        statistics: quality-mode (``per_group``) statistics of all the router's data, the
            sample's rows included.
        sample: the folded feedback rows to hold out, fold by fold.
        grid: finite α candidates (> 0); ``inf`` is always tried too.
        folds: number of folds.

    Returns:
        the chosen α (ties to the largest), and each candidate's mean squared error.
    """
    alphas = np.array([*sorted(float(a) for a in grid), math.inf])
    n = sample.size
    X, Y, W = sample.features[:n], sample.targets[:n], sample.weights[:n]
    fold = np.arange(n) % folds
    errors, total = np.zeros(len(alphas)), 0.0
    for f in range(min(folds, n)):
        held = fold == f
        out = SufficientStatistics.from_rows(
            X[held], Y[held], statistics.names, design="per_group", sample_weight=W[held]
        )
        train = statistics - out
        e, w = _held_out_errors(train, X[held], Y[held], W[held], alphas[:-1])
        errors += e
        total += w
    if total <= 0:
        return math.inf, {}
    mean = errors / total
    best = float(mean.min())
    chosen = float(alphas[np.flatnonzero(mean <= best)[-1]])
    return chosen, {float(a): float(m) for a, m in zip(alphas, mean, strict=True)}


def _held_out_errors(
    train: SufficientStatistics,
    X: NDArray[np.float64],
    Y: NDArray[np.float64],
    W: NDArray[np.float64],
    alphas: NDArray[np.float64],
) -> tuple[NDArray[np.float64], float]:
    """Weighted squared errors of held-out scores Y (m, k) for each α and no signal: (g + 1,)."""
    errors, total = np.zeros(len(alphas) + 1), 0.0
    eigen: dict[int, tuple[NDArray[np.float64], NDArray[np.float64]]] = {}
    for j in range(len(train.names)):
        rows = ~np.isnan(Y[:, j])
        if not rows.any() or not train.weight[j] > 0:
            continue
        block = int(train.block[j])
        if block not in eigen:  # experts scored on the same prompts share one scatter
            eigen[block] = np.linalg.eigh(train.scatter_of(j).to_dense())
        values, vectors = eigen[block]
        z = (X[rows] - train.mean_x[j]) @ vectors
        c = vectors.T @ train.cross[j]
        gain = 1.0 / (np.maximum(values, 0.0)[:, None] + alphas[None, :])  # (d, g)
        predicted = train.mean_y[j] + (z * c) @ gain  # (m, g); no signal predicts ȳ
        no_signal = np.full((len(z), 1), train.mean_y[j])
        residual = Y[rows, j][:, None] - np.hstack([predicted, no_signal])
        errors += W[rows] @ residual**2
        total += float(W[rows].sum())
    return errors, total
