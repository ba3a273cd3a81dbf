"""`FitSpec`: the one fit path — featurize a part → statistics → sum the parts → solve.

Every fit goes this way: `IR3DERouter.fit` (one part in memory), `partial_fit` and
`add_expert` (the router's statistics plus a new part), the streaming fit (a part per chunk)
and the Dask fit (a part per partition, summed by a tree reduction). A spec holds only what
every part needs — the validated settings and a ready featurizer — and is rebuilt on a Dask
worker from its JSON form.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ir3de_core.data.records import Record
from ir3de_core.decide.policy import RoutingPolicy
from ir3de_core.decide.state import RoutedState
from ir3de_core.featurizers import Featurizer, is_token_featurizer, make_featurizer
from ir3de_core.fit.budget import FitSize, check_fit_memory
from ir3de_core.fit.cross_validation import cross_validate
from ir3de_core.fit.folds import HeldOutSample, fold_ids
from ir3de_core.fit.novelty_threshold import with_novelty_threshold
from ir3de_core.fit.parts import (
    DocumentFrequencies,
    FitPart,
    FoldStatistics,
    ScoreMeans,
    best_single_expert,
    with_idf,
)
from ir3de_core.fit.sums import row_statistics, token_statistics
from ir3de_core.fit.targets import (
    domain_targets,
    record_targets,
    score_matrix,
    validate_expert_map,
)
from ir3de_core.fit.tuning import aggregations, representation, tuned_policy, untuned
from ir3de_core.ridge.kept_rows import KeptRows
from ir3de_core.ridge.solver import solve_statistics
from ir3de_core.ridge.statistics import SufficientStatistics
from ir3de_core.settings import RouterSettings

__all__ = ["FitSpec"]

_MISSING_WARNING = r"left \d+ .*scores out of the fit"


@dataclass(frozen=True, eq=False)
class FitSpec:
    """What every part of a fit shares: validated settings and a ready featurizer.

    Attributes:
        settings: the router's settings.
        featurizer: the featurizer, fitted if it learns from data (TF-IDF weights).
    """

    settings: RouterSettings
    featurizer: Featurizer

    @classmethod
    def prepare(
        cls,
        settings: RouterSettings,
        featurizer: str | dict[str, Any] | Featurizer,
        *,
        prompts: Sequence[str] | None = None,
        frequencies: DocumentFrequencies | None = None,
    ) -> FitSpec:
        """Build the featurizer of `featurizer` (a name, config or instance, never changed) and
        fit it when it learns from data: on `prompts`, or from streamed `frequencies`."""
        built = make_featurizer(featurizer)
        if callable(getattr(built, "fit", None)) and not getattr(built, "is_fitted", True):
            built = make_featurizer(built.get_config())  # a fresh copy: the caller's is untouched
            if frequencies is not None:
                with_idf(built, frequencies)
            elif prompts is not None:
                built.fit(list(prompts))  # type: ignore[attr-defined]
        return cls(settings, built)

    # ------------------------------------------------------------------ parts
    @property
    def uses_tokens(self) -> bool:
        """Whether prompts contribute one row per token (token featurizer, not pooled)."""
        return is_token_featurizer(self.featurizer) and self.settings.aggregation != "pooled"

    def targets(
        self, prompts: Sequence[str], y: Any, known: Sequence[str] | None = None
    ) -> tuple[tuple[str, ...], NDArray[np.float64]]:
        """Group names and targets (n, k) with NaN for "not in this group" (see `targets`)."""
        if self.settings.target == "domain":
            return domain_targets(y, len(prompts), known)
        return score_matrix(y, len(prompts), known, missing=self.settings.missing_scores)

    def statistics(
        self,
        prompts: Sequence[str],
        targets: NDArray[np.float64],
        names: Sequence[str],
        representation: str | None = None,
        *,
        sample_weight: NDArray[np.float64] | None = None,
    ) -> SufficientStatistics:
        """Featurize `prompts` and sum their rows into statistics (targets: (n, k) with NaN),
        as token rows (``"tokens"``) or one row per prompt (``"rows"``; default: the settings'),
        each prompt weighted by `sample_weight` (shape (n,), default 1)."""
        design = self.settings.design
        tokens = self.uses_tokens if representation is None else representation == "tokens"
        if tokens:
            return token_statistics(
                self.featurizer, prompts, targets, names, design=design,
                per_prompt_weight=self.settings.target == "quality", sample_weight=sample_weight,
            )  # fmt: skip
        return row_statistics(
            self.rows(prompts), targets, names, design=design, sample_weight=sample_weight
        )

    def rows(self, prompts: Sequence[str]) -> NDArray[np.float64]:
        """One feature row per prompt: array of shape (n, d), checked finite."""
        features = np.asarray(self.featurizer.transform(list(prompts)), dtype=np.float64)
        if not np.isfinite(features).all():
            msg = "the featurizer gave NaN or inf features; check the prompts and the featurizer"
            raise ValueError(msg)
        return features

    def part(
        self,
        prompts: Sequence[str],
        y: Any,
        *,
        scores: Any = None,
        experts: Sequence[str] | None = None,
        known: Sequence[str] | None = None,
        costs: Any = None,
    ) -> FitPart:
        """The part of n prompts with targets `y` (domain labels, or per-expert scores).

        Args:
            prompts: n prompts.
            y: domain mode: n domain labels; quality mode: per-expert scores (see `fit`).
            scores: domain mode: per-expert scores, summed per domain to learn the expert map.
            experts: names of the score columns when scores are an array.
            known: group names already known, kept first and in order.
            costs: each expert's cost per prompt (same forms as scores), to tune cost-aware
                routing by its held-out cost–quality curve.
        """
        columns = experts if self.settings.target == "quality" else None
        names, targets = self.targets(prompts, y, known if known is not None else columns)
        if not np.any(~np.isnan(targets)):
            msg = "no prompt has a usable target (every score is missing); nothing to fit"
            raise ValueError(msg)
        means, observed = ScoreMeans(), (names, targets)
        if self.settings.target == "domain" and scores is not None:
            observed = score_matrix(scores, len(prompts), experts, missing="ignore")
            means = ScoreMeans.from_arrays(list(y), observed[1], observed[0])
        n_scores = int((~np.isnan(observed[1])).sum()) if scores is not None or columns else 0
        if self.settings.target == "quality":
            n_scores = int((~np.isnan(targets)).sum())
        complete = self.settings.target == "quality" and n_scores == targets.size > 0
        check_fit_memory(self.size(len(prompts), len(names), complete=complete))
        statistics, folds, features = self._sums(prompts, targets, names)
        sample = HeldOutSample()
        if folds:
            labels = list(y) if self.settings.target == "domain" else None
            sample = _sample(prompts, labels, observed if scores is not None or columns or
                             self.settings.target == "quality" else None, costs, features)  # fmt: skip
        return FitPart(statistics, means, n_records=len(prompts), n_scores=n_scores,
                       folds=folds, sample=sample, owned=True)  # fmt: skip

    def size(self, n_prompts: int, n_groups: int, *, complete: bool = False) -> FitSize:
        """The sizes that decide the memory of a fit of `n_prompts` prompts and `n_groups`
        groups with these settings (see `ir3de_core.fit.budget`); `complete`: every group has
        a target on every prompt (quality mode), so small folds are kept as rows."""
        tunes = self.settings.tunes
        ways = aggregations(self.settings, self.featurizer) if tunes else ()
        rows_kept = not self.uses_tokens or any(representation(a) == "rows" for a in ways)
        dual = (
            complete and tunes and set(map(representation, ways)) == {"rows"}
            and self.settings.design == "per_group" and self.settings.intercept == "centered"
            and n_prompts <= self.featurizer.n_features
        )  # fmt: skip
        return FitSize(
            n_prompts, self.featurizer.n_features, n_groups,
            self.settings.cv if tunes else 0, rows_kept, dual,
        )  # fmt: skip

    def _sums(
        self, prompts: Sequence[str], targets: NDArray[np.float64], names: Sequence[str]
    ) -> tuple[
        SufficientStatistics | None,
        dict[str, tuple[FoldStatistics | None, ...]],
        NDArray[np.float64] | None,
    ]:
        """The part's statistics: one total, or (to tune settings) one per fold and way of
        featurizing, with the prompts' feature rows (for the held-out sample) when computed."""
        if not self.settings.tunes:
            return self.statistics(prompts, targets, names), {}, None
        fold = fold_ids(prompts, self.settings.cv)
        per_fold = [np.flatnonzero(fold == f) for f in range(self.settings.cv)]
        folds: dict[str, tuple[FoldStatistics | None, ...]] = {}
        features = None
        for rep in dict.fromkeys(
            representation(a) for a in aggregations(self.settings, self.featurizer)
        ):
            if rep == "rows":  # featurized once, summed fold by fold (or kept: KeptRows)
                features = self.rows(prompts)
                folds[rep] = tuple(
                    KeptRows.of(features[rows], targets[rows], names,
                                design=self.settings.design) if rows.size else None
                    for rows in per_fold
                )  # fmt: skip
            else:
                folds[rep] = tuple(
                    self.statistics([prompts[i] for i in rows.tolist()], targets[rows], names,
                                    rep) if rows.size else None
                    for rows in per_fold
                )  # fmt: skip
        return None, folds, features

    def records_part(self, records: Sequence[Record]) -> FitPart:
        """The part of `records` (a chunk of a stream or a Dask partition).

        Per-chunk "scores left out" warnings are silenced (one per chunk would flood a long
        stream): records never hold NaN scores, an absent expert is simply not scored.
        """
        if not records:
            return FitPart()
        prompts = [r.prompt for r in records]
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_MISSING_WARNING, category=UserWarning)
            names, targets = self.targets(prompts, record_targets(self.settings, records))
            statistics, folds, features = self._sums(prompts, targets, names)
        domain_mode = self.settings.target == "domain"
        means = ScoreMeans.from_records(records) if domain_mode else ScoreMeans()
        n_scores = sum(len(r.scores) for r in records)
        sample = HeldOutSample.of(records, features) if folds else HeldOutSample()
        return FitPart(statistics, means, n_records=len(records), n_scores=n_scores,
                       folds=folds, sample=sample)  # fmt: skip

    # ------------------------------------------------------------------ solving
    def solve(
        self,
        part: FitPart,
        *,
        expert_map: Mapping[str, str] | None = None,
        policy: RoutingPolicy | None = None,
        prior: str | None = None,
    ) -> RoutedState:
        """Solve a complete part into a routed state.

        In domain mode the expert of each domain is, in order: `expert_map`, the ``expert_map``
        setting, the expert with the highest mean score on the domain (when the part has
        scores), else the domain itself.

        Raises:
            ValueError: when the part holds no data.
        """
        if part.folds:
            return self._tuned(part, expert_map, policy)
        stats = part.statistics
        if stats is None or not stats.names or not (stats.weight > 0).any():
            msg = "no records with usable targets to fit on"
            raise ValueError(msg)
        mapping = None
        if self.settings.target == "domain":
            mapping = self._expert_map(stats.names, part.means, expert_map)
        if prior is None:
            prior = best_single_expert(stats, mapping, part.means)
        return self.solve_statistics(stats, mapping, policy=policy, prior=prior)

    def _tuned(
        self,
        part: FitPart,
        expert_map: Mapping[str, str] | None,
        policy: RoutingPolicy | None,
    ) -> RoutedState:
        """Cross-validate the ``"auto"`` settings on the part's folds, then solve all of it."""
        anyone = next((t for t in map(part.total, part.folds) if t is not None), None)
        if anyone is None or not (anyone.weight > 0).any():
            msg = "no records with usable targets to fit on"
            raise ValueError(msg)
        mapping = None
        if self.settings.target == "domain":
            mapping = self._expert_map(anyone.names, part.means, expert_map)
        fewest = int(anyone.n_prompts[anyone.weight > 0].min())
        if fewest < self.settings.cv:  # a fold would hold out a whole group
            result = untuned(self.settings, self.featurizer, fewest)
            totals = part.total(representation(result.aggregation)) or anyone
        else:
            result, totals = cross_validate(self.settings, self.featurizer, part, mapping)
        resolved = FitSpec(
            self.settings.resolved(result.alpha, result.aggregation, result.temperature),
            self.featurizer,
        )
        if (
            fewest >= self.settings.cv
            and self.settings.safe_default == "novelty"
            and not result.no_signal
        ):
            result = with_novelty_threshold(
                result, resolved.settings, self.featurizer, part, mapping
            )
        part.release_folds()  # the fit's own part: its folds' rows go before the final solve
        chosen = tuned_policy(policy or RoutingPolicy(), result, mapping is not None)
        prior = best_single_expert(totals, mapping, part.means)
        state = resolved.solve_statistics(totals, mapping, policy=chosen, prior=prior)
        return state.replace(tuning=result)

    def solve_statistics(
        self,
        statistics: SufficientStatistics,
        expert_map: Mapping[str, str] | None,
        *,
        policy: RoutingPolicy | None = None,
        prior: str | None = None,
    ) -> RoutedState:
        """The routed state of `statistics` (domain mode: with its complete `expert_map`).

        `prior` (the best single expert) defaults to `prior(statistics, expert_map)`.
        """
        if statistics.n_features != self.featurizer.n_features:
            msg = (
                f"the featurizer gives {self.featurizer.n_features} features but the statistics "
                f"have {statistics.n_features}; compute them with the same featurizer settings"
            )
            raise ValueError(msg)
        settings = self.settings
        solution = solve_statistics(
            statistics, alpha=settings.penalty, intercept=settings.intercept,
            balance=settings.balance, normalize=settings.normalizes,
        )  # fmt: skip
        mapping = None if expert_map is None else validate_expert_map(expert_map, statistics.names)
        if prior is None or (mapping is not None and prior not in mapping.values()):
            prior = best_single_expert(statistics, mapping)
        return RoutedState(
            settings, self.featurizer, statistics, solution, mapping,
            policy=policy or RoutingPolicy(), prior=prior,
        )  # fmt: skip

    def new_domains(self, names: Sequence[str]) -> dict[str, str]:
        """Domain → expert for domains without a learned expert: the setting, else itself."""
        given = self.settings.expert_map or {}
        return {g: given.get(g, g) for g in names}

    def _expert_map(
        self, names: Sequence[str], means: ScoreMeans, given: Mapping[str, str] | None
    ) -> dict[str, str]:
        if given is not None:
            return validate_expert_map(given, names)
        if self.settings.expert_map is not None:
            return validate_expert_map(self.settings.expert_map, names)
        if means.any:
            return means.expert_map(names)
        return self.new_domains(names)

    # ------------------------------------------------------------------ JSON (Dask workers)
    def to_json(self) -> dict[str, Any]:
        """Settings and featurizer config; learned featurizer arrays go in `state_arrays`."""
        return {"settings": self.settings.to_json(), "featurizer": self.featurizer.get_config()}

    def state_arrays(self) -> dict[str, NDArray[np.float64]]:
        """The featurizer's learned arrays (e.g. ``{"idf": (d,)}``); empty for most."""
        return dict(getattr(self.featurizer, "state_arrays", dict)())

    @classmethod
    def from_json(
        cls, data: Mapping[str, Any], state: Mapping[str, NDArray[np.float64]] | None = None
    ) -> FitSpec:
        """Inverse of `to_json` and `state_arrays`."""
        featurizer = make_featurizer(dict(data["featurizer"]))
        if state:
            featurizer.load_state_arrays(dict(state))  # type: ignore[attr-defined]
        return cls(RouterSettings.from_params(data["settings"]), featurizer)

    def key(self) -> str:
        """A stable digest of `to_json` (the featurizer's arrays excluded)."""
        return json.dumps(self.to_json(), sort_keys=True)


def _sample(
    prompts: Sequence[str],
    labels: Sequence[str] | None,
    observed: tuple[tuple[str, ...], NDArray[np.float64]] | None,
    costs: Any,
    features: NDArray[np.float64] | None,
) -> HeldOutSample:
    """The held-out sample of an in-memory part (only the kept rows are copied)."""
    names, matrix = observed if observed is not None else ((), None)
    price = None
    if costs is not None:
        price = score_matrix(costs, len(prompts), names, missing="ignore")[1]
    return HeldOutSample.of_arrays(prompts, names, matrix, price, labels, features)
