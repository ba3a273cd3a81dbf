"""IR3DEEmbedding and EmbeddingFeaturizer: the core's featurizers and LlamaIndex embeddings, both ways."""

from __future__ import annotations

import numpy as np
import pytest
from llama_index.core import Document, VectorStoreIndex

from ir3de_core import HashingFeaturizer, IR3DERouter, SentenceFeaturizer
from ir3de_llamaindex import EmbeddingFeaturizer, IR3DEEmbedding
from tests.llamaindex.corpus import DOCUMENTS, EXAMPLES


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


def test_hashing_embeds_a_real_index_with_the_same_vectors_forever() -> None:
    embed = IR3DEEmbedding("hashing")
    assert embed.featurizer.get_config()["tfidf"] is False  # nothing learnt from the corpus
    docs = [Document(text=t, metadata={"base": n}) for n in DOCUMENTS for t in DOCUMENTS[n]]
    index = VectorStoreIndex.from_documents(docs, embed_model=embed)
    hits = index.as_retriever(similarity_top_k=1).retrieve("how long to caramelise onions")
    assert "caramelise onions" in hits[0].node.get_content()
    text = DOCUMENTS["travel"][0]
    vector = embed.get_text_embedding(text)
    assert len(vector) == 1024 and np.linalg.norm(vector) == pytest.approx(1.0)
    assert embed.get_query_embedding(text) == vector
    assert IR3DEEmbedding("hashing").get_text_embedding(text) == vector  # a new process, too
    assert IR3DEEmbedding({"kind": "hashing", "n_features": 64}).featurizer.n_features == 64


def test_a_featurizer_that_learns_must_come_fitted() -> None:
    with pytest.raises(ValueError, match="not fitted, so its vectors would change"):
        IR3DEEmbedding({"kind": "hashing", "tfidf": True})
    with pytest.raises(ValueError, match="pass tfidf=False, or pass a fitted featurizer"):
        IR3DEEmbedding(HashingFeaturizer())
    router = IR3DERouter("hashing").fit(
        EXAMPLES["cooking"] + EXAMPLES["travel"], ["c"] * 5 + ["t"] * 5
    )
    fitted = IR3DEEmbedding(router.featurizer_)  # TF-IDF weights fixed by the router's fit
    assert fitted.featurizer is router.featurizer_
    text = "Can I bring shampoo in my hand luggage?"
    assert np.allclose(fitted.get_text_embedding(text), router.featurizer_.transform([text])[0])


def test_embedding_featurizer_wraps_a_llamaindex_embedding() -> None:
    inner = IR3DEEmbedding({"kind": "hashing", "n_features": 32, "tfidf": False})
    featurizer = EmbeddingFeaturizer(inner)
    rows = featurizer.transform(["one text", "another text"])
    assert rows.shape == (2, 32) and rows.dtype == np.float32
    assert featurizer.n_features == 32
    assert featurizer.get_config() == {"kind": "llamaindex", "model": "hashing"}
    with pytest.raises(TypeError, match="single string"):
        featurizer.transform("not a list")  # type: ignore[arg-type]
