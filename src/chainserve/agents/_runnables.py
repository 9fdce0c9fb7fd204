"""A plain Runnable as a LangGraph graph, so that the Agent Protocol can run it."""

import inspect
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig


def runnable_graph(runnable: Runnable, name: str) -> Any:
    """``runnable`` as a one-node graph named ``name`` (LangGraph's functional API): a
    run's input is the runnable's input, and its output the thread's values. Its schemas
    are the runnable's."""
    from langgraph.func import entrypoint

    async def run(input: Any, config: RunnableConfig) -> Any:
        return await runnable.ainvoke(input, config)

    run.__name__ = name
    positional = inspect.Parameter.POSITIONAL_OR_KEYWORD
    run.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter("input", positional, annotation=runnable.InputType),
            inspect.Parameter("config", positional, annotation=RunnableConfig),
        ],
        return_annotation=runnable.OutputType,
    )
    return entrypoint()(run)
