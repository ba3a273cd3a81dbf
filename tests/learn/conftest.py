"""A small quality-mode router on hashed features, fitted once per test module."""

from __future__ import annotations

import numpy as np
import pytest

from ir3de_core import IR3DERouter

EXPERTS = ("math", "code", "chat")
WORDS = {
    "math": ["integral", "sum", "prime", "matrix", "proof"],
    "code": ["python", "bug", "compile", "loop", "function"],
    "chat": ["hello", "weather", "movie", "friend", "song"],
}


def make_prompts(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    """n prompts of three topics and each expert's score on them: (n,), (n, 3)."""
    rng = np.random.default_rng(seed)
    prompts, scores = [], np.zeros((n, len(EXPERTS)))
    for i in range(n):
        t = int(rng.integers(3))
        words = rng.choice(WORDS[EXPERTS[t]], size=4).tolist()
        prompts.append(f"{' '.join(words)} number {i}")
        scores[i] = 0.3 + 0.1 * rng.random(3)
        scores[i, t] = 0.8 + 0.1 * rng.random()
    return prompts, scores


def fit_router(n: int = 60, seed: int = 0, **policy: object) -> IR3DERouter:
    prompts, scores = make_prompts(n, seed)
    router = IR3DERouter(
        {"kind": "hashing", "n_features": 64},
        target="quality",
        alpha=1.0,
        missing_scores="ignore",
        policy=policy or None,
    )
    labels = [dict(zip(EXPERTS, row, strict=True)) for row in scores]
    for i, label in enumerate(labels):
        if i % 6:  # "chat" is scored on one prompt in six: the router is unsure of it
            del label["chat"]
    return router.fit(prompts, labels)


@pytest.fixture(scope="module")
def router() -> IR3DERouter:
    return fit_router()
