"""Helpers of the reliability tier: what every reader promises of a record."""

from __future__ import annotations

import math

from ir3de_core.data import Record

BOM = b"\xef\xbb\xbf"


def assert_valid_record(record: Record) -> None:
    """What every reader promises of a record it yields."""
    assert isinstance(record, Record)
    assert isinstance(record.prompt, str) and record.prompt.strip()
    record.prompt.encode("utf-8")  # featurizable and savable: no unpaired surrogate
    for values in (record.scores, record.costs):
        for expert, value in values.items():
            assert isinstance(expert, str) and expert.strip() and "\ufeff" not in expert
            assert isinstance(value, float) and math.isfinite(value)
    for label in (record.domain, record.task):
        assert label is None or (isinstance(label, str) and label)
