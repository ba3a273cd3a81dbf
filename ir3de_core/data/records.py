"""The canonical record: one prompt with optional per-expert scores, costs, domain and task."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Record", "scores_table"]


@dataclass(frozen=True)
class Record:
    """One prompt of a routing data set.

    Attributes:
        prompt: the text routed.
        scores: expert → observed quality (higher is better); absent experts are unscored.
        costs: expert → cost of answering this prompt (e.g. USD).
        domain: the prompt's domain label, when known.
        task: the benchmark task the prompt belongs to, when known.
    """

    prompt: str
    scores: Mapping[str, float] = field(default_factory=dict)
    costs: Mapping[str, float] = field(default_factory=dict)
    domain: str | None = None
    task: str | None = None

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any], where: str = "record") -> Record:
        """Validate a canonical JSON object (``prompt``, ``scores``, ``costs``, ``domain``, ``task``)."""
        prompt = obj.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            msg = f"{where}: 'prompt' must be a non-empty string, got {prompt!r}"
            raise ValueError(msg)
        return cls(
            prompt=prompt,
            scores=_numbers(obj.get("scores") or {}, f"{where}: scores"),
            costs=_numbers(obj.get("costs") or {}, f"{where}: costs"),
            domain=_label(obj.get("domain"), f"{where}: domain"),
            task=_label(obj.get("task"), f"{where}: task"),
        )

    def to_dict(self) -> dict[str, Any]:
        """The canonical JSON object of this record."""
        out: dict[str, Any] = {"prompt": self.prompt}
        if self.scores:
            out["scores"] = dict(self.scores)
        if self.costs:
            out["costs"] = dict(self.costs)
        if self.domain is not None:
            out["domain"] = self.domain
        if self.task is not None:
            out["task"] = self.task
        return out


def _numbers(values: Any, where: str) -> dict[str, float]:
    if not isinstance(values, Mapping):
        msg = f"{where} must be an object {{expert: number}}, got {type(values).__name__}"
        raise ValueError(msg)
    out = {}
    for key, value in values.items():
        if value is None:
            continue  # missing: left out, never turned into zero
        if isinstance(value, bool) or not isinstance(value, int | float):
            msg = f"{where}[{key!r}] = {value!r} is not a number"
            raise ValueError(msg)
        if math.isnan(value):
            continue
        if math.isinf(value):
            msg = f"{where}[{key!r}] is infinite"
            raise ValueError(msg)
        out[str(key)] = float(value)
    return out


def _label(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        msg = f"{where} must be a non-empty string, got {value!r}"
        raise ValueError(msg)
    return value


def scores_table(records: Iterable[Record]) -> tuple[list[str], list[dict[str, float]]]:
    """Expert names (first-seen order) and each record's scores, for `IR3DERouter.fit`."""
    rows = [dict(r.scores) for r in records]
    experts = list(dict.fromkeys(e for row in rows for e in row))
    return experts, rows
