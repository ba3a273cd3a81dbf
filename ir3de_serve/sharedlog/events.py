"""A feedback event as the shared log keeps it: the feature row, not the prompt.

The origin replica featurizes the completion's text once; every replica folds the same row
(float64, bit for bit) with `IR3DERouter.partial_fit_features`, so no replica calls the
featurizer again (an ``openai`` featurizer's endpoint included) and no prompt is written.
The log is the operator's database, yet a payload is checked like any input before it is folded.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["FeedbackEvent", "decode_event", "encode_event"]

_FORMAT = "ir3de-feedback/1"


@dataclass(frozen=True)
class FeedbackEvent:
    """One accepted event.

    Attributes:
        completion_id: the completion scored.
        expert: the expert that answered (and was scored).
        score: the observed score.
        weight: the weight the origin's guard gave it (in (0, 1]).
        client: the feedback key's id (its budget is charged on every replica).
        origin: the process that accepted it (a random id per gateway start).
        row: array of shape (d,), the text's feature row.
        influence: ``weight × h(row)`` in the origin's router when it accepted the event (≥ 0;
            0: no leverage bound). Every replica charges this, never its own leverage.
    """

    completion_id: str
    expert: str
    score: float
    weight: float
    client: str
    origin: str
    row: NDArray[np.float64]
    influence: float = 0.0


def encode_event(event: FeedbackEvent) -> bytes:
    """The payload appended to the log (JSON; the row as little-endian float64 in base64)."""
    row = np.ascontiguousarray(event.row, dtype="<f8")
    body = {
        "format": _FORMAT,
        "id": event.completion_id,
        "expert": event.expert,
        "score": event.score,
        "weight": event.weight,
        "influence": event.influence,
        "client": event.client,
        "origin": event.origin,
        "row": base64.b64encode(row.tobytes()).decode("ascii"),
    }
    return json.dumps(body, separators=(",", ":")).encode()


def decode_event(payload: bytes, n_features: int) -> FeedbackEvent:
    """The event of `payload`, checked.

    Raises:
        ValueError: not an event of this format, or a row that is not `n_features` finite numbers.
    """
    try:
        body: Any = json.loads(payload)
        raw = base64.b64decode(body["row"], validate=True)
    except (ValueError, KeyError, TypeError) as e:
        msg = f"not a feedback event: {e}"
        raise ValueError(msg) from e
    if not isinstance(body, dict) or body.get("format") != _FORMAT:
        msg = f"not a feedback event of format {_FORMAT!r}"
        raise ValueError(msg)
    if len(raw) != 8 * n_features:
        msg = f"the event's row has {len(raw) // 8} features, the router {n_features}"
        raise ValueError(msg)
    row = np.frombuffer(raw, dtype="<f8").astype(np.float64)
    score: Any = body.get("score")
    weight: Any = body.get("weight")
    influence: Any = body.get("influence", 0.0)  # events logged before the leverage bound: 0
    values = (score, weight, influence)
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    if (
        not numbers
        or not (math.isfinite(score) and 0 < weight <= 1 and 0 <= influence < math.inf)
        or not np.isfinite(row).all()
    ):
        msg = "the event's score, weight, influence or row is not a finite number in range"
        raise ValueError(msg)
    strings: list[Any] = [body.get(k) for k in ("id", "expert", "client", "origin")]
    if not all(isinstance(s, str) for s in strings):
        msg = "the event's id, expert, client or origin is not a string"
        raise ValueError(msg)
    completion_id, expert, client, origin = (str(s) for s in strings)
    return FeedbackEvent(
        completion_id, expert, float(score), float(weight), client, origin, row, float(influence)
    )
