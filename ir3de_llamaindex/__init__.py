"""ir3de_llamaindex: the IR3DE router as LlamaIndex selectors, retrievers, embeddings and LLMs."""

from ir3de_llamaindex.embeddings import EmbeddingFeaturizer, IR3DEEmbedding
from ir3de_llamaindex.events import DECISION_KEY, IR3DERoutingEvent
from ir3de_llamaindex.llms import IR3DELLM
from ir3de_llamaindex.retrievers import IR3DEToolRetriever
from ir3de_llamaindex.selectors import IR3DESelector, IR3DESelectorResult, NoChoiceError

__all__ = [
    "DECISION_KEY",
    "IR3DELLM",
    "EmbeddingFeaturizer",
    "IR3DEEmbedding",
    "IR3DERoutingEvent",
    "IR3DESelector",
    "IR3DESelectorResult",
    "IR3DEToolRetriever",
    "NoChoiceError",
]
