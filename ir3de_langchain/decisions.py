"""`IR3DEDecisionModel`: a LangChain decision model that answers `Choice` questions with a router."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.callbacks import BaseCallbackManager
from langchain_core.callbacks.manager import adispatch_custom_event, dispatch_custom_event
from langchain_core.decisions import (
    BaseDecisionModel,
    Choice,
    ChoiceAnswer,
    ClassifierResponse,
    Question,
    State,
)
from langchain_core.runnables.config import ensure_config, run_in_executor
from pydantic import ConfigDict, Field, JsonValue, PrivateAttr, model_validator
from typing_extensions import Self

from ir3de_core.decide.confidence import fit_temperature
from ir3de_core.decide.decision import ExpertScores, RoutingDecision
from ir3de_core.decide.policy import RoutingPolicy
from ir3de_core.router import IR3DERouter
from ir3de_core.settings import Aggregation
from ir3de_langchain._calibration import cross_validated_scores
from ir3de_langchain._decision import ROUTE_EVENT
from ir3de_langchain._text import RouteOn, TextGetter, input_text
from ir3de_langchain.training import router_from_descriptions

__all__ = ["DESCRIPTIONS_TEMPERATURE", "IR3DEDecisionModel"]

DESCRIPTIONS_TEMPERATURE = 0.02
"""Softmax temperature of a router built from descriptions with too few examples to calibrate
on: the likelihood-maximising temperature of three labelled sets lies between 0.012 and 0.037."""

_MIN_EXAMPLES = 6  # fewer examples than this: too few to fit a temperature on
_AGGREGATION: Aggregation = "average"
"""Token scores averaged: graded scores, whose fitted temperature calibrates best (on the
labelled set of tests/langchain/choices.py: ECE 0.066 against 0.197 for the aggregation the
router would choose for accuracy alone, at the same 82.5 % accuracy)."""


class IR3DEDecisionModel(BaseDecisionModel):
    """Answer `Choice` questions by routing the state's text: no LLM call, well under 1 ms.

    With `router`, the labels of each `Choice` must be experts of the router (the choice is
    made among them). Without one, a router is built from the `Choice`'s criteria (each
    label's name and description, see `router_from_descriptions`) plus `examples`, once per
    set of criteria (kept in a small cache).

    ``ChoiceAnswer.probabilities`` cover every label and ``confidence`` is the chosen label's
    probability: a softmax of the router's scores whose temperature is fitted on held-out
    labels (cross-validated on `examples` when there are enough, `DESCRIPTIONS_TEMPERATURE`
    without). A router you give keeps its own probabilities until `calibrate` fits a
    temperature for it on labelled prompts it was not fitted on. The choice is the policy's
    (`policy`, else the router's): a threshold can send unsure states to a default label,
    prices can favour a cheaper one.

    Example:
        .. code-block:: python

            classifier = IR3DEDecisionModel(examples={"fast": ["hi"], "powerful": [...]})
            middleware = ModelRouterMiddleware(
                choices=choices, instructions="Pick a model.", classifier=classifier
            )
    """

    model: str = "ir3de"
    """Name reported as ``ls_model_name`` and as the response's ``model``."""
    router: IR3DERouter | None = None
    """A fitted router whose experts are the labels; None: build one per set of criteria."""
    examples: dict[str, list[str]] = Field(default_factory=dict)
    """Label → example texts it should answer, for routers built from criteria (labels a
    `Choice` does not offer are left out of its router)."""
    featurizer: str | dict[str, Any] = "tokens"
    """Featurizer of routers built from criteria (``"tokens"``: no download, ~0.1 ms)."""
    policy: RoutingPolicy | None = None
    """How scores become the choice; None: the router's own `router.policy_`."""
    temperature: float | None = None
    """Softmax temperature of the probabilities; None: fitted (see above), or the given
    router's own probabilities."""
    text_key: str | None = None
    """Key of the text when the state is a dict (None: its ``messages`` or only string)."""
    route_on: RouteOn = "last_human"
    """Route a conversation on its last human message or on every non-system message."""
    get_text: TextGetter | None = None
    """A function from the state to the text to route; overrides `text_key` and `route_on`."""
    cache_size: int = 16
    """Routers built from criteria kept at once (least recently used dropped first)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    _built: OrderedDict[str, IR3DERouter] = PrivateAttr(default_factory=OrderedDict)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.router is not None:
            _ = self.router.experts_  # raises NotFittedError naming the fix
            if self.examples:
                msg = "examples are for routers built from criteria; fit your router on them"
                raise ValueError(msg)
        if self.temperature is not None and not self.temperature > 0:
            msg = f"temperature must be > 0, got {self.temperature}"
            raise ValueError(msg)
        if self.cache_size < 1:
            msg = f"cache_size must be ≥ 1, got {self.cache_size}"
            raise ValueError(msg)
        return self

    @property
    def _provider(self) -> str:
        return "ir3de"

    # ------------------------------------------------------------------ answering
    def decide(self, state: State, question: Choice) -> RoutingDecision:
        """The policy's decision for `question` about `state` (calibrated probabilities)."""
        router = self.router_for(question)
        labels = list(question.criteria)
        policy = self._policy(router)
        decision = router.route([self._text(state)], policy=policy, available=labels)[0]
        if self.router is not None and self.temperature is not None:
            decision = _recalibrated(decision, self.temperature, policy, labels)
        return decision

    def _classify(self, state: State, questions: dict[str, Question]) -> ClassifierResponse:
        choices = _choices(questions)
        decisions = {name: self.decide(state, choice) for name, choice in choices.items()}
        config = ensure_config()
        if _has_parent_run(config):
            for name, decision in decisions.items():
                dispatch_custom_event(ROUTE_EVENT, _event(name, decision), config=config)
        return self._response(choices, decisions)

    async def _aclassify(self, state: State, questions: dict[str, Question]) -> ClassifierResponse:
        choices = _choices(questions)
        missing = [c for c in choices.values() if self._needs_build(c)]
        if missing:  # building fits routers: off the event loop
            await run_in_executor(None, lambda: [self.router_for(c) for c in missing])
        decisions = {name: self.decide(state, choice) for name, choice in choices.items()}
        config = ensure_config()
        if _has_parent_run(config):
            for name, decision in decisions.items():
                await adispatch_custom_event(ROUTE_EVENT, _event(name, decision), config=config)
        return self._response(choices, decisions)

    def _response(
        self, choices: Mapping[str, Choice], decisions: Mapping[str, RoutingDecision]
    ) -> ClassifierResponse:
        answers: dict[str, Any] = {
            name: ChoiceAnswer(
                type="choice",
                choice=decision.expert,
                probabilities={
                    label: decision.probabilities.get(label, 0.0)
                    for label in choices[name].criteria
                },
                confidence=min(1.0, max(0.0, decision.confidence)),
            )
            for name, decision in decisions.items()
        }
        return ClassifierResponse(model=self.model, answers=answers)

    # ------------------------------------------------------------------ routers
    def router_for(self, question: Choice) -> IR3DERouter:
        """The router that answers `question`: `router` (checked), or one built from its
        criteria and `examples` (cached per set of criteria).

        Raises:
            ValueError: when a label of `question` is not an expert of `router`.
        """
        if self.router is not None:
            unknown = [label for label in question.criteria if label not in self.router.experts_]
            if unknown:
                msg = (
                    f"the router does not know the label(s) {unknown}; its labels are "
                    f"{list(self.router.experts_)} (a Choice's labels must be its experts)"
                )
                raise ValueError(msg)
            return self.router
        key = _criteria_key(question)
        with self._lock:
            router = self._built.get(key)
            if router is None:
                router = self._build(question.criteria)
                self._built[key] = router
                while len(self._built) > self.cache_size:
                    self._built.popitem(last=False)
            self._built.move_to_end(key)
        return router

    def _needs_build(self, question: Choice) -> bool:
        return self.router is None and _criteria_key(question) not in self._built

    def _build(self, criteria: Mapping[str, JsonValue]) -> IR3DERouter:
        """A router over the labels of `criteria`, its temperature fitted on the examples."""
        descriptions = {label: _texts(value) or [label] for label, value in criteria.items()}
        examples = {label: list(self.examples.get(label, [])) for label in criteria}
        temperature = self.temperature or _fitted_temperature(
            descriptions, examples, self.featurizer
        )
        return router_from_descriptions(
            descriptions, examples=examples, featurizer=self.featurizer,
            aggregation=_AGGREGATION, confidence_temperature=temperature,
        )  # fmt: skip

    def calibrate(self, prompts: Sequence[str], labels: Sequence[str]) -> IR3DEDecisionModel:
        """A copy whose temperature is fitted on labelled prompts the router was not fitted on.

        Args:
            prompts: held-out prompts.
            labels: the right expert of each.

        Raises:
            ValueError: without a `router` (routers built from criteria calibrate on
                `examples` by themselves), or for a label the router does not know.
        """
        if self.router is None:
            msg = "calibrate() needs router=; without one, give examples= to calibrate on"
            raise ValueError(msg)
        experts = list(self.router.experts_)
        unknown = sorted(set(labels) - set(experts))
        if unknown:
            msg = f"labels {unknown} are not experts of the router {experts}"
            raise ValueError(msg)
        scores = self.router.decision_function(list(prompts))
        temperature = fit_temperature(scores, [experts.index(label) for label in labels])
        return self.model_copy(update={"temperature": temperature})

    # ------------------------------------------------------------------ helpers
    def _policy(self, router: IR3DERouter) -> RoutingPolicy:
        return self.policy if self.policy is not None else router.policy_

    def _text(self, state: State) -> str:
        return input_text(
            state, text_key=self.text_key, route_on=self.route_on, getter=self.get_text
        )


def _choices(questions: Mapping[str, Question]) -> dict[str, Choice]:
    """The questions, all `Choice`s; anything else is refused before any work is done."""
    other = {name: q.type for name, q in questions.items() if not isinstance(q, Choice)}
    if other:
        msg = (
            f"IR3DEDecisionModel answers Choice questions only (one label among several); "
            f"got {other}. Ask Noul, Score and Box questions of an LLM-backed decision model."
        )
        raise NotImplementedError(msg)
    return {name: q for name, q in questions.items() if isinstance(q, Choice)}


def _texts(value: JsonValue) -> list[str]:
    """Every string in a criterion (text, or JSON with texts inside), in order."""
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, Mapping):
        return [t for v in value.values() for t in _texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in _texts(v)]
    return []


