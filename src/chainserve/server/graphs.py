"""LangGraph graphs on the LangServe protocol.

A compiled graph is a Runnable, but it describes itself in ways the protocol's
validation cannot use as they are:

- With a checkpointer it runs on a thread named by ``configurable.thread_id`` (and
  optionally ``checkpoint_id``, ``checkpoint_ns``), which it does not declare as
  configurable fields, so they would be dropped.
- Its input is a partial update of its state: ``{"messages": [...]}`` is valid for a
  state that also has ``count``, and message lists take what LangGraph's
  ``add_messages`` takes (``("user", "hi")``, ``{"role": "user", ...}``, a string).
- A state declared with ``typing.TypedDict`` on Python < 3.12 makes pydantic, and so
  ``graph.get_input_schema()``, raise.

So graphs get a config model with the checkpoint keys and an input model of optional
state keys, built here from the state's type hints. langgraph is never imported: a
graph comes with its own import of it.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import sys
import typing
from collections.abc import Sequence
from typing import Any

import typing_extensions
from langchain_core.messages import BaseMessage, convert_to_messages
from langchain_core.runnables import Runnable
from langchain_core.runnables.base import RunnableBindingBase
from pydantic import BaseModel, BeforeValidator, Field, RootModel, TypeAdapter, create_model
from pydantic.fields import FieldInfo

from chainserve.server.errors import logger

CHECKPOINT_KEYS = {
    "thread_id": "The thread whose state the graph continues (required by its checkpointer)",
    "checkpoint_id": "Run from this checkpoint of the thread instead of its latest",
    "checkpoint_ns": "The checkpoint namespace (subgraphs); empty for the graph itself",
}


class PartialState(BaseModel):
    """Base of graph input models: only the keys a client sent reach the graph."""


def find_graph(runnable: Runnable) -> Any:
    """The LangGraph graph (a ``Pregel``) behind ``runnable`` and its bindings, or None."""
    pregel = sys.modules.get("langgraph.pregel")
    while isinstance(runnable, RunnableBindingBase):  # with_config, with_retry, ...
        runnable = runnable.bound
    if pregel is not None and isinstance(runnable, pregel.Pregel):
        return runnable
    return None


def has_checkpointer(graph: Any) -> bool:
    # ``True`` only means "use the parent graph's", which a served graph has not got.
    return hasattr(graph.checkpointer, "aget_tuple")


def required_configurable(runnable: Runnable) -> tuple[str, ...]:
    """The ``configurable`` keys every run of ``runnable`` needs from its request."""
    graph = find_graph(runnable)
    if graph is None or not has_checkpointer(graph):
        return ()
    return () if _bound_configurable(runnable).get("thread_id") else ("thread_id",)


def _bound_configurable(runnable: Runnable) -> dict[str, Any]:
    """The ``configurable`` values bound to ``runnable`` by ``with_config`` (on its
    bindings, and on a graph, whose ``with_config`` returns a configured copy)."""
    bound: dict[str, Any] = {}
    while True:
        config = getattr(runnable, "config", None) or {}
        bound = {**config.get("configurable", {}), **bound}
        if not isinstance(runnable, RunnableBindingBase):
            return bound
        runnable = runnable.bound


def config_model(runnable: Runnable, include: Sequence[str]) -> type[BaseModel]:
    """``runnable.config_schema(include=...)``; for a graph, ``configurable`` holds its
    context keys (read from ``configurable`` by graphs written for LangGraph < 1) and,
    with a checkpointer, the checkpoint keys."""
    graph = find_graph(runnable)
    if graph is None:
        return runnable.config_schema(include=include)
    base = Runnable.config_schema(runnable, include=[k for k in include if k != "configurable"])
    if "configurable" not in include:
        return base
    fields = (
        _fields(graph.context_schema, graph.get_name("Context")) if graph.context_schema else {}
    )
    if has_checkpointer(graph):
        fields |= {
            key: (str | None, Field(None, description=description))
            for key, description in CHECKPOINT_KEYS.items()
        }
    if not fields:
        return base
    configurable = create_model("Configurable", **fields)
    return create_model(base.__name__, __base__=base, configurable=(configurable, None))


def input_model(runnable: Runnable, config: Any = None) -> Any:
    """The model a request's input is validated with: the runnable's input schema, a
    graph's partial state, or any value when pydantic cannot describe the input."""
    if _custom_type(runnable, "custom_input_type"):
        return runnable.get_input_schema(config)
    graph = find_graph(runnable)
    state = _state_type(graph) if graph is not None else None
    try:
        if state is not None:
            return _partial_model(graph.get_name("Input"), state, frozenset(graph.channels))
        schema: Any = runnable.get_input_schema(config)
        if not schema.__pydantic_complete__:  # e.g. a type named in a string annotation
            schema.model_rebuild()
    except Exception as exc:
        name = runnable.get_name()
        logger.warning("No input schema for %s (%s); accepting any input", name, exc)
        return create_model(runnable.get_name("Input"), __base__=RootModel[Any])
    return schema


