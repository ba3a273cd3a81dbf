"""IR3DEDecisionModel next to other classifiers for ModelRouterMiddleware: latency, accuracy, ECE.

All classifiers answer the same `Choice` (four models, one-sentence criteria) about the 40
held-out questions of ``tests/langchain/choices.py``; those that learn see the same 16 examples.
Latency is per ``invoke`` (the LangChain runnable call, callbacks included), after a warm-up
call that builds what the classifier builds (reported as setup).

* ``IR3DEDecisionModel`` with the ``tokens`` featurizer, from criteria and examples (probabilities
  calibrated by 5-fold cross-validation on the examples), from criteria alone, and uncalibrated
  (the router's default temperature 0.1) to show what calibration does;
* an embedding-similarity classifier: all-MiniLM-L6-v2 sentence embeddings, cosine to each
  label's centroid (criteria + examples), softmax temperature fitted the same way;
* LangChain's ``OpenAIDecisions`` with its HTTP answered in-process (httpx ``MockTransport``):
  the floor of an API classifier, before any network or model time (latency only).

BLAS runs on one thread (threadpoolctl), as a latency-sensitive service should: a decision's
matrix products are tiny, and OpenBLAS's helper threads, still spinning after the solves of a
router built moments before, would take the second core of a two-core machine from the caller
(p99 ~8 ms). Python's cyclic garbage collector also stops the process now and then for a few
milliseconds (a full collection walks every object, and LangChain's imports make ~200,000):
``--freeze-gc`` calls ``gc.freeze()`` after each warm-up, as a service can after start-up, to
show the latency without those pauses.

    python -m benchmarks.langchain_decision [--repeat 5] [--no-embeddings] [--freeze-gc]
"""

from __future__ import annotations

import argparse
import gc
import json
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
from langchain_core.decisions import (
    BaseDecisionModel,
    Choice,
    ChoiceAnswer,
    ClassifierResponse,
    Question,
    State,
)
from langchain_core.messages import HumanMessage
from pydantic import PrivateAttr
from threadpoolctl import threadpool_limits

from ir3de_core.decide.confidence import (
    calibrated_probabilities,
    expected_calibration_error,
    fit_temperature,
)
from ir3de_core.featurizers import make_featurizer
from ir3de_langchain import IR3DEDecisionModel
from ir3de_langchain._text import input_text
from tests.langchain.choices import CRITERIA, EXAMPLES, LABELLED, LABELS

QUESTION = Choice(instructions="Which model should answer the user?", criteria=CRITERIA)


@dataclass(frozen=True)
class Row:
    """One classifier's numbers (accuracy and ECE are None when not meaningful)."""

    name: str
    accuracy: float | None
    ece: float | None
    p50_ms: float
    p99_ms: float
    setup_s: float


FREEZE = {"gc": False}  # set by --freeze-gc


def measure(name: str, call: Callable[[str], tuple[str, float] | None], repeat: int) -> Row:
    """Time `call` on every question `repeat` times; score its first answers."""
    start = time.perf_counter()
    call("warm-up question")
    setup = time.perf_counter() - start
    if FREEZE["gc"]:
        gc.collect()
        gc.freeze()
    times, answers = [], []
    for rep in range(repeat):
        for text, _ in LABELLED:
            start = time.perf_counter()
            answer = call(text)
            times.append(time.perf_counter() - start)
            if rep == 0:
                answers.append(answer)
    p50, p99 = np.percentile(np.array(times) * 1000, [50, 99])
    if any(a is None for a in answers):
        return Row(name, None, None, float(p50), float(p99), setup)
    correct = [a[0] == label for a, (_, label) in zip(answers, LABELLED, strict=True)]  # type: ignore[index]
    ece = expected_calibration_error([a[1] for a in answers], correct)  # type: ignore[index]
    return Row(name, float(np.mean(correct)), ece, float(p50), float(p99), setup)


def decision_call(classifier: BaseDecisionModel) -> Callable[[str], tuple[str, float]]:
    """Ask `classifier` the routing question about a human message, as the middleware does."""

    def call(text: str) -> tuple[str, float]:
        request: Any = {"state": HumanMessage(text), "questions": {"model_route": QUESTION}}
        answer = classifier.invoke(request).choices["model_route"]
        return answer.choice, answer.confidence

    return call


