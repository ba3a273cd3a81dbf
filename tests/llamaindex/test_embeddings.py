"""IR3DEEmbedding and EmbeddingFeaturizer: the core's featurizers and LlamaIndex embeddings, both ways."""

from __future__ import annotations

import numpy as np
import pytest

from ir3de_core import SentenceFeaturizer
from ir3de_llamaindex import EmbeddingFeaturizer, IR3DEEmbedding


def test_sentence_embedding_matches_the_featurizer(
    embed_model: IR3DEEmbedding, sentence: SentenceFeaturizer
) -> None:
    text = "How do I make a sourdough starter?"
    vector = embed_model.get_text_embedding(text)
    assert len(vector) == 384
    assert np.allclose(vector, sentence.transform([text])[0], atol=1e-6)
    assert np.allclose(embed_model.get_query_embedding(text), vector, atol=1e-6)
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    assert embed_model.model_name == "all-MiniLM-L6-v2"
    assert embed_model.featurizer is sentence
    assert IR3DEEmbedding.class_name() == "IR3DEEmbedding"


async def test_async_and_batch_embeddings_agree(embed_model: IR3DEEmbedding) -> None:
    texts = ["planets and stars", "bread and butter", "visas and flights"]
    batch = embed_model.get_text_embedding_batch(texts)
    abatch = await embed_model.aget_text_embedding_batch(texts)
    single = await embed_model.aget_query_embedding(texts[1])
    assert np.allclose(batch, abatch, atol=1e-6)
    assert np.allclose(single, batch[1], atol=1e-6)
    similarity = np.array(batch) @ np.array(batch).T
    assert np.all(np.diag(similarity) > similarity.max(axis=1) - 1e-6)


def test_hashing_embedding_needs_no_model() -> None:
    embed = IR3DEEmbedding({"kind": "hashing", "n_features": 64, "tfidf": False})
    assert len(embed.get_text_embedding("a few words here")) == 64
    assert embed.model_name == "hashing"


def test_embedding_featurizer_wraps_a_llamaindex_embedding() -> None:
    inner = IR3DEEmbedding({"kind": "hashing", "n_features": 32, "tfidf": False})
    featurizer = EmbeddingFeaturizer(inner)
    rows = featurizer.transform(["one text", "another text"])
    assert rows.shape == (2, 32) and rows.dtype == np.float32
    assert featurizer.n_features == 32
    assert featurizer.get_config() == {"kind": "llamaindex", "model": "hashing"}
    with pytest.raises(TypeError, match="single string"):
        featurizer.transform("not a list")  # type: ignore[arg-type]