def _fitted_temperature(
    descriptions: Mapping[str, list[str]],
    examples: Mapping[str, list[str]],
    featurizer: str | dict[str, Any],
) -> float:
    """The temperature that makes held-out examples likely (5-fold cross-validation), or
    `DESCRIPTIONS_TEMPERATURE` with fewer than 6 examples over at least two labels."""
    texts = [t for label in descriptions for t in examples[label]]
    labels = [label for label in descriptions for _ in examples[label]]
    if len(texts) < _MIN_EXAMPLES or len(set(labels)) < 2:
        return DESCRIPTIONS_TEMPERATURE

    def fit(kept: list[str], kept_labels: list[str]) -> IR3DERouter:
        fold = {label: [t for t, y in zip(kept, kept_labels, strict=True) if y == label]
                for label in descriptions}  # fmt: skip
        return router_from_descriptions(
            descriptions, examples=fold, featurizer=featurizer, aggregation=_AGGREGATION
        )

    scores, index = cross_validated_scores(texts, labels, fit, experts=list(descriptions))
    return fit_temperature(scores, index)


def _criteria_key(question: Choice) -> str:
    """The key of the router built for `question`'s criteria."""
    return json.dumps(question.criteria, sort_keys=True, default=str)


def _recalibrated(
    decision: RoutingDecision, temperature: float, policy: RoutingPolicy, labels: list[str]
) -> RoutingDecision:
    """The policy's decision again, from probabilities at `temperature`."""
    table = ExpertScores.of_decision(decision).at_temperature(temperature)
    return policy.decide(table, available=labels)[0]


def _has_parent_run(config: Mapping[str, Any]) -> bool:
    """Whether we run inside a run that someone listens to (custom events need a parent run;
    without handlers they would be built for nobody)."""
    callbacks = config.get("callbacks")
    return (
        isinstance(callbacks, BaseCallbackManager)
        and callbacks.parent_run_id is not None
        and bool(callbacks.handlers)
    )


def _event(question: str, decision: RoutingDecision) -> dict[str, Any]:
    return {"question": question, **decision.to_dict()}
