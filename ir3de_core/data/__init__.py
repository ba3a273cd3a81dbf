"""Routing data: the canonical record, loaders for JSONL, RouterDC and RouterBench, cost tables."""

from ir3de_core.data.cost_table import CostTable, DataReport, cost_table
from ir3de_core.data.files import DataError
from ir3de_core.data.loaders import (
    MULTIPLE_CHOICE_TASKS,
    expand_paths,
    iter_jsonl,
    iter_records,
    load_records,
    load_routerbench,
    load_routerdc,
)
from ir3de_core.data.records import Record, scores_table

__all__ = [
    "MULTIPLE_CHOICE_TASKS",
    "CostTable",
    "DataError",
    "DataReport",
    "Record",
    "cost_table",
    "expand_paths",
    "iter_jsonl",
    "iter_records",
    "load_records",
    "load_routerbench",
    "load_routerdc",
    "scores_table",
]