class EmbeddingDecisionModel(BaseDecisionModel):
    """Cosine similarity of sentence embeddings to each label's centroid (a baseline)."""

    model: str = "all-MiniLM-L6-v2"
    examples: dict[str, list[str]]
    _featurizer: Any = PrivateAttr(default=None)
    _centroids: Any = PrivateAttr(default=None)
    _temperature: float = PrivateAttr(default=1.0)

    @property
    def _provider(self) -> str:
        return "embedding-similarity"

    def _fit(self, labels: Sequence[str]) -> None:
        self._featurizer = make_featurizer({"kind": "sentence", "model": self.model})
        texts = {label: [str(CRITERIA[label]), *self.examples.get(label, [])] for label in labels}
        self._centroids = self._centroids_of(texts)
        held, truth = [], []  # 5-fold: each example scored by centroids without its fold
        pairs = [(t, label) for label in labels for t in self.examples.get(label, [])]
        for fold in range(5):
            kept = {label: [str(CRITERIA[label])] for label in labels}
            for i, (t, label) in enumerate(pairs):
                kept[label] += [t] if i % 5 != fold else []
            out = [(t, label) for i, (t, label) in enumerate(pairs) if i % 5 == fold]
            held.append(self._similarity([t for t, _ in out], self._centroids_of(kept)))
            truth += [list(labels).index(label) for _, label in out]
        self._temperature = fit_temperature(np.vstack(held), truth)

    def _centroids_of(self, texts: dict[str, list[str]]) -> np.ndarray:
        rows = [self._featurizer.transform(t).mean(axis=0) for t in texts.values()]
        return np.array([r / np.linalg.norm(r) for r in rows])

    def _similarity(self, texts: list[str], centroids: np.ndarray) -> np.ndarray:
        return np.asarray(self._featurizer.transform(texts)) @ centroids.T

    def _classify(self, state: State, questions: dict[str, Question]) -> ClassifierResponse:
        name, question = next(iter(questions.items()))
        labels = list(question.criteria) if isinstance(question, Choice) else []
        if self._centroids is None:
            self._fit(labels)
        sims = self._similarity([input_text(state)], self._centroids)
        p = calibrated_probabilities(sims, self._temperature)[0]
        answer = ChoiceAnswer(
            type="choice", choice=labels[int(p.argmax())], confidence=float(p.max()),
            probabilities=dict(zip(labels, p.tolist(), strict=True)),
        )  # fmt: skip
        return ClassifierResponse(model=self.model, answers={name: answer})


def openai_decisions_call() -> Callable[[str], None]:
    """LangChain's OpenAIDecisions, its server a function that answers at once."""
    from langchain_openai.decisions import Choice as OpenAIChoice
    from langchain_openai.decisions import OpenAIDecisions

    body = {
        "model": "decisions-test", "usage": {"input_tokens": 50, "output_tokens": 1},
        "answers": [{
            "name": "model_route", "type": "choice", "choice": "general", "confidence": 0.9,
            "probabilities": [{"value": label, "probability": 0.25} for label in LABELS],
        }],
    }  # fmt: skip
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=json.dumps(body)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a LangChain beta
        classifier = OpenAIDecisions(
            model="decisions-test", api_key="test", base_url="http://127.0.0.1:9/v1",
            http_client=httpx.Client(transport=transport), max_retries=0,
        )  # fmt: skip
    question = OpenAIChoice(instructions=str(QUESTION.instructions), choices=dict(CRITERIA))

    def call(text: str) -> None:
        classifier.invoke({"input": [HumanMessage(text)], "questions": {"model_route": question}})

    return call


def bare_call(classifier: IR3DEDecisionModel) -> Callable[[str], tuple[str, float]]:
    """The decision alone: `IR3DEDecisionModel.decide`, without the runnable's callbacks."""

    def call(text: str) -> tuple[str, float]:
        decision = classifier.decide(HumanMessage(text), QUESTION)
        return decision.expert, decision.confidence

    return call


def run(repeat: int, embeddings: bool) -> list[Row]:
    """Every classifier's row."""
    rows = [
        measure(
            "IR3DEDecisionModel.decide (no runnable call), criteria + examples",
            bare_call(IR3DEDecisionModel(examples=EXAMPLES)), repeat,
        ),
        measure(
            "IR3DEDecisionModel, tokens, criteria + examples",
            decision_call(IR3DEDecisionModel(examples=EXAMPLES)), repeat,
        ),
        measure("IR3DEDecisionModel, tokens, criteria only",
                decision_call(IR3DEDecisionModel()), repeat),
        measure(
            "IR3DEDecisionModel, tokens, + examples, uncalibrated (T=0.1)",
            decision_call(IR3DEDecisionModel(examples=EXAMPLES, temperature=0.1)), repeat,
        ),
    ]  # fmt: skip
    if embeddings:
        rows.append(measure(
            "embedding similarity (MiniLM), criteria + examples",
            decision_call(EmbeddingDecisionModel(examples=EXAMPLES)), repeat,
        ))  # fmt: skip
    rows.append(
        measure("OpenAIDecisions, HTTP answered in-process", openai_decisions_call(), repeat)
    )
    return rows


def table(rows: Sequence[Row]) -> str:
    """The rows as a Markdown table."""

    def number(value: float | None) -> str:
        return "—" if value is None else f"{value:.3f}"

    lines = [
        "| classifier | accuracy | ECE | p50 ms | p99 ms | setup s |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {r.name} | {number(r.accuracy)} | {number(r.ece)} | {r.p50_ms:.3f} | "
        f"{r.p99_ms:.3f} | {r.setup_s:.2f} |"
        for r in rows
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.langchain_decision")
    parser.add_argument("--repeat", type=int, default=5, help="timed passes over the questions")
    parser.add_argument(
        "--no-embeddings", action="store_true", help="skip the MiniLM baseline (needs torch)"
    )
    parser.add_argument(
        "--freeze-gc", action="store_true", help="gc.freeze() after each warm-up (see above)"
    )
    args = parser.parse_args(argv)
    FREEZE["gc"] = args.freeze_gc
    frozen = ", gc frozen after warm-up" if args.freeze_gc else ""
    print(
        f"{len(LABELLED)} held-out questions, labels {list(LABELS)}, {args.repeat} passes{frozen}\n"
    )
    with threadpool_limits(limits=1, user_api="blas"):
        print(table(run(args.repeat, not args.no_embeddings)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
