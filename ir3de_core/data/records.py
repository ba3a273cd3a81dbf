"""The canonical record: one prompt with optional per-expert scores, costs, domain and task."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ir3de_core.data.files import DataError, short

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
        """Validate a canonical JSON object (``prompt``, ``scores``, ``costs``, ``domain``, ``task``).

        Raises:
            DataError: a field is missing or malformed; the message starts with `where`
                (e.g. ``file:line``) and names the field.
        """
        if "prompt" not in obj:
            msg = f"{where}: no 'prompt' field; every record needs a non-empty 'prompt' string"
            raise DataError(msg)
        prompt = obj["prompt"]
        if not isinstance(prompt, str) or not prompt.strip():
            msg = f"{where}: 'prompt' must be a non-empty string, got {short(prompt)}"
            raise DataError(msg)
        _check_text(prompt, f"{where}: 'prompt'")
        return cls(
            prompt=prompt,
            scores=_numbers(obj.get("scores"), f"{where}: scores"),
            costs=_numbers(obj.get("costs"), f"{where}: costs"),
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
    """``{expert: number}`` with None and NaN left out (missing, never zero); None is ``{}``."""
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        msg = f"{where} must be an object {{expert: number}}, got {type(values).__name__}"
        raise DataError(msg)
    out = {}
    for key, value in values.items():
        name = str(key)
        if not name.strip() or "\ufeff" in name:
            msg = (
                f"{where} has an empty expert name {name!r} (blank, or a stray byte-order "
                "mark); name every expert"
            )
            raise DataError(msg)
        _check_text(name, f"{where}: expert name")
        if value is None:
            continue  # missing: left out, never turned into zero
        if isinstance(value, bool) or not isinstance(value, int | float):
            msg = f"{where}[{short(name)}] = {short(value)} is not a number; use null if missing"
            raise DataError(msg)
        number = float(value) if isinstance(value, float) else _int_to_float(value)
        if math.isnan(number):
            continue
        if math.isinf(number):
            msg = f"{where}[{short(name)}] is infinite; use a finite number, or null if missing"
            raise DataError(msg)
        out[name] = number
    return out


def _int_to_float(value: int) -> float:
    """`value` as a float; an integer beyond the float range becomes infinite (refused above)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _label(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        msg = f"{where} must be a non-empty string, got {short(value)}"
        raise DataError(msg)
    _check_text(value, where)
    return value


def _check_text(text: str, where: str) -> None:
    """Refuse unpaired surrogates (JSON ``"\\ud800"``): they cannot be featurized or saved."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:
            msg = (
                f"{where} holds an unpaired surrogate {text[e.start]!r} at character {e.start}; "
                "write the character itself, or its full surrogate pair"
            )
            raise DataError(msg) from None


def scores_table(records: Iterable[Record]) -> tuple[list[str], list[dict[str, float]]]:
    """Expert names (first-seen order) and each record's scores, for `IR3DERouter.fit`."""
    rows = [dict(r.scores) for r in records]
    experts = list(dict.fromkeys(e for row in rows for e in row))
    return experts, rows
