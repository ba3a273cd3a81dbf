"""The `openai` featurizer against a real OpenAI-compatible server on 127.0.0.1 (e2e tier)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from ir3de_core import IR3DERouter
from ir3de_core.featurizers import OpenAIEmbeddingFeaturizer
from ir3de_core.featurizers.openai_embeddings import EmbeddingCache
from tests.llm_server import llm_python, running_llm_server

pytest.importorskip("openai")


@pytest.fixture(scope="module")
def embedding_url() -> Iterator[str]:
    if llm_python() is None:
        pytest.skip("set IR3DE_LLM_PYTHON to a python with llama-cpp-python[server] (.ci/run does)")
    with running_llm_server(alias="gemma-embed", embedding=True) as url:
        yield url


@pytest.mark.e2e
def test_embeddings_are_batched_cached_and_usable_by_the_router(embedding_url, tmp_path) -> None:
    featurizer = OpenAIEmbeddingFeaturizer(
        "gemma-embed", base_url=embedding_url, batch_size=2, cache_dir=str(tmp_path), max_retries=0
    )
    texts = ["solve 2x = 4", "write a sorting function", "bonjour tout le monde"]
    X = featurizer.transform(texts)
    assert X.shape[0] == 3 and X.shape[1] == featurizer.n_features > 16
    assert np.isfinite(X).all() and not np.allclose(X[0], X[1])
    cached = featurizer.cache.get_many([EmbeddingCache.key("gemma-embed", t) for t in texts])  # type: ignore[union-attr]
    assert len(cached) == 3
    router = IR3DERouter(featurizer, target="domain").fit(texts * 2, ["math", "code", "fr"] * 2)
    assert router.predict_domain(["solve 2x = 4"])[0] == "math"


def test_cached_texts_are_not_sent_again(tmp_path) -> None:
    """An unreachable endpoint is fine when every text is cached; an uncached text fails loudly."""
    openai = pytest.importorskip("openai")
    featurizer = OpenAIEmbeddingFeaturizer(
        "m", base_url="http://127.0.0.1:9/v1", cache_dir=str(tmp_path), max_retries=0, timeout=2
    )
    featurizer.cache.put_many({EmbeddingCache.key("m", "hello"): np.ones(4, dtype=np.float32)})  # type: ignore[union-attr]
    np.testing.assert_array_equal(featurizer.transform(["hello"]), np.ones((1, 4)))
    with pytest.raises(openai.APIConnectionError):
        featurizer.transform(["not cached"])
    assert featurizer.get_config()["api_key_env"] == "OPENAI_API_KEY"
