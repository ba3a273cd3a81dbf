"""Routers from descriptions: a plain question must reach its expert without example prompts.

Before the expert names and the neutral function words, four one-sentence descriptions sent 17
of 40 held-out questions to the right expert and 28 of 40 to the code expert.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from ir3de_core import IR3DERouter
from ir3de_langchain import router_from_descriptions
from ir3de_langchain.training import FUNCTION_WORDS, description_texts
from tests.langchain.choices import CRITERIA, EXAMPLES, LABELLED


def routed(router: IR3DERouter) -> list[str]:
    return [str(e) for e in router.predict([text for text, _ in LABELLED])]


def accuracy(router: IR3DERouter) -> float:
    return float(
        np.mean([p == label for p, (_, label) in zip(routed(router), LABELLED, strict=True)])
    )


def test_descriptions_alone_route_plain_questions() -> None:
    router = router_from_descriptions(CRITERIA)
    share = Counter(routed(router)).most_common(1)[0][1] / len(LABELLED)
    print(f"\ndescriptions alone: accuracy {accuracy(router):.3f}, largest share {share:.3f}")
    assert accuracy(router) >= 0.6
    assert share <= 0.4  # no expert swallows the questions its description happens to resemble
    bare = router_from_descriptions(CRITERIA, neutral=())
    assert accuracy(bare) < accuracy(router)


def test_examples_still_help_most() -> None:
    assert accuracy(router_from_descriptions(CRITERIA, examples=EXAMPLES)) >= 0.8


def test_the_experts_name_and_sentences_are_its_texts() -> None:
    texts = description_texts("code_review", "Reviews pull requests. Finds bugs.", ["check my PR"])
    assert texts == ["code review", "Reviews pull requests.", "Finds bugs.", "check my PR"]
    assert description_texts("writing", ["writing", "poems"])[0] == "writing"  # not twice
    assert description_texts("SQLQueries", "Databases.")[0] == "sql queries"
    with pytest.raises(ValueError, match="expert 'x' has an empty description and no examples"):
        description_texts("x", "  ")
    assert {"how", "my", "the", "?"} <= set(FUNCTION_WORDS)
