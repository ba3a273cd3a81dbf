"""Fitting on a Dask cluster: statistics per partition, summed by a tree reduction, solved once.

Needs the ``dask`` extra (``pip install 'ir3de[dask]'``). The records are a Dask bag (of JSON
lines, dicts or `Record`s), a Dask DataFrame, or JSONL paths / fsspec URLs read with
``dask.bag.read_text``. Each task receives only the router settings and the featurizer config
(plus the TF-IDF weights of a ``hashing`` featurizer, d floats); the featurizer itself (tokenizer
and embedding table) is built once per worker process and kept in a worker-local cache.

Because statistics are sums, the reduced statistics equal those of one pass over all records,
and the router equals the single-machine fit (up to float rounding of the sums). A worker that
dies mid-run loses only its unfinished partitions, which Dask recomputes elsewhere; when a task
keeps killing workers Dask gives up and `DistributedFitError` is raised: partial statistics are
never solved. As a last guard the reduced part must cover every partition.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ir3de_core._optional import require
from ir3de_core.data.files import parse_json
from ir3de_core.data.records import Record
from ir3de_core.exceptions import IR3DEError
from ir3de_core.featurizers import make_featurizer
from ir3de_core.fit.parts import DocumentFrequencies, FitPart, needs_document_frequencies
from ir3de_core.fit.spec import FitSpec
from ir3de_core.router import IR3DERouter

__all__ = [
    "DistributedFitError",
    "WorkerSpec",
    "dask_client",
    "fit",
    "fit_part",
    "partial_fit",
    "read_records",
    "records_bag",
]


class DistributedFitError(IR3DEError, RuntimeError):
    """The cluster lost work it could not recompute; no statistics were used."""


def _require_dask() -> Any:
    return require("dask.bag", "dask"), require("distributed", "dask")


# ================================================================== worker side
@dataclass(frozen=True, eq=False)
class WorkerSpec:
    """What a task needs to rebuild the `FitSpec` on a worker: JSON and a few arrays.

    Attributes:
        spec: `FitSpec.to_json()` as a string (settings and featurizer config).
        state: the featurizer's learned arrays, e.g. ``{"idf": (d,)}``; empty for most.
        score_columns: DataFrame columns holding per-expert scores (None: a ``scores`` column).
    """

    spec: str
    state: dict[str, NDArray[np.float64]] = field(default_factory=dict)
    score_columns: tuple[str, ...] | None = None

    @classmethod
    def of(cls, spec: FitSpec, score_columns: Sequence[str] | None) -> WorkerSpec:
        """The worker form of `spec`."""
        columns = tuple(score_columns) if score_columns is not None else None
        return cls(json.dumps(spec.to_json(), sort_keys=True), spec.state_arrays(), columns)

    @property
    def key(self) -> str:
        """A digest of the settings and state: the worker cache key."""
        digest = hashlib.sha256(self.spec.encode())
        for name in sorted(self.state):
            digest.update(name.encode() + np.ascontiguousarray(self.state[name]).tobytes())
        return digest.hexdigest()

    def build(self) -> FitSpec:
        """The `FitSpec`, with the featurizer rebuilt from its config and state."""
        return FitSpec.from_json(json.loads(self.spec), self.state)


_CACHE: dict[str, FitSpec] = {}
_LOCK = threading.Lock()


def _worker_spec(spec: WorkerSpec) -> FitSpec:
    """The `FitSpec` of `spec` in this worker process, built on first use."""
    key = spec.key
    with _LOCK:
        built = _CACHE.get(key)
        if built is None:
            if len(_CACHE) >= 4:
                _CACHE.clear()
            built = _CACHE[key] = spec.build()
    return built


def _as_record(item: Any, score_columns: tuple[str, ...] | None) -> Record:
    if isinstance(item, Record):
        return item
    if isinstance(item, bytes):
        item = item.decode("utf-8")
    if isinstance(item, str):  # a JSON line; the first line of a file may carry a UTF-8 BOM
        item = parse_json(item.removeprefix("\ufeff"), "a JSON line of the Dask input")
    if not isinstance(item, dict):
        msg = f"expected records as JSON lines, dicts or Record, got {type(item).__name__}"
        raise TypeError(msg)
    obj = {k: _missing_to_none(v) for k, v in item.items()}
    if score_columns is not None:
        obj["scores"] = {c: obj.get(c) for c in score_columns}
    return Record.from_dict(obj, where="dask record")


def _missing_to_none(value: Any) -> Any:
    """NaN and pandas' NA (missing DataFrame cells) become None."""
    if isinstance(value, float) and math.isnan(value):
        return None
    return None if type(value).__name__ in ("NAType", "NaTType") else value


