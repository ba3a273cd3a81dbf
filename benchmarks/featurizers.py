"""Which featurizer should the defaults use? Every candidate fitted with the defaults on RouterDC.

The choice is made on validation only: each router's own 5-fold cross-validation on the training
split (the held-out score of the setting it chose, ``cv_results_``). The test split is printed
beside it for information, never to choose. Candidates: the default ``tokens`` (the paper's token
rows), ``sentence`` (all-MiniLM-L6-v2, the one embedding model found inside a PyPI wheel),
``hashing`` (TF-IDF), and token or sentence rows concatenated with TF-IDF hashing.

    .venv/bin/python -m benchmarks.featurizers --data ../shared/data/routerdc
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from benchmarks.common.features import cached, embed_and_save
from benchmarks.routerdc.data import RoutingData, load_routerdc_split, task_accuracy
from benchmarks.routerdc.variants import fit_on, route_columns
from ir3de_cli.report import format_table
from ir3de_core.featurizers import (
    Featurizer,
    HashingFeaturizer,
    SentenceFeaturizer,
    TokenEmbeddingFeaturizer,
)
from ir3de_core.router import IR3DERouter

__all__ = ["Concatenated", "main", "run"]


class Concatenated:
    """Feature rows of several featurizers side by side, each block scaled to unit mean norm
    on the prompts it was fitted on (so one ridge penalty suits both). Benchmark-only."""

    kind: ClassVar[str] = "concatenated"

    def __init__(self, parts: Sequence[Featurizer], prompts: Sequence[str]) -> None:
        self.parts = list(parts)
        sample = list(prompts[:2000])
        self.scales = [
            1.0 / max(float(np.linalg.norm(p.transform(sample), axis=1).mean()), 1e-12)
            for p in self.parts
        ]

    @property
    def n_features(self) -> int:
        return sum(p.n_features for p in self.parts)

    def transform(self, texts: Sequence[str]) -> NDArray[np.float32]:
        blocks = [
            s * np.asarray(p.transform(texts)) for p, s in zip(self.parts, self.scales, strict=True)
        ]
        return np.hstack(blocks).astype(np.float32)

    def get_config(self) -> dict[str, Any]:
        return {"kind": self.kind, "parts": [p.get_config() for p in self.parts]}


def _candidates(train: RoutingData, test: RoutingData, cache_dir: Path | None) -> dict[str, Any]:
    hashing = HashingFeaturizer().fit(list(train.prompts))
    sentence = cached(SentenceFeaturizer(), cache_dir)
    embed_and_save(sentence, train.prompts + test.prompts)  # kept for the next run
    pooled = TokenEmbeddingFeaturizer()
    return {
        "tokens (default)": "tokens",
        "sentence": sentence,
        "hashing": "hashing",
        "tokens pooled ⊕ hashing": Concatenated([pooled, hashing], train.prompts),
        "sentence ⊕ hashing": Concatenated([sentence, hashing], train.prompts),
    }


def _cv_score(router: IR3DERouter) -> float:
    results = router.cv_results_ or {}
    chosen = [
        c["score"] for c in results.get("candidates", [])
        if c["alpha"] == results.get("alpha")
        and (c["alpha"] == math.inf or c["aggregation"] == results.get("aggregation"))
    ]  # fmt: skip
    return 100 * float(chosen[0]) if chosen else float("nan")


def run(data: Path, cache_dir: Path | None) -> list[list[Any]]:
    """One row per featurizer and mode: CV score, test average, fit seconds."""
    train = load_routerdc_split(data, "train")
    test = load_routerdc_split(data, "test")
    rows = []
    for name, featurizer in _candidates(train, test, cache_dir).items():
        for target in ("domain", "quality"):
            router = IR3DERouter(featurizer, target=target)  # type: ignore[arg-type]
            start = time.perf_counter()
            fit_on(router, train)
            seconds = time.perf_counter() - start
            picks, _ = route_columns(router, test)
            rows.append([name, target, _cv_score(router), task_accuracy(test, picks)["average"],
                         seconds])  # fmt: skip
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the RouterDC directory")
    parser.add_argument("--cache-dir", help="keep sentence embeddings here between runs")
    args = parser.parse_args(argv)
    if not Path(args.data).exists():
        print(f"{args.data} not found: pass --data the RouterDC directory", file=sys.stderr)
        return 2
    rows = run(Path(args.data), Path(args.cache_dir) if args.cache_dir else None)
    print("Featurizers with the defaults on RouterDC (chosen by the CV column; test for reference)")
    print(format_table(
        ["featurizer", "mode", "5-fold CV on train (mean observed score %)", "test average %",
         "fit s"], rows,
    ))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