def output_model(runnable: Runnable, config: Any = None) -> Any:
    """``runnable.get_output_schema(config)``; for a graph's state, built key by key,
    with any value for a key pydantic cannot describe (``input_model`` warned of it)."""
    graph = find_graph(runnable)
    keys = graph.output_channels if graph is not None else None
    if not isinstance(keys, list) or _custom_type(runnable, "custom_output_type"):
        return runnable.get_output_schema(config)
    fields: dict[str, Any] = {
        key: (_checkable(graph.channels[key].ValueType) or Any, None) for key in keys
    }
    return create_model(graph.get_name("Output"), **fields)


def _custom_type(runnable: Runnable, attribute: str) -> bool:
    """Whether a binding of ``runnable`` sets ``custom_input_type`` / ``custom_output_type``
    (``with_types``): the user's type then wins over the graph's."""
    while isinstance(runnable, RunnableBindingBase):
        if getattr(runnable, attribute, None) is not None:
            return True
        runnable = runnable.bound
    return False


def _state_type(graph: Any) -> Any:
    """The type of a graph's input, when it is a state with named keys."""
    channel = (
        graph.channels.get(graph.input_channels) if isinstance(graph.input_channels, str) else None
    )
    state = getattr(channel, "UpdateType", None) if channel is not None else None
    if isinstance(state, type) and (
        typing_extensions.is_typeddict(state)
        or issubclass(state, BaseModel)
        or dataclasses.is_dataclass(state)
    ):
        return state
    return None


@functools.lru_cache(maxsize=64)  # one model (and one warning) per state type
def _partial_model(name: str, state: type, channels: frozenset[str]) -> type[PartialState]:
    """A model with every key of ``state`` optional (its managed values, which are not
    channels, left out), typed as declared where pydantic can check the type."""
    fields = {key: field for key, field in _fields(state, name).items() if key in channels}
    return create_model(name, __base__=PartialState, **fields)


def _fields(schema: type, name: str) -> dict[str, Any]:
    """The keys of a TypedDict, dataclass or pydantic model as optional pydantic fields;
    a key whose type pydantic cannot check is any value, named in one warning."""
    if issubclass(schema, BaseModel):
        declared = {key: field.annotation for key, field in schema.model_fields.items()}
    else:
        declared = typing.get_type_hints(schema, include_extras=True)
    fields: dict[str, Any] = {}
    unchecked: list[str] = []
    for key, annotation in declared.items():
        checked = _checkable(annotation)
        if checked is None:
            unchecked.append(key)
        field = schema.model_fields.get(key) if issubclass(schema, BaseModel) else None
        fields[key] = (checked if checked is not None else Any, _optional(field))
    if unchecked:
        logger.warning(
            "Keys %s of %s have types pydantic cannot check (a typing.TypedDict on "
            "Python < 3.12?); they are accepted as any value",
            unchecked,
            name,
        )
    return fields


def _optional(field: FieldInfo | None) -> Any:
    """A pydantic model field's constraints and docs, with None as its default."""
    if field is None:
        return None
    optional = copy.copy(field)
    optional.default, optional.default_factory = None, None
    return optional


def _checkable(annotation: Any) -> Any | None:
    """``annotation`` as a pydantic field type (message lists taking what
    ``add_messages`` takes), or None if pydantic cannot validate it."""
    base = _unannotated(annotation)
    annotation = base
    if _is_message_list(base):
        annotation = typing.Annotated[base, BeforeValidator(_coerce_messages)]
    try:
        TypeAdapter(annotation)
    except Exception:
        return None
    return annotation


def _is_message_list(annotation: Any) -> bool:
    if typing.get_origin(annotation) not in (list, Sequence):
        return False
    [item] = typing.get_args(annotation) or [None]
    item = _unannotated(item)
    members = typing.get_args(item) if typing.get_origin(item) is typing.Union else (item,)
    return any(_is_message_type(_unannotated(member)) for member in members)


_WRAPPERS = (
    typing.Annotated,
    typing_extensions.NotRequired,
    typing_extensions.Required,
    typing_extensions.ReadOnly,
)


def _unannotated(annotation: Any) -> Any:
    """``annotation`` without ``Annotated``, ``NotRequired``, ``Required``, ``ReadOnly``."""
    while typing.get_origin(annotation) in _WRAPPERS:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _is_message_type(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseMessage)


def _coerce_messages(value: Any) -> list[Any]:
    """What ``add_messages`` would make of ``value``, leaving serialized messages
    (objects with a ``type``) for pydantic to decode."""
    items = value if isinstance(value, list) else [value]
    return [_coerce_message(item) for item in items]


def _coerce_message(item: Any) -> Any:
    if isinstance(item, BaseMessage) or (isinstance(item, dict) and "type" in item):
        return item
    try:
        return convert_to_messages([item])[0]
    except Exception as exc:  # NotImplementedError too: a bad message is the client's
        raise ValueError(f"Not a message: {exc}") from None
