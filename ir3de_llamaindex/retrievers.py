"""`IR3DEToolRetriever`: the tools an `IR3DESelector` selects, as a retriever for agents."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.callbacks import CallbackManager
from llama_index.core.objects.base import ObjectRetriever
from llama_index.core.objects.tool_node_mapping import SimpleToolNodeMapping
from llama_index.core.schema import NodeWithScore, QueryBundle
from llama_index.core.tools.types import BaseTool

from ir3de_llamaindex.selectors import IR3DESelector, IR3DESelectorResult

__all__ = ["IR3DEToolRetriever"]


class IR3DEToolRetriever(BaseRetriever):
    """Retrieve tools by routing the query between them with an `IR3DESelector`.

    Each retrieved node is the tool's node (as `ObjectIndex` would store it) scored with the
    selector's probability. `as_object_retriever()` gives the `ObjectRetriever` that
    ``FunctionAgent(tool_retriever=...)`` and ``ReActAgent(tool_retriever=...)`` expect. An empty
    query (an agent turn with no text) has nothing to route on and retrieves every tool.

    Args:
        tools: the candidate tools; names must be unique.
        selector: the selector (its ``top_k`` and policy decide which tools come back);
            None uses ``IR3DESelector(top_k=2)`` trained on the tools' descriptions.
        callback_manager: LlamaIndex callbacks.
        verbose: log retrievals.
    """

    def __init__(
        self,
        tools: Sequence[BaseTool],
        selector: IR3DESelector | None = None,
        *,
        callback_manager: CallbackManager | None = None,
        verbose: bool = False,
    ) -> None:
        if not tools:
            msg = "IR3DEToolRetriever got no tools; pass at least one BaseTool"
            raise ValueError(msg)
        names = [tool.metadata.name for tool in tools]
        duplicates = sorted(str(n) for n, count in Counter(names).items() if count > 1)
        if duplicates or None in names:
            msg = f"tool names must be unique and set; duplicates: {duplicates}"
            raise ValueError(msg)
        self._tools = list(tools)
        self._selector = selector or IR3DESelector(top_k=2)
        self._mapping = SimpleToolNodeMapping.from_objects(self._tools)
        super().__init__(callback_manager=callback_manager, verbose=verbose)

    @classmethod
    def class_name(cls) -> str:
        """Name used when serialising."""
        return "IR3DEToolRetriever"

    @property
    def selector(self) -> IR3DESelector:
        """The selector that routes between the tools."""
        return self._selector

    def as_object_retriever(self) -> ObjectRetriever[BaseTool]:
        """An `ObjectRetriever` returning the selected tools themselves (for agents)."""
        return ObjectRetriever(retriever=self, object_node_mapping=self._mapping)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        if not query_bundle.query_str.strip():
            return self._all()
        metadatas = [tool.metadata for tool in self._tools]
        return self._nodes(self._selector.select(metadatas, query_bundle))

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        if not query_bundle.query_str.strip():
            return self._all()
        metadatas = [tool.metadata for tool in self._tools]
        return self._nodes(await self._selector.aselect(metadatas, query_bundle))

    def _nodes(self, result: IR3DESelectorResult) -> list[NodeWithScore]:
        return [
            NodeWithScore(node=self._mapping.to_node(self._tools[i]), score=result.probabilities[i])
            for i in result.inds
        ]

    def _all(self) -> list[NodeWithScore]:
        return [NodeWithScore(node=self._mapping.to_node(tool), score=None) for tool in self._tools]