def _records(items: Iterable[Any], spec: WorkerSpec) -> list[Record]:
    blank = (str, bytes)
    return [
        _as_record(item, spec.score_columns)
        for item in items
        if not (isinstance(item, blank) and not item.strip())
    ]


def _partition_part(items: Iterable[Any], spec: WorkerSpec) -> list[FitPart]:
    """One partition's `FitPart` (exactly one per partition, empty ones included)."""
    records = _records(items, spec)
    return [_worker_spec(spec).records_part(records) if records else FitPart()]


def _partition_frequencies(items: Iterable[Any], spec: WorkerSpec) -> list[DocumentFrequencies]:
    """One partition's document frequencies; `spec` holds the counting (TF-IDF-free) featurizer."""
    prompts = [r.prompt for r in _records(items, spec)]
    counter = _worker_spec(spec).featurizer
    if not prompts:
        return [DocumentFrequencies(0, np.zeros(counter.n_features, dtype=np.int64))]
    return [DocumentFrequencies.from_texts(counter, prompts)]


def _sum(values: Iterable[Any]) -> Any:
    iterator = iter(values)
    total = next(iterator)
    for value in iterator:
        total = total + value
    return total


# ================================================================== driver side
def read_records(urlpath: str | Sequence[str], *, blocksize: str | int | None = "64MiB") -> Any:
    """A Dask bag of the JSON lines of canonical JSONL files (local paths or fsspec URLs).

    Args:
        urlpath: a path, a glob (``"s3://logs/2026-*.jsonl"``) or a list of them.
        blocksize: bytes per partition (None: one partition per file, e.g. for compressed files).
    """
    db, _ = _require_dask()
    return db.read_text(urlpath, blocksize=blocksize)


def records_bag(data: Any, *, blocksize: str | int | None = "64MiB") -> Any:
    """A Dask bag of records from a bag, a Dask DataFrame, or JSONL paths / URLs."""
    db, _ = _require_dask()
    if isinstance(data, str) or (
        isinstance(data, Sequence) and data and all(isinstance(p, str) for p in data)
    ):
        return read_records(data, blocksize=blocksize)
    if isinstance(data, db.Bag):
        return data
    if hasattr(data, "to_bag") and hasattr(data, "columns"):
        return data.to_bag(index=False, format="dict")
    msg = f"expected a Dask bag, a Dask DataFrame or JSONL paths, got {type(data).__name__}"
    raise TypeError(msg)


def fit(
    router: IR3DERouter,
    data: Any,
    *,
    client: Any = None,
    split_every: int = 8,
    blocksize: str | int | None = "64MiB",
    score_columns: Sequence[str] | None = None,
    progress: bool = True,
) -> IR3DERouter:
    """Fit `router` on records spread over a Dask cluster; equals ``fit`` on all the records.

    Args:
        router: the router to fit, in place.
        data: a Dask bag (of JSON lines, dicts or `Record`s), a Dask DataFrame (columns
            ``prompt``, optional ``domain``/``task``, and ``scores`` or `score_columns`), or JSONL
            paths / fsspec URLs.
        client: a ``distributed.Client``; None uses the default client, else Dask's local scheduler.
        split_every: partitions summed per task of the tree reduction.
        blocksize: bytes per partition when reading paths.
        score_columns: DataFrame columns holding each expert's score (NaN: not scored).
        progress: show a progress bar.

    A TF-IDF ``hashing`` featurizer that is not yet fitted costs a first pass over the data to
    count document frequencies; pass a fitted featurizer instance to skip it.
    """
    spec, part = fit_part(router, data, client=client, split_every=split_every,
                          blocksize=blocksize, score_columns=score_columns,
                          progress=progress)  # fmt: skip
    return router.fit_part(part, spec)


