"""The template methods of `IR3DELLM` (``predict``, ``stream``, ``structured_predict``...):
each routes the ``chat``/``complete`` call it makes on the template's query, not on the whole
formatted prompt (see `ir3de_llamaindex._queries`)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from typing import TYPE_CHECKING, Any

from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.prompts import BasePromptTemplate, PromptTemplate
from llama_index.core.types import Model, TokenAsyncGen, TokenGen

from ir3de_llamaindex._queries import awithin, querying, template_query, within

if TYPE_CHECKING:
    from llama_index.core.program.utils import FlexibleModel

__all__ = ["QueryRoutedLLM"]


class QueryRoutedLLM(FunctionCallingLLM):
    """A function-calling LLM whose template methods route on the template's query.

    LlamaIndex's query engines, response synthesizers, selectors and chat engines call these
    with the user's query as ``query_str`` (or ``question``) next to the retrieved context.
    """

    def predict(self, prompt: BasePromptTemplate, **prompt_args: Any) -> str:
        """Predict, routed on the template's query."""
        with querying(self, template_query(prompt, prompt_args)):
            return super().predict(prompt, **prompt_args)

    async def apredict(self, prompt: BasePromptTemplate, **prompt_args: Any) -> str:
        """Async predict, routed on the template's query."""
        with querying(self, template_query(prompt, prompt_args)):
            return await super().apredict(prompt, **prompt_args)

    def stream(self, prompt: BasePromptTemplate, **prompt_args: Any) -> TokenGen:
        """Stream a prediction, routed on the template's query."""
        with querying(self, template_query(prompt, prompt_args)):
            return super().stream(prompt, **prompt_args)

    async def astream(self, prompt: BasePromptTemplate, **prompt_args: Any) -> TokenAsyncGen:
        """Async stream of a prediction, routed on the template's query."""
        with querying(self, template_query(prompt, prompt_args)):
            return await super().astream(prompt, **prompt_args)

    def structured_predict(
        self,
        output_cls: type[Model],
        prompt: PromptTemplate,
        llm_kwargs: dict[str, Any] | None = None,
        **prompt_args: Any,
    ) -> Model:
        """Structured predict, routed on the template's query."""
        with querying(self, template_query(prompt, prompt_args)):
            return super().structured_predict(output_cls, prompt, llm_kwargs, **prompt_args)

    async def astructured_predict(
        self,
        output_cls: type[Model],
        prompt: PromptTemplate,
        llm_kwargs: dict[str, Any] | None = None,
        **prompt_args: Any,
    ) -> Model:
        """Async structured predict, routed on the template's query."""
        with querying(self, template_query(prompt, prompt_args)):
            return await super().astructured_predict(output_cls, prompt, llm_kwargs, **prompt_args)

    def stream_structured_predict(
        self,
        output_cls: type[Model],
        prompt: PromptTemplate,
        llm_kwargs: dict[str, Any] | None = None,
        **prompt_args: Any,
    ) -> Generator[Model | FlexibleModel, None, None]:
        """Stream a structured prediction, routed on the template's query."""
        stream = super().stream_structured_predict(output_cls, prompt, llm_kwargs, **prompt_args)
        yield from within(self, template_query(prompt, prompt_args), stream)

    async def astream_structured_predict(
        self,
        output_cls: type[Model],
        prompt: PromptTemplate,
        llm_kwargs: dict[str, Any] | None = None,
        **prompt_args: Any,
    ) -> AsyncGenerator[Model | FlexibleModel, None]:
        """Async stream of a structured prediction, routed on the template's query."""
        query = template_query(prompt, prompt_args)
        with querying(self, query):
            stream = await super().astream_structured_predict(
                output_cls, prompt, llm_kwargs, **prompt_args
            )
        return awithin(self, query, stream)
