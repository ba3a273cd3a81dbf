"""Fitting a router from records in chunks, with a progress bar (the CLI's and the scripts' path)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tqdm.auto import tqdm

from ir3de_core.data.records import Record, scores_table
from ir3de_core.router import IR3DERouter
from ir3de_core.targets import domain_targets, learn_expert_map, score_matrix

__all__ = ["fit_records", "record_targets"]


def record_targets(router: IR3DERouter, records: Sequence[Record]) -> list[Any]:
    """The `y` that `router.fit` expects for `records`: domain labels or per-expert scores."""
    if router.target == "domain":
        unlabelled = [i for i, r in enumerate(records) if r.domain is None]
        if unlabelled:
            msg = (
                f"{len(unlabelled)} records have no 'domain' (first: #{unlabelled[0]}); domain mode "
                "needs one per record — add it, or fit with target='quality'"
            )
            raise ValueError(msg)
        return [r.domain for r in records]
    return [dict(r.scores) for r in records]


def fit_records(
    router: IR3DERouter,
    records: Sequence[Record],
    *,
    chunk_size: int = 4096,
    progress: bool = True,
) -> IR3DERouter:
    """Fit `router` on `records` chunk by chunk (statistics add up, so this equals one fit).

    In domain mode without an explicit ``expert_map``, the expert of each domain is learned from
    the records' scores when they have any.
    """
    if not records:
        msg = "no records to fit on"
        raise ValueError(msg)
    prompts = [r.prompt for r in records]
    featurizer = router._prepare_featurizer(prompts)
    y = record_targets(router, records)
    if router.target == "domain" and router.expert_map is None and any(r.scores for r in records):
        router.set_params(expert_map=_learned_map(records, y))
    router.set_params(featurizer=featurizer)
    bar = tqdm(total=len(records), unit="prompt", desc="fit", disable=not progress)
    router.fit(prompts[:chunk_size], y[:chunk_size])
    bar.update(min(chunk_size, len(records)))
    for start in range(chunk_size, len(records), chunk_size):
        router.partial_fit(prompts[start : start + chunk_size], y[start : start + chunk_size])
        bar.update(len(prompts[start : start + chunk_size]))
    bar.close()
    return router


def _learned_map(records: Sequence[Record], labels: list[Any]) -> dict[str, str]:
    groups, targets = domain_targets(labels, len(records))
    experts, rows = scores_table(records)
    names, matrix = score_matrix(rows, len(records), experts, missing="ignore")
    return learn_expert_map(targets, groups, matrix, names)