def fit_part(
    router: IR3DERouter,
    data: Any,
    *,
    client: Any = None,
    split_every: int = 8,
    blocksize: str | int | None = "64MiB",
    score_columns: Sequence[str] | None = None,
    progress: bool = True,
) -> tuple[FitSpec, FitPart]:
    """The `FitSpec` and the reduced `FitPart` of `data`, without solving (see `fit`).

    ``router.fit_part(part, spec)`` with ``spec, part = fit_part(router, data)`` is `fit`;
    the part also counts the records.
    """
    bag = records_bag(data, blocksize=blocksize)
    spec = router.fit_spec()
    if needs_document_frequencies(spec.featurizer):
        counter = make_featurizer(DocumentFrequencies.counting_config(spec.featurizer))
        counting = WorkerSpec.of(FitSpec(spec.settings, counter), score_columns)
        frequencies = _reduce(bag, _partition_frequencies, counting, client, split_every, progress)
        spec = router.fit_spec(frequencies=frequencies)
    worker = WorkerSpec.of(spec, score_columns)
    return spec, _reduce(bag, _partition_part, worker, client, split_every, progress)


def partial_fit(
    router: IR3DERouter,
    data: Any,
    *,
    client: Any = None,
    split_every: int = 8,
    blocksize: str | int | None = "64MiB",
    score_columns: Sequence[str] | None = None,
    progress: bool = True,
) -> IR3DERouter:
    """Add the records of `data` to a fitted router and re-solve (fits when not fitted yet).

    The arguments are those of `fit`; the router keeps its featurizer (and TF-IDF weights).
    """
    if not hasattr(router, "statistics_"):
        return fit(router, data, client=client, split_every=split_every, blocksize=blocksize,
                   score_columns=score_columns, progress=progress)  # fmt: skip
    bag = records_bag(data, blocksize=blocksize)
    spec = router.update_spec()  # every "auto" resolved; no threshold is re-chosen either,
    untuned = replace(spec, settings=replace(spec.settings, safe_default=False))
    worker = WorkerSpec.of(untuned, score_columns)  # so workers sum plain statistics, no folds
    part = _reduce(bag, _partition_part, worker, client, split_every, progress)
    return router.add_part(part)


@contextlib.contextmanager
def dask_client(address: str | None = None, *, n_workers: int | None = None) -> Iterator[Any]:
    """A client of the scheduler at `address`, or of a new loopback `LocalCluster`.

    Args:
        address: scheduler address, e.g. ``tcp://10.0.0.5:8786``.
        n_workers: without an address, start this many one-thread worker processes.
    """
    _, distributed = _require_dask()
    if address is not None:
        with distributed.Client(address) as client:
            yield client
        return
    cluster = distributed.LocalCluster(
        n_workers=n_workers or 1, threads_per_worker=1, processes=True,
        host="127.0.0.1", dashboard_address=":0",
    )  # fmt: skip
    with cluster, distributed.Client(cluster) as client:
        yield client


def _reduce(
    bag: Any, function: Any, spec: WorkerSpec, client: Any, split_every: int, progress: bool
) -> Any:
    """Map `function` over the partitions, sum the results with a tree reduction, check it."""
    if split_every < 2:
        msg = f"split_every must be ≥ 2, got {split_every}"
        raise ValueError(msg)
    parts = bag.map_partitions(partial(function, spec=spec))
    total = parts.reduction(_sum, _sum, split_every=split_every, name=function.__name__[1:])
    value = _compute(total, client, progress)
    if value.n_parts != bag.npartitions:
        msg = (
            f"the reduction covered {value.n_parts} of {bag.npartitions} partitions; "
            "refusing to solve partial statistics"
        )
        raise DistributedFitError(msg)
    return value


def _compute(item: Any, client: Any, progress: bool) -> Any:
    _, distributed = _require_dask()
    if client is None:
        with contextlib.suppress(ValueError):
            client = distributed.default_client()
    if client is None:
        from dask.diagnostics import ProgressBar

        with ProgressBar() if progress else contextlib.nullcontext():
            return item.compute()
    future = client.compute(item)
    try:
        if progress:
            distributed.progress(future)
        return future.result()
    except distributed.KilledWorker as e:
        msg = (
            f"a task kept killing Dask workers ({e}); the fit was abandoned and no partial "
            "statistics were used: check worker memory and logs, then rerun"
        )
        raise DistributedFitError(msg) from e
    finally:
        future.release()
