"""`IR3DEDecisionModel`: LangChain's decision model interface answered by a router."""

from __future__ import annotations

import warnings
from typing import Any
from uuid import UUID

import numpy as np
import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import ModelChoice, ModelRouterMiddleware
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.decisions import Box, Choice, ChoiceAnswer, Noul, Score
from langchain_core.messages import HumanMessage

from ir3de_core import IR3DERouter, RoutingPolicy
from ir3de_core.decide.confidence import expected_calibration_error
from ir3de_langchain import IR3DEDecisionModel
from ir3de_langchain.decisions import DESCRIPTIONS_TEMPERATURE
from tests.langchain.choices import CRITERIA, EXAMPLES, LABELLED, LABELS
from tests.langchain.conftest import PROMPTS
from tests.langchain.fakes import replies

EXPERTS = ("coder", "mathematician", "poet")
ROUTE = Choice(
    instructions="Which expert should answer?",
    criteria={e: f"the {e}" for e in EXPERTS},
)
MODELS = Choice(instructions="Which model should answer the user?", criteria=CRITERIA)


def ask(classifier: IR3DEDecisionModel, text: str, question: Choice = ROUTE) -> ChoiceAnswer:
    return classifier.invoke({"state": text, "questions": {"route": question}}).choices["route"]


@pytest.fixture(scope="module")
def built() -> IR3DEDecisionModel:
    """A decision model that builds its routers from criteria plus the examples."""
    return IR3DEDecisionModel(examples=EXAMPLES)


def measured(classifier: IR3DEDecisionModel) -> tuple[float, float]:
    """Accuracy and expected calibration error on the held-out `LABELLED` questions."""
    answers = [ask(classifier, text, MODELS) for text, _ in LABELLED]
    correct = [a.choice == label for a, (_, label) in zip(answers, LABELLED, strict=True)]
    confidence = [a.confidence for a in answers]
    return float(np.mean(correct)), expected_calibration_error(confidence, correct)


def test_a_fitted_router_answers_a_choice_of_its_experts(router: IR3DERouter) -> None:
    classifier = IR3DEDecisionModel(router=router)
    for expert, prompts in PROMPTS.items():
        for prompt in prompts:
            answer = ask(classifier, prompt)
            assert answer.choice == expert
            assert set(answer.probabilities) == set(EXPERTS)
            assert sum(answer.probabilities.values()) == pytest.approx(1.0)
            assert answer.confidence == pytest.approx(answer.probabilities[expert])
            decision = router.route([prompt])[0]
            assert answer.probabilities == pytest.approx(decision.probabilities)
    message = HumanMessage("write a poem about the moon")
    assert ask(classifier, message).choice == "poet"  # type: ignore[arg-type]
    response = classifier.invoke({"state": "x", "questions": {"route": ROUTE}})
    assert (response.model, response.usage) == ("ir3de", None)


def test_a_subset_of_the_experts_is_a_choice_among_them(router: IR3DERouter) -> None:
    two = Choice(instructions="?", criteria={"coder": "code", "mathematician": "maths"})
    answer = ask(IR3DEDecisionModel(router=router), "write a poem about the moon", two)
    assert set(answer.probabilities) == {"coder", "mathematician"}
    assert sum(answer.probabilities.values()) == pytest.approx(1.0)


def test_labels_the_router_does_not_know_are_named(router: IR3DERouter) -> None:
    other = Choice(instructions="?", criteria={"coder": "code", "fast": "small", "slow": "big"})
    with pytest.raises(ValueError, match=r"does not know the label\(s\) \['fast', 'slow'\]; its "
                       r"labels are \['coder', 'mathematician', 'poet'\]"):  # fmt: skip
        ask(IR3DEDecisionModel(router=router), "hello", other)


@pytest.mark.parametrize(
    "question",
    [
        Noul(instructions="Is this urgent?"),
        Score(instructions="How hard?", criteria=["easy", "hard"]),
        Box(instructions="Where is the cat?"),
    ],
    ids=["noul", "score", "box"],
)
def test_other_questions_say_what_is_supported(router: IR3DERouter, question: Any) -> None:
    classifier = IR3DEDecisionModel(router=router)
    with pytest.raises(NotImplementedError, match=r"Choice questions only.*'q': '" + question.type):
        classifier.invoke({"state": "hello", "questions": {"route": ROUTE, "q": question}})


def test_built_from_criteria_and_examples_accurate_and_calibrated(
    built: IR3DEDecisionModel,
) -> None:
    accuracy, ece = measured(built)
    router = built.router_for(MODELS)
    print(
        f"\ncriteria+examples: accuracy {accuracy:.3f}, ECE {ece:.3f}, T {router.confidence_temperature:.4f}"
    )
    assert accuracy >= 0.8
    assert ece <= 0.15
    assert router.experts_ == LABELS
    assert router.confidence_temperature != DESCRIPTIONS_TEMPERATURE  # fitted by cross-validation
    uncalibrated = IR3DEDecisionModel(examples=EXAMPLES, temperature=0.1)  # the router's default
    assert measured(uncalibrated)[1] > 2 * ece


def test_built_from_criteria_alone(router: IR3DERouter) -> None:
    accuracy, ece = measured(IR3DEDecisionModel())
    print(f"\ncriteria only: accuracy {accuracy:.3f}, ECE {ece:.3f}")
    assert accuracy >= 0.6
    assert ece <= 0.25


