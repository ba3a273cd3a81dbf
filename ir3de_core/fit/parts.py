"""What a part of the data contributes to a fit: sums that merge in any grouping.

A part of the prompts contributes a `FitPart`: its `SufficientStatistics`, the per-domain sums of
each expert's scores (to learn the domain → expert map without holding the records), and counts.
Parts merge with ``+`` in any grouping, so one pass in memory, a stream of chunks and a tree
reduction over many machines give the same router.

Data-dependent featurizer state (the ``hashing`` featurizer's TF-IDF) cannot be learned chunk by
chunk during the statistics pass: the IDF must be known before the first row is featurized. It
is learned in a first pass from `DocumentFrequencies`, which also add up, and gives exactly the
IDF that ``HashingFeaturizer.fit`` computes on all the prompts at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ir3de_core.data.records import Record
from ir3de_core.featurizers import Featurizer, HashingFeaturizer
from ir3de_core.fit.folds import HeldOutSample
from ir3de_core.ridge.combine import total_of
from ir3de_core.ridge.kept_rows import KeptRows
from ir3de_core.ridge.statistics import SufficientStatistics

__all__ = [
    "DocumentFrequencies",
    "FitPart",
    "FoldStatistics",
    "ScoreMeans",
    "best_single_expert",
    "needs_document_frequencies",
    "with_idf",
]


FoldStatistics = SufficientStatistics | KeptRows
"""A fold's statistics, or (fewer prompts than features) its rows and targets."""


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
        experts = tuple(dict.fromkeys(e for r in labelled for e in r.scores))
        matrix = np.full((len(labelled), len(experts)), np.nan)
        for i, record in enumerate(labelled):
            for expert, score in record.scores.items():
                matrix[i, experts.index(expert)] = score
        return cls.from_arrays([str(r.domain) for r in labelled], matrix, experts)

    @classmethod
    def from_arrays(
        cls, domains: Sequence[str], scores: NDArray[np.float64], experts: Sequence[str]
    ) -> ScoreMeans:
        """Sums of per-expert scores by domain.

        Args:
            domains: n domain labels.
            scores: array of shape (n, k), NaN where an expert is not scored.
            experts: the k expert names.
        """
        names = tuple(dict.fromkeys(domains))
        index = np.array([names.index(d) for d in domains], dtype=np.intp)
        present = ~np.isnan(scores)
        sums = np.zeros((len(names), len(experts)))
        counts = np.zeros((len(names), len(experts)), dtype=np.int64)
        np.add.at(sums, index, np.where(present, scores, 0.0))
        np.add.at(counts, index, present.astype(np.int64))
        return cls(names, tuple(experts), sums, counts)

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

    def best_overall(self) -> str | None:
        """The expert with the highest mean score over every scored prompt (None: no scores)."""
        counts = self.counts.sum(axis=0)
        if not counts.any():
            return None
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(counts > 0, self.sums.sum(axis=0) / counts, -np.inf)
        return self.experts[int(np.argmax(means))]


@dataclass(frozen=True, eq=False)
class FitPart:
    """What a chunk (or a merge of chunks) contributes to a fit.

    A fit with settings to tune by cross-validation (``alpha="auto"``, ``aggregation="auto"``)
    keeps, instead of one total, the statistics of each fold for each way of featurizing
    (``"tokens"``: a row per token; ``"rows"``: a row per prompt) and a held-out sample of the
    records to score the candidates on. Every field adds up.

    Attributes:
        statistics: the chunk's statistics, None for an empty chunk or a tuned fit.
        means: per-domain score sums (domain mode; empty in quality mode).
        n_records: records seen.
        n_scores: (record, expert) scores seen.
        n_parts: partitions merged into this part (Dask checks it covers every partition).
        folds: representation → per-fold statistics (tuned fits only); a fold of fewer
            prompts than features may be kept as its rows (`KeptRows`).
        sample: the held-out sample of the records (tuned fits only).
        owned: whether the fit that solves this part made it (`FitSpec.part`, used by
            `IR3DERouter.fit`): the folds, whose rows may be n × d numbers, are then dropped
            once the settings are chosen, before the final solve (`release_folds`). Parts of
            records (streams, Dask) and sums of parts are not owned: solving keeps them whole.
    """

    statistics: SufficientStatistics | None = None
    means: ScoreMeans = field(default_factory=ScoreMeans)
    n_records: int = 0
    n_scores: int = 0
    n_parts: int = 1
    folds: dict[str, tuple[FoldStatistics | None, ...]] = field(default_factory=dict)
    sample: HeldOutSample = field(default_factory=HeldOutSample)
    owned: bool = False
    _totals: dict[str, SufficientStatistics | None] = field(
        default_factory=dict, init=False, repr=False
    )

    def __add__(self, other: FitPart) -> FitPart:
        """The part of both chunks' records."""
        folds = dict(self.folds)
        for key, theirs in other.folds.items():
            mine = folds.get(key)
            folds[key] = theirs if mine is None else tuple(
                _added(a, b) for a, b in zip(mine, theirs, strict=True)
            )  # fmt: skip
        return FitPart(
            statistics=_summed(self.statistics, other.statistics),
            means=self.means + other.means,
            n_records=self.n_records + other.n_records,
            n_scores=self.n_scores + other.n_scores,
            n_parts=self.n_parts + other.n_parts,
            folds=folds,
            sample=self.sample + other.sample,
        )

    def release_folds(self) -> None:
        """Drop the folds when the fit owns this part (their totals, summed already, stay)."""
        if self.owned:
            for representation in self.folds:
                self.total(representation)
            self.folds.clear()

    def total(self, representation: str) -> SufficientStatistics | None:
        """The statistics of every fold of one representation together (summed once per
        part: a part is immutable, and its total is needed by the choice and the refit)."""
        if representation not in self._totals:
            self._totals[representation] = total_of(self.folds.get(representation, ()))
        return self._totals[representation]


def _summed(
    a: SufficientStatistics | None, b: SufficientStatistics | None
) -> SufficientStatistics | None:
    if a is None or b is None:
        return a if b is None else b
    return a + b


def _added(a: FoldStatistics | None, b: FoldStatistics | None) -> FoldStatistics | None:
    if a is None or b is None:
        return a if b is None else b
    return a + b


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


def best_single_expert(
    statistics: SufficientStatistics,
    expert_map: Mapping[str, str] | None,
    means: ScoreMeans | None = None,
) -> str | None:
    """The best expert without looking at the prompt: the highest mean score (quality mode, or
    domain mode with score `means`), else the expert of the domain with the most prompts."""
    if not statistics.names:
        return None
    if expert_map is None:
        mean_y = np.where(statistics.weight > 0, statistics.mean_y, -np.inf)
        return statistics.names[int(np.argmax(mean_y))]
    best = means.best_overall() if means is not None else None
    if best is not None and best in set(expert_map.values()):
        return best
    return expert_map[statistics.names[int(np.argmax(statistics.n_prompts))]]
