"""IR3DESelector vs LlamaIndex's EmbeddingSingleSelector on the same labelled set and embedding.

Both selectors see the same five choices (name + description) and the same embedding model
(all-MiniLM-L6-v2 through the core's SentenceFeaturizer); IR3DESelector also learns from five
example queries per choice. Accuracy is on 30 held-out labelled queries; latency is per
``select`` call on queries seen for the first time, after one warm-up call (which for
IR3DESelector trains the router; reported as setup).

    .venv/bin/python -m benchmarks.llamaindex_selector [--featurizer sentence] [--repeat 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from llama_index.core.base.base_selector import BaseSelector
from llama_index.core.selectors import EmbeddingSingleSelector
from llama_index.core.tools.types import ToolMetadata

from ir3de_core.featurizers import Featurizer, make_featurizer
from ir3de_llamaindex import IR3DEEmbedding, IR3DESelector
from tests.llamaindex.corpus import DESCRIPTIONS, EXAMPLES, LABELLED_QUERIES


@dataclass(frozen=True)
class Row:
    """One selector's accuracy and per-query latency (unseen queries, then the same again)."""

    name: str
    accuracy: float
    p50_ms: float
    p99_ms: float
    repeat_p50_ms: float
    setup_s: float


def evaluate(
    name: str,
    selector: BaseSelector,
    choices: Sequence[ToolMetadata],
    labelled: Sequence[tuple[str, str]],
    repeat: int = 1,
) -> Row:
    """Accuracy and latency of `selector` on the first pass; latency of `repeat` more passes.

    The first pass sees every query for the first time (IR3DESelector caches the rows of texts
    it has seen, so later passes measure that cache, reported apart).
    """
    start = time.perf_counter()
    selector.select(choices, "warm-up query")  # trains IR3DESelector's router
    setup = time.perf_counter() - start
    names = [c.name for c in choices]
    first, again, correct = [], [], 0
    for rep in range(1 + repeat):
        for query, label in labelled:
            start = time.perf_counter()
            result = selector.select(choices, query)
            (first if rep == 0 else again).append(time.perf_counter() - start)
            correct += rep == 0 and names[result.ind] == label
    p50, p99 = np.percentile(np.array(first) * 1000, [50, 99])
    repeat_p50 = float(np.percentile(np.array(again) * 1000, 50)) if again else float("nan")
    return Row(name, correct / len(labelled), float(p50), float(p99), repeat_p50, setup)


def run(featurizer: Featurizer, repeat: int = 2) -> list[Row]:
    """Compare the selectors on the corpus with one shared featurizer instance."""
    choices = [ToolMetadata(name=n, description=d) for n, d in DESCRIPTIONS.items()]
    featurizer.transform(["load the model before timing"])
    selectors: dict[str, BaseSelector] = {
        "EmbeddingSingleSelector (descriptions)": EmbeddingSingleSelector.from_defaults(
            embed_model=IR3DEEmbedding(featurizer)
        ),
        "IR3DESelector (descriptions only)": IR3DESelector(featurizer=featurizer),
        "IR3DESelector (5 examples/choice)": IR3DESelector(
            examples=EXAMPLES, featurizer=featurizer
        ),
    }
    return [
        evaluate(name, selector, choices, LABELLED_QUERIES, repeat)
        for name, selector in selectors.items()
    ]


def format_table(rows: Sequence[Row], n_queries: int) -> str:
    """A plain-text table of the rows."""
    header = (
        f"{'selector':<40} {'accuracy':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'repeat p50 ms':>14} {'setup s':>8}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r.name:<40} {r.accuracy:>9.3f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} "
            f"{r.repeat_p50_ms:>14.2f} {r.setup_s:>8.2f}"
        )
    lines.append(
        f"({n_queries} labelled queries, 5 choices; p50/p99 over unseen queries, repeat p50 over "
        "the same queries asked again)"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run the comparison and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--featurizer", default="sentence", help="sentence (default) or hashing")
    parser.add_argument("--repeat", type=int, default=2, help="extra passes (repeat p50)")
    parser.add_argument("--threads", type=int, default=1, help="torch/BLAS threads (0: default)")
    args = parser.parse_args(argv)
    _limit_threads(args.threads)
    spec: Any = {"kind": "hashing", "tfidf": False} if args.featurizer == "hashing" else "sentence"
    featurizer = make_featurizer(spec)
    rows = run(featurizer, repeat=args.repeat)
    print(f"featurizer: {featurizer.get_config()}  threads: {args.threads or 'default'}")
    print(format_table(rows, len(LABELLED_QUERIES)))
    return 0


def _limit_threads(threads: int) -> None:
    if threads <= 0:
        return
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(threads)


if __name__ == "__main__":
    raise SystemExit(main())
