"""Would a ridge penalty per expert (``RidgeCV(alpha_per_target=True)``) route better? A diagnostic.

Quality mode fits one ridge per expert on the same rows, so each expert could have its own α,
chosen by its held-out squared error. This script computes, with plain numpy on the sentence
rows of RouterDC's training split and the library's 5 folds (prompt hashes), the held-out
routing score (mean observed score of the chosen expert) of:

* one α for all experts chosen by the routing score (what the library does);
* one α for all experts chosen by the squared error;
* one α per expert, each chosen by its own squared error.

The first is chosen on the very score it is judged by, so its CV figure is optimistic; the
test split (fitted on all of train with the chosen α) is printed for information only.

    .venv/bin/python -m benchmarks.per_expert_alpha --data ../shared/data --cache-dir ~/.cache/ir3de/bench
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from benchmarks.common.features import cached, embed_and_save
from benchmarks.routerdc.data import load_routerdc_split
from ir3de_cli.report import format_table
from ir3de_core.featurizers import SentenceFeaturizer
from ir3de_core.fit.folds import fold_ids

__all__ = ["main"]

EXPONENTS = np.arange(-4.0, 3.01, 0.5)


def _path(
    x: NDArray[np.float64], y: NDArray[np.float64], alphas: NDArray[np.float64]
) -> Callable[[NDArray[np.float64]], NDArray[np.float64]]:
    """Centred ridge along `alphas`: a function rows → predictions (m, n_alphas, k)."""
    mx, my = x.mean(axis=0), y.mean(axis=0)
    xc = x - mx
    u, s, vt = np.linalg.svd(xc, full_matrices=False)
    uty = u.T @ (y - my)  # (r, k)

    def predict(rows: NDArray[np.float64]) -> NDArray[np.float64]:
        z = (rows - mx) @ vt.T  # (m, r)
        shrink = s[None, :] / (s[None, :] ** 2 + alphas[:, None])  # (a, r)
        return np.asarray(np.einsum("mr,ar,rk->mak", z, shrink, uty) + my)

    return predict


def _scores(
    x: NDArray[np.float64], y: NDArray[np.float64], folds: NDArray[np.intp], alphas: NDArray
) -> NDArray[np.float64]:
    """Held-out predictions (n, n_alphas, k) of the fold complements."""
    out = np.empty((x.shape[0], alphas.size, y.shape[1]))
    for f in np.unique(folds):
        held = folds == f
        out[held] = _path(x[~held], y[~held], alphas)(x[held])
    return out


def _routed(pred: NDArray[np.float64], y: NDArray[np.float64]) -> float:
    return 100 * float(y[np.arange(y.shape[0]), pred.argmax(axis=1)].mean())


def _choose(pred: NDArray[np.float64], y: NDArray[np.float64]) -> dict[str, NDArray[np.intp]]:
    """Index of α per expert (k,) under each rule."""
    k, n_a = y.shape[1], pred.shape[1]
    routing = np.array([_routed(pred[:, a], y) for a in range(n_a)])
    mse = ((pred - y[:, None, :]) ** 2).mean(axis=0)  # (a, k)
    return {
        "one α by routing score (library)": np.full(k, int(routing.argmax())),
        "one α by squared error": np.full(k, int(mse.mean(axis=1).argmin())),
        "α per expert by squared error": mse.argmin(axis=0),
    }


def _pick(pred: NDArray[np.float64], index: NDArray[np.intp]) -> NDArray[np.float64]:
    return pred[:, index, np.arange(index.size)]


def run(data: Path, cache_dir: Path | None) -> str:
    train, test = (load_routerdc_split(data / "routerdc", s) for s in ("train", "test"))
    encoder = cached(SentenceFeaturizer(), cache_dir)
    xs = [
        np.asarray(r, dtype=np.float64)
        for r in embed_and_save(encoder, train.prompts, test.prompts)
    ]
    x, xt = xs
    y, yt = train.scores, test.scores
    scale = float((x - x.mean(axis=0)).var(axis=0).sum() * x.shape[0] / x.shape[1])
    alphas = scale * 10.0**EXPONENTS
    pred = _scores(x, y, fold_ids(train.prompts, 5), alphas)
    test_pred = _path(x, y, alphas)(xt)
    rows = []
    for name, index in _choose(pred, y).items():
        chosen = ", ".join(f"{alphas[i]:.3g}" for i in index)
        rows.append([name, _routed(_pick(pred, index), y), _routed(_pick(test_pred, index), yt),
                     chosen])  # fmt: skip
    head = ["rule", "5-fold CV on train %", "test % (report only)", "α per expert"]
    return format_table(head, rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    print(run(args.data, args.cache_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
