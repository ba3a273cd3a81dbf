"""Benchmark data: RouterDC splits as score matrices, validation splits, a token-id memo."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ir3de_core.data import load_records
from ir3de_core.data.records import Record
from ir3de_core.featurizers import TokenEmbeddingFeaturizer

__all__ = [
    "ROUTERDC_TASKS",
    "MemoTokenFeaturizer",
    "RoutingData",
    "load_routerdc_split",
    "resolve_routerdc_dir",
    "task_accuracy",
    "validation_split",
    "validation_splits",
]

ROUTERDC_TASKS = ("mmlu", "gsm8k", "cmmlu", "arc_challenge", "humaneval")


@dataclass(frozen=True)
class RoutingData:
    """Prompts with every expert's score, in one dense matrix.

    Attributes:
        records: the n source records.
        prompts: the n prompts.
        tasks: array of shape (n,), the task (= domain) of each prompt.
        scores: array of shape (n, k), the score of each expert on each prompt.
        experts: the k expert names, in column order.
    """

    records: list[Record]
    prompts: list[str]
    tasks: NDArray[np.str_]
    scores: NDArray[np.float64]
    experts: tuple[str, ...]

    @classmethod
    def from_records(cls, records: Sequence[Record], experts: Sequence[str]) -> RoutingData:
        """Dense data from records that carry a score for every expert."""
        scores = np.array([[r.scores.get(e, np.nan) for e in experts] for r in records])
        if np.isnan(scores).any():
            msg = "some records miss an expert's score; the benchmark needs complete rows"
            raise ValueError(msg)
        tasks = np.array([r.task or "all" for r in records])
        return cls(list(records), [r.prompt for r in records], tasks, scores, tuple(experts))

    def __len__(self) -> int:
        return len(self.prompts)

    @property
    def task_names(self) -> list[str]:
        """Tasks in benchmark order (RouterDC's order first, then any other, sorted)."""
        present = set(self.tasks.tolist())
        ordered = [t for t in ROUTERDC_TASKS if t in present]
        return ordered + sorted(present - set(ordered))

    def subset(self, index: NDArray[np.intp]) -> RoutingData:
        """The rows in `index` (array of shape (m,))."""
        rows = [int(i) for i in index]
        return RoutingData(
            [self.records[i] for i in rows],
            [self.prompts[i] for i in rows],
            self.tasks[index],
            self.scores[index],
            self.experts,
        )


def resolve_routerdc_dir(data: str | Path) -> Path:
    """The RouterDC directory: `data` itself or `data/routerdc`; FileNotFoundError if absent."""
    path = Path(data)
    for candidate in (path, path / "routerdc"):
        if candidate.is_dir() and any(candidate.glob("*_train.json")):
            return candidate
    msg = (
        f"RouterDC data not found at {path} (expected <task>_train.json and <task>_test.json); "
        "pass --data ../shared/data/routerdc"
    )
    raise FileNotFoundError(msg)


def load_routerdc_split(
    data: str | Path, split: str, *, limit: int | None = None, seed: int = 0
) -> RoutingData:
    """One split of RouterDC; `limit` keeps a seeded random subset of that many prompts per task."""
    records = load_records([resolve_routerdc_dir(data)], format="routerdc", split=split)
    experts = list(dict.fromkeys(e for r in records for e in r.scores))
    full = RoutingData.from_records(records, experts)
    if limit is None:
        return full
    rng = np.random.default_rng(seed)
    keep = [rng.permutation(np.flatnonzero(full.tasks == t))[:limit] for t in full.task_names]
    return full.subset(np.sort(np.concatenate(keep)))


def validation_split(
    data: RoutingData, *, fraction: float = 0.2, seed: int = 0
) -> tuple[RoutingData, RoutingData]:
    """A (fit, validation) split of `data`, stratified by task and seeded."""
    rng = np.random.default_rng(seed)
    held: list[NDArray[np.intp]] = []
    for task in data.task_names:
        rows = rng.permutation(np.flatnonzero(data.tasks == task))
        held.append(rows[: max(1, round(fraction * rows.size))])
    val = np.sort(np.concatenate(held))
    fit = np.setdiff1d(np.arange(len(data)), val)
    return data.subset(fit), data.subset(val)


def validation_splits(
    data: RoutingData, *, folds: int = 1, fraction: float = 0.2, seed: int = 0
) -> list[tuple[RoutingData, RoutingData]]:
    """(fit, validation) pairs carved from `data`: one split (``folds=1``) or k stratified folds."""
    if folds <= 1:
        return [validation_split(data, fraction=fraction, seed=seed)]
    rng = np.random.default_rng(seed)
    fold_of = np.empty(len(data), dtype=np.int64)
    for task in data.task_names:
        rows = rng.permutation(np.flatnonzero(data.tasks == task))
        fold_of[rows] = np.arange(rows.size) % folds
    return [
        (data.subset(np.flatnonzero(fold_of != f)), data.subset(np.flatnonzero(fold_of == f)))
        for f in range(folds)
    ]


def task_accuracy(data: RoutingData, choices: NDArray[np.integer]) -> dict[str, float]:
    """Per-task accuracy (%) of the chosen expert columns, plus ``"average"`` (their plain mean).

    Args:
        data: n prompts with scores.
        choices: array of shape (n,), the chosen expert column of each prompt.
    """
    earned = data.scores[np.arange(len(data)), np.asarray(choices)]
    out = {t: 100 * float(earned[data.tasks == t].mean()) for t in data.task_names}
    out["average"] = float(np.mean(list(out.values())))
    return out


class MemoTokenFeaturizer(TokenEmbeddingFeaturizer):
    """The `tokens` featurizer sharing a memo of each text's full token ids (for tuning grids).

    Not a row cache (`ir3de_core.featurizers.CachedFeaturizer` is that, and refuses token
    featurizers): the rows still come from the table, only tokenization is done once per text.

    Args:
        memo: text → all token ids, shared by featurizers that differ only in truncation.
        **settings: the `TokenEmbeddingFeaturizer` settings.
    """

    def __init__(self, memo: dict[str, NDArray[np.int64]], **settings: Any) -> None:
        super().__init__(**settings)
        self._memo = memo

    def token_ids(self, texts: Sequence[str]) -> list[NDArray[np.int64]]:
        """Token ids of each text after truncation, tokenizing only unseen texts."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._memo))
        if missing:
            encodings = self.tokenizer.encode_batch(missing, add_special_tokens=False)
            for text, encoding in zip(missing, encodings, strict=True):
                self._memo[text] = np.asarray(encoding.ids, dtype=np.int64)
        out = []
        for text in texts:
            ids = self._memo[text]
            if ids.size == 0:
                msg = "a prompt has no tokens the model knows; drop it from the benchmark"
                raise ValueError(msg)
            out.append(ids[self.truncation.keep(ids.size)])
        return out
