"""What `IR3DESelector` returns: every choice's numbers, and the selections a decision makes."""

from __future__ import annotations

from collections.abc import Sequence

from llama_index.core.base.base_selector import SelectorResult, SingleSelection
from llama_index.core.bridge.pydantic import model_validator

from ir3de_core import RoutingDecision
from ir3de_core.decide.decision import Rule

__all__ = ["IR3DESelectorResult", "NoChoiceError", "selection_result"]


class IR3DESelectorResult(SelectorResult):
    """A selection that also carries every choice's score and the rule that chose it.

    Attributes:
        selections: the chosen choices, the policy's decision first (``inds``/``reasons`` as in
            LlamaIndex).
        names: each choice's name, or ``#i`` when it has none; shape (n_choices,).
        scores: each choice's router score (higher is better); shape (n_choices,).
        probabilities: each choice's probability (softmax of `scores` at the router's confidence
            temperature, or vote shares); shape (n_choices,).
        confidence: the router's confidence in the decided choice, in [0, 1].
        rule: the policy rule of the decision (``"best"``, ``"cost"``, ``"default"``,
            ``"unsure"``).
        no_match: true when the decided choice was below the threshold and the default answered.
    """

    names: list[str]
    scores: list[float]
    probabilities: list[float]
    confidence: float
    rule: Rule = "best"
    no_match: bool = False

    @model_validator(mode="after")
    def _check_indices(self) -> IR3DESelectorResult:
        n = len(self.names)
        if len(self.scores) != n or len(self.probabilities) != n:
            msg = (
                f"got {n} names, {len(self.scores)} scores, {len(self.probabilities)} probabilities"
            )
            raise ValueError(msg)
        inds = self.inds
        if any(not 0 <= i < n for i in inds) or len(set(inds)) != len(inds):
            msg = f"selected indices {inds} must be distinct and within the {n} choices"
            raise ValueError(msg)
        return self

    @property
    def scores_by_name(self) -> dict[str, float]:
        """Every choice's score keyed by its name."""
        return dict(zip(self.names, self.scores, strict=True))

    @property
    def selected_names(self) -> list[str]:
        """Names of the selected choices, the policy's decision first."""
        return [self.names[i] for i in self.inds]


class NoChoiceError(ValueError):
    """The decided choice was below the threshold and there is no default choice.

    The policy marks such a decision ``rule == "unsure"``.

    Attributes:
        result: the scores of every choice (with no selection, ``rule="unsure"``).
    """

    def __init__(self, message: str, result: IR3DESelectorResult) -> None:
        super().__init__(message)
        self.result = result


def selection_result(
    labels: Sequence[str], decision: RoutingDecision, top_k: int, threshold: float | None = None
) -> IR3DESelectorResult:
    """The selections of a policy's decision between the choices named `labels`.

    The decided choice comes first; up to ``top_k - 1`` others follow by probability among those
    that reach the selector's `threshold` (all of them without one).

    Raises:
        NoChoiceError: the decision is ``unsure`` (below the threshold, no default choice).
    """
    names = list(labels)
    scores = [decision.scores[name] for name in names]
    probabilities = [decision.probabilities[name] for name in names]
    result = IR3DESelectorResult(
        selections=[],
        names=names,
        scores=scores,
        probabilities=probabilities,
        confidence=decision.confidence,
        rule=decision.rule,
        no_match=decision.rule == "default",
    )
    if decision.rule == "unsure":
        msg = (
            f"{decision.expert!r} (p={decision.confidence:.3f}) is below the threshold "
            f"{decision.threshold} and there is no default choice; lower the threshold or "
            "set default_choice"
        )
        raise NoChoiceError(msg, result)
    first = names.index(decision.expert)
    others = sorted(
        (i for i in range(len(names)) if i != first),
        key=lambda i: (-probabilities[i], -scores[i]),
    )
    kept = [i for i in others if threshold is None or probabilities[i] >= threshold]
    selections = [_first_selection(decision, first, result)]
    selections += [_selection(i, result) for i in kept[: top_k - 1]]
    return result.model_copy(update={"selections": selections})


def _first_selection(
    decision: RoutingDecision, index: int, result: IR3DESelectorResult
) -> SingleSelection:
    name = result.names[index]
    if decision.rule != "default":
        return _selection(index, result, f" by rule {decision.rule!r}")
    best = max(range(len(result.names)), key=lambda i: result.probabilities[i])
    reason = (
        f"IR3DE: best was {result.names[best]!r} at p={result.probabilities[best]:.3f} < "
        f"{decision.threshold}; default choice {name!r}"
    )
    return SingleSelection(index=index, reason=reason)


def _selection(index: int, result: IR3DESelectorResult, how: str = "") -> SingleSelection:
    label, score, p = result.names[index], result.scores[index], result.probabilities[index]
    return SingleSelection(
        index=index, reason=f"IR3DE: {label!r} scored {score:.3f} (p={p:.3f}){how}"
    )