def test_routers_are_built_once_per_set_of_criteria(built: IR3DEDecisionModel) -> None:
    first = built.router_for(MODELS)
    assert built.router_for(Choice(instructions="other words", criteria=dict(CRITERIA))) is first
    fewer = Choice(instructions="?", criteria={k: CRITERIA[k] for k in ("math", "code")})
    assert built.router_for(fewer) is not first
    assert built.router_for(fewer).experts_ == ("math", "code")
    small = IR3DEDecisionModel(cache_size=1)
    a = small.router_for(fewer)
    small.router_for(MODELS)
    assert small.router_for(fewer) is not a  # evicted


async def test_async_and_batch_answer_as_invoke(built: IR3DEDecisionModel) -> None:
    requests: list[Any] = [{"state": t, "questions": {"route": MODELS}} for t, _ in LABELLED[:6]]
    sync = [r.choices["route"] for r in built.batch(requests)]
    assert [(await built.ainvoke(r)).choices["route"] for r in requests] == sync
    assert [r.choices["route"] for r in await built.abatch(requests)] == sync
    fresh = IR3DEDecisionModel(examples=EXAMPLES)  # builds its router off the event loop
    assert (await fresh.ainvoke(requests[0])).choices["route"] == sync[0]


class Recorder(BaseCallbackHandler):
    """Keeps the metadata of each run start and the custom events."""

    def __init__(self) -> None:
        self.metadata: list[dict[str, Any]] = []
        self.events: list[tuple[str, Any]] = []

    def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: UUID, metadata: Any = None,
                       **kwargs: Any) -> None:  # fmt: skip
        self.metadata.append(metadata or {})

    def on_custom_event(self, name: str, data: Any, **kwargs: Any) -> None:
        self.events.append((name, data))


def test_runs_are_traced_like_langchains_decision_models(router: IR3DERouter) -> None:
    recorder = Recorder()
    classifier = IR3DEDecisionModel(router=router, model="ir3de-fixture")
    classifier.invoke(
        {"state": "fix this python function", "questions": {"route": ROUTE}},
        {"callbacks": [recorder]},
    )
    assert {k: recorder.metadata[0][k] for k in ("ls_provider", "ls_model_name", "ls_model_type")} == {
        "ls_provider": "ir3de", "ls_model_name": "ir3de-fixture", "ls_model_type": "chat",
    }  # fmt: skip
    [(name, data)] = recorder.events
    assert name == "ir3de_route"
    assert (data["question"], data["expert"], data["rule"]) == ("route", "coder", "best")


def test_the_choice_is_the_policys(router: IR3DERouter) -> None:
    sorts, fix = (
        router.route([p])[0].confidence
        for p in ("write python code that sorts a list", "fix this python function")
    )
    assert sorts < fix  # both the coder's; a threshold between them makes the first unsure
    careful = RoutingPolicy(threshold=(sorts + fix) / 2, default="mathematician")
    classifier = IR3DEDecisionModel(router=router, policy=careful)
    unsure = classifier.decide("write python code that sorts a list", ROUTE)
    assert (unsure.expert, unsure.rule) == ("mathematician", "default")
    answer = ask(classifier, "write python code that sorts a list")
    assert answer.choice == "mathematician"
    assert answer.confidence == pytest.approx(answer.probabilities["mathematician"])
    assert ask(classifier, "fix this python function").choice == "coder"


def test_calibrate_fits_a_temperature_for_a_given_router(router: IR3DERouter) -> None:
    classifier = IR3DEDecisionModel(router=router)
    prompts = [p for ps in PROMPTS.values() for p in ps]
    labels = [e for e, ps in PROMPTS.items() for _ in ps]
    calibrated = classifier.calibrate(prompts, labels)
    assert calibrated.temperature is not None
    assert classifier.temperature is None  # a copy
    before = ask(classifier, "a sonnet about the sea")
    after = ask(calibrated, "a sonnet about the sea")
    assert after.choice == before.choice == "poet"
    assert after.confidence != pytest.approx(before.confidence)
    with pytest.raises(ValueError, match="needs router="):
        IR3DEDecisionModel().calibrate(prompts, labels)
    with pytest.raises(ValueError, match=r"labels \['chef'\] are not experts"):
        classifier.calibrate(["soup"], ["chef"])


def test_model_router_middleware_routes_an_agent_with_it(built: IR3DEDecisionModel) -> None:
    models = {label: replies(*[f"{label} answers"] * 3) for label in LABELS}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ModelRouterMiddleware is a LangChain beta
        router = ModelRouterMiddleware(
            choices={
                label: ModelChoice(model=models[label], criteria=CRITERIA[label])
                for label in LABELS
            },
            instructions="Choose the model suited to the request.",
            classifier=built,
        )
    agent = create_agent(replies(), tools=[], middleware=[router])
    for text, label in [
        ("what is 12 times 7", "math"),
        ("how do I undo my last git commit", "code"),
    ]:
        result = agent.invoke({"messages": [HumanMessage(text)]})
        assert result["messages"][-1].content == f"{label} answers"
        assert result["model_route"].choice == label
        assert set(result["model_route"].probabilities) == set(LABELS)
