"""Fixtures of the LangChain tier: a small fitted router over three experts, and recorded replies."""

from __future__ import annotations

import pytest

from ir3de_core import IR3DERouter

TRAIN = {
    "coder": [
        "write a python function that parses json",
        "fix the bug in this python code",
        "refactor this class and add type hints",
        "why does my python script raise a KeyError",
        "write unit tests for this function",
        "implement a linked list in python code",
    ],
    "mathematician": [
        "solve the equation x^2 - 5x + 6 = 0",
        "compute the integral of x squared",
        "prove that the square root of two is irrational",
        "what is the derivative of sin x",
        "find the eigenvalues of this matrix",
        "how many primes are below one hundred",
    ],
    "poet": [
        "write a poem about the sea",
        "compose a sonnet about autumn leaves",
        "write a haiku about the moon",
        "a short poem about love and loss",
        "write verses about the city at night",
        "a limerick about a cat",
    ],
}

#: Prompts whose expert the fixture router gets right, by expert.
PROMPTS = {
    "coder": ["fix this python function", "write python code that sorts a list"],
    "mathematician": ["solve the integral of x", "compute the derivative of x squared"],
    "poet": ["write a poem about the moon", "a sonnet about the sea"],
}


def make_router(featurizer: str | dict[str, object] = "hashing256") -> IR3DERouter:
    """A router fitted on `TRAIN` (domains are the expert names)."""
    prompts = [p for prompts in TRAIN.values() for p in prompts]
    labels = [e for e, prompts in TRAIN.items() for _ in prompts]
    if featurizer == "hashing256":  # 256 buckets: a 256x256 solve, fast enough to refit per test
        featurizer = {"kind": "hashing", "n_features": 256}
    return IR3DERouter(featurizer=featurizer, aggregation="pooled").fit(prompts, labels)


@pytest.fixture(scope="session")
def router() -> IR3DERouter:
    """The three-expert router (hashing featurizer: no model file, fast)."""
    return make_router()
