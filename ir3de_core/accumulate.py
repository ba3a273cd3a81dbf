"""Fit state that adds up: the single-machine stream, the chunked fit and Dask share these sums.

A chunk of records contributes a `FitPart`: its `SufficientStatistics`, the per-domain sums of
each expert's scores (to learn the domain → expert map without holding the records), and counts.
Parts merge with ``+`` in any grouping, so a tree reduction over many machines gives the same
router as one pass over all records.

Data-dependent featurizer state (the ``hashing`` featurizer's TF-IDF) cannot be learned chunk by
chunk during the statistics pass: the IDF must be known before the first row is featurized. It
is learned in a first pass from `DocumentFrequencies`, which also add up, and gives exactly the
IDF that ``HashingFeaturizer.fit`` computes on all the prompts at once.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ir3de_core.data.records import Record
from ir3de_core.featurizers import Featurizer, HashingFeaturizer, make_featurizer
from ir3de_core.router import IR3DERouter
from ir3de_core.statistics import SufficientStatistics
from ir3de_core.targets import validate_expert_map

__all__ = [
    "DocumentFrequencies",
    "FitPart",
    "ScoreMeans",
    "chunk_part",
    "chunk_router",
    "needs_document_frequencies",
    "ready_featurizer",
    "record_targets",
    "solve_part",
    "update_with_part",
    "with_idf",
]

_MISSING_WARNING = r"left \d+ .*scores out of the fit"


@dataclass(frozen=True, eq=False)
class ScoreMeans:
    """Per-domain sums and counts of every expert's scores; their ratio is the mean score.

    Attributes:
        domains: the k_d domain names, in first-seen order.
        experts: the k_e expert names, in first-seen order.
        sums: array of shape (k_d, k_e), summed scores.
        counts: array of shape (k_d, k_e), number of scores summed.
    """

    domains: tuple[str, ...] = ()
    experts: tuple[str, ...] = ()
    sums: NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, 0)))
    counts: NDArray[np.int64] = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int64))

    @classmethod
    def from_records(cls, records: Sequence[Record]) -> ScoreMeans:
        """Sums of the scores of records that have a domain."""
        labelled = [r for r in records if r.domain is not None and r.scores]
        domains = tuple(dict.fromkeys(r.domain for r in labelled if r.domain is not None))
        experts = tuple(dict.fromkeys(e for r in labelled for e in r.scores))
        sums = np.zeros((len(domains), len(experts)))
        counts = np.zeros((len(domains), len(experts)), dtype=np.int64)
        d_index = {d: i for i, d in enumerate(domains)}
        e_index = {e: j for j, e in enumerate(experts)}
        for record in labelled:
            i = d_index[record.domain]  # type: ignore[index]
            for expert, score in record.scores.items():
                sums[i, e_index[expert]] += score
                counts[i, e_index[expert]] += 1
        return cls(domains, experts, sums, counts)

    def __add__(self, other: ScoreMeans) -> ScoreMeans:
        """Sums over both sets of records (names matched, new names appended)."""
        domains = self.domains + tuple(d for d in other.domains if d not in self.domains)
        experts = self.experts + tuple(e for e in other.experts if e not in self.experts)
        sums = np.zeros((len(domains), len(experts)))
        counts = np.zeros((len(domains), len(experts)), dtype=np.int64)
        for part in (self, other):
            rows = [domains.index(d) for d in part.domains]
            cols = [experts.index(e) for e in part.experts]
            sums[np.ix_(rows, cols)] += part.sums
            counts[np.ix_(rows, cols)] += part.counts
        return ScoreMeans(domains, experts, sums, counts)

    @property
    def any(self) -> bool:
        """Whether any score was seen."""
        return bool(self.counts.sum())

    def expert_map(self, domains: Sequence[str]) -> dict[str, str]:
        """The expert with the highest mean score on each domain (first in order on a tie)."""
        mapping = {}
        for domain in domains:
            if domain not in self.domains or not self.counts[self.domains.index(domain)].any():
                msg = f"no expert has a score on domain {domain!r}; give an expert_map for it"
                raise ValueError(msg)
            i = self.domains.index(domain)
            with np.errstate(invalid="ignore", divide="ignore"):
                means = np.where(self.counts[i] > 0, self.sums[i] / self.counts[i], -np.inf)
            mapping[domain] = self.experts[int(np.argmax(means))]
        return mapping


@dataclass(frozen=True, eq=False)
class FitPart:
    """What a chunk (or a merge of chunks) contributes to a fit.

    Attributes:
        statistics: the chunk's statistics, None for an empty chunk.
        means: per-domain score sums (domain mode; empty in quality mode).
        n_records: records seen.
        n_scores: (record, expert) scores seen.
        n_parts: partitions merged into this part (Dask checks it covers every partition).
    """

    statistics: SufficientStatistics | None = None
    means: ScoreMeans = field(default_factory=ScoreMeans)
    n_records: int = 0
    n_scores: int = 0
    n_parts: int = 1

    def __add__(self, other: FitPart) -> FitPart:
        """The part of both chunks' records."""
        if self.statistics is None or other.statistics is None:
            stats = self.statistics if other.statistics is None else other.statistics
        else:
            stats = self.statistics + other.statistics
        return FitPart(
            statistics=stats,
            means=self.means + other.means,
            n_records=self.n_records + other.n_records,
            n_scores=self.n_scores + other.n_scores,
            n_parts=self.n_parts + other.n_parts,
        )


