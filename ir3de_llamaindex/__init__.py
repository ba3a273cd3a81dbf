"""ir3de_llamaindex: the IR3DE router as LlamaIndex selectors, retrievers, embeddings and LLMs."""

from ir3de_llamaindex.embeddings import EmbeddingFeaturizer, IR3DEEmbedding
from ir3de_llamaindex.retrievers import IR3DEToolRetriever
from ir3de_llamaindex.selectors import IR3DESelector, IR3DESelectorResult, NoChoiceError

__all__ = [
    "EmbeddingFeaturizer",
    "IR3DEEmbedding",
    "IR3DESelector",
    "IR3DESelectorResult",
    "IR3DEToolRetriever",
    "NoChoiceError",
]
