"""Explanations name whole words, not WordPiece pieces (core behaviour, seen through the adapters'
routers; `ir3de route --explain` prints the same contributions)."""

from __future__ import annotations

import numpy as np
import pytest

from ir3de_core.decide.explanation import merge_word_pieces
from ir3de_langchain import router_from_descriptions
from tests.langchain.choices import CRITERIA, EXAMPLES


def test_word_pieces_merge_into_words_with_summed_margins() -> None:
    words, margins = merge_word_pieces(
        ["the", "par", "##son", "de", "##bu", "##gged", "#", "##"],
        np.array([1, 2, 3, 4, 5, 6, 7, 8]),
    )
    assert words == ["the", "parson", "debugged", "#", "##"]
    np.testing.assert_allclose(margins, [1, 5, 15, 7, 8])
    bpe, summed = merge_word_pieces(["\u0120the", "\u0120par", "son", "!"], np.ones(4))
    assert (bpe, summed.tolist()) == (["the", "parson!"], [1.0, 3.0])
    assert merge_word_pieces(["\u2581un", "related"], np.ones(2))[0] == ["unrelated"]
    assert merge_word_pieces(["##son"], np.ones(1))[0] == ["son"]  # nothing to continue


@pytest.mark.parametrize("aggregation", ["average", "vote"])
def test_explanations_are_words_of_the_prompt(aggregation: str) -> None:
    router = router_from_descriptions(CRITERIA, examples=EXAMPLES, aggregation=aggregation)  # type: ignore[arg-type]
    prompt = "the parson debugged my javascript unittests"
    decision = router.explain(prompt, top=10)
    texts = [c.text for c in decision.explanation]
    assert decision.expert == "code"
    assert set(texts) <= set(prompt.split())
    assert "javascript" in texts[:2]
    assert not any(t.startswith("##") for t in texts)