@dataclass(frozen=True, eq=False)
class DocumentFrequencies:
    """In how many prompts each hashed feature occurs: the sufficient statistic of TF-IDF.

    Attributes:
        n_documents: prompts counted.
        df: array of shape (d,), prompts in which each feature is non-zero.
        n_parts: partitions merged into this value.
    """

    n_documents: int
    df: NDArray[np.int64]
    n_parts: int = 1

    @classmethod
    def from_texts(cls, counter: Featurizer, texts: Sequence[str]) -> DocumentFrequencies:
        """Count with `counter`, the featurizer's TF-IDF-free twin (see `counting_config`)."""
        features = counter.transform(list(texts))
        return cls(len(texts), np.count_nonzero(features, axis=0).astype(np.int64))

    @staticmethod
    def counting_config(featurizer: Featurizer) -> dict[str, Any]:
        """Config of the featurizer with TF-IDF off: same hashing and truncation, raw counts."""
        return {**featurizer.get_config(), "tfidf": False}

    def __add__(self, other: DocumentFrequencies) -> DocumentFrequencies:
        """Frequencies over both sets of prompts."""
        return DocumentFrequencies(
            self.n_documents + other.n_documents, self.df + other.df, self.n_parts + other.n_parts
        )

    def idf(self) -> NDArray[np.float64]:
        """Smoothed IDF, computed as scikit-learn's ``TfidfTransformer.fit``: shape (d,)."""
        df = self.df.astype(np.float64) + 1.0
        idf = np.full_like(df, fill_value=self.n_documents + 1, dtype=np.float64)
        idf /= df
        np.log(idf, out=idf)
        idf += 1.0
        return idf


def needs_document_frequencies(featurizer: Featurizer) -> bool:
    """True for an unfitted TF-IDF hashing featurizer; raise for other unfitted featurizers."""
    if getattr(featurizer, "is_fitted", True):
        return False
    if isinstance(featurizer, HashingFeaturizer):
        return True
    msg = (
        f"the {featurizer.kind!r} featurizer learns state from data and cannot be fitted from "
        "streamed statistics; fit it on a sample first and pass the fitted instance"
    )
    raise ValueError(msg)


def with_idf(featurizer: Featurizer, frequencies: DocumentFrequencies) -> Featurizer:
    """Give an unfitted TF-IDF hashing featurizer the IDF of `frequencies` (in place)."""
    if frequencies.n_documents == 0:
        msg = "no prompts to learn the TF-IDF weights from"
        raise ValueError(msg)
    featurizer.load_state_arrays({"idf": frequencies.idf()})  # type: ignore[attr-defined]
    return featurizer


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


def chunk_router(router: IR3DERouter, featurizer: Featurizer) -> IR3DERouter:
    """An unfitted copy of `router` that featurizes with the ready `featurizer`."""
    params = router.get_params(deep=False)
    params["featurizer"] = featurizer
    return IR3DERouter(**params)


def chunk_part(router: IR3DERouter, records: Sequence[Record]) -> FitPart:
    """The statistics and score sums of one chunk, computed with `router`'s settings.

    `router` must hold a ready featurizer (see `chunk_router`); it is not changed. Per-chunk
    "scores left out" warnings are silenced (one per chunk would flood a long stream): records
    never hold NaN scores, an expert absent from a record is simply not scored on it.
    """
    if not records:
        return FitPart()
    prompts = [r.prompt for r in records]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_MISSING_WARNING, category=UserWarning)
        stats = router.compute_statistics(prompts, record_targets(router, records))
    means = ScoreMeans.from_records(records) if router.target == "domain" else ScoreMeans()
    n_scores = sum(len(r.scores) for r in records)
    return FitPart(stats, means, n_records=len(records), n_scores=n_scores)


def solve_part(router: IR3DERouter, featurizer: Featurizer, part: FitPart) -> IR3DERouter:
    """Fit `router` from a complete part: the same router as ``fit`` on all its records.

    In domain mode without an ``expert_map`` setting, each domain goes to the expert with the
    highest mean score over the domain's prompts, when the records carry scores.
    """
    if part.statistics is None:
        msg = "no records to fit on"
        raise ValueError(msg)
    router.set_params(featurizer=featurizer)
    return router.fit_statistics(part.statistics, expert_map=_domain_map(router, part))


def update_with_part(router: IR3DERouter, part: FitPart) -> IR3DERouter:
    """Add a part to a fitted router and re-solve, as ``router.partial_fit`` would.

    New domains go to the expert named by the ``expert_map`` setting, else to themselves.
    """
    if part.statistics is None:
        return router
    stats = router.statistics_ + part.statistics
    mapping = None
    if router.target == "domain":
        given: Mapping[str, str] = router.expert_map or {}
        new = {g: given.get(g, g) for g in stats.names if g not in router.expert_map_}
        mapping = {**router.expert_map_, **new}
    router.set_params(featurizer=router.featurizer_)
    return router.fit_statistics(stats, expert_map=mapping)


def _domain_map(router: IR3DERouter, part: FitPart) -> dict[str, str] | None:
    if router.target != "domain" or part.statistics is None:
        return None
    names = part.statistics.names
    if router.expert_map is not None:
        return validate_expert_map(router.expert_map, names)
    if part.means.any:
        return part.means.expert_map(names)
    return {g: g for g in names}


def ready_featurizer(router: IR3DERouter) -> Featurizer:
    """Validate `router`'s settings and build its featurizer (not yet fitted)."""
    router._validate_params()
    return make_featurizer(router.featurizer)
