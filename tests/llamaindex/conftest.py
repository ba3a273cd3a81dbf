"""Fixtures for the LlamaIndex adapter: the labelled corpus, a real local embedding, real indexes."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

pytest.importorskip("llama_index.core", reason="install the 'llamaindex' extra")

from llama_index.core import Document, SummaryIndex, VectorStoreIndex
from llama_index.core.indices.base import BaseIndex
from llama_index.core.llms import MockLLM
from llama_index.core.tools.types import ToolMetadata
from threadpoolctl import threadpool_limits

from ir3de_core import SentenceFeaturizer
from ir3de_llamaindex import IR3DEEmbedding
from tests.llamaindex.corpus import DESCRIPTIONS, DOCUMENTS


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """One BLAS and one torch thread per test, restored afterwards.

    On a shared 2-core machine threads oversubscribe: a 1024-wide ridge solve took 2.7 s instead
    of 0.07 s, and one MiniLM embedding 0.48 s instead of 0.055 s.
    """
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(1)
    with threadpool_limits(limits=1, user_api="blas"):
        yield
    if torch is not None and before is not None:
        torch.set_num_threads(before)


@pytest.fixture(scope="session")
def sentence() -> SentenceFeaturizer:
    """One all-MiniLM-L6-v2 featurizer for the whole session (the model loads once)."""
    import torch

    torch.set_num_threads(1)
    featurizer = SentenceFeaturizer()
    featurizer.transform(["warm up"])
    return featurizer


@pytest.fixture(scope="session")
def embed_model(sentence: SentenceFeaturizer) -> IR3DEEmbedding:
    """The real local embedding model as a LlamaIndex BaseEmbedding."""
    return IR3DEEmbedding(sentence)


@pytest.fixture
def choices() -> list[ToolMetadata]:
    """The five knowledge bases as selector choices."""
    return [ToolMetadata(name=name, description=text) for name, text in DESCRIPTIONS.items()]


@pytest.fixture(scope="session")
def indexes(embed_model: IR3DEEmbedding) -> dict[str, BaseIndex]:
    """Real indexes over the test documents: a SummaryIndex for finance, vector indexes else."""
    out: dict[str, BaseIndex] = {}
    for name, texts in DOCUMENTS.items():
        docs = [Document(text=t, metadata={"base": name}) for t in texts]
        if name == "finance":
            out[name] = SummaryIndex.from_documents(docs)
        else:
            out[name] = VectorStoreIndex.from_documents(docs, embed_model=embed_model)
    return out


@pytest.fixture
def mock_llm() -> MockLLM:
    """LlamaIndex's own offline LLM, for the synthesis step of query engines."""
    return MockLLM(max_tokens=8)
