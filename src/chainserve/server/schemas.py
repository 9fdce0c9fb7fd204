"""JSON schemas of a runnable's input, output and config, computed once per config.

A runnable whose types pydantic cannot describe (say, an unannotated generator or an
``AsyncIterator`` annotation) still gets served: its schema is ``{}`` (any value)
and a warning is logged once, instead of ``add_routes`` failing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import orjson
from langchain_core.runnables import Runnable, RunnableConfig

from chainserve.server.errors import logger
from chainserve.server.graphs import config_model, input_model, output_model

Schema = dict[str, Any]
_CACHE_SIZE = 128


def config_key(config: Any) -> bytes:
    """A cache key for a config value (sorted JSON; odd objects by their ``str``)."""
    return orjson.dumps(config, option=orjson.OPT_SORT_KEYS, default=str)


def json_schema(build: Callable[[], Any], what: str) -> Schema:
    """``build().model_json_schema()``, or ``{}`` if pydantic cannot describe it."""
    try:
        return build().model_json_schema()
    except Exception as exc:
        logger.warning("No JSON schema for %s (%s); documenting it as any value", what, exc)
        return {}


class RunnableSchemas:
    """The three schema endpoints' answers, cached by config."""

    def __init__(self, runnable: Runnable, config_keys: Sequence[str]) -> None:
        self._runnable = runnable
        self._config_keys = list(config_keys)
        self._name = runnable.get_name()
        self._default = (self._input({}), self._output({}), self._config({}))
        self._cache: dict[bytes, tuple[Schema, Schema, Schema]] = {}

    def input(self, config: dict[str, Any]) -> Schema:
        return self._default[0] if not config else self._for(config)[0]

    def output(self, config: dict[str, Any]) -> Schema:
        return self._default[1] if not config else self._for(config)[1]

    def config(self, config: dict[str, Any]) -> Schema:
        return self._default[2] if not config else self._for(config)[2]

    def _for(self, config: dict[str, Any]) -> tuple[Schema, Schema, Schema]:
        # Computed from the real config; the key only names it in the cache.
        key = config_key(config)
        run_config = cast(RunnableConfig, config)
        if key not in self._cache:
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = (
                self._input(run_config),
                self._output(run_config),
                self._config(run_config),
            )
        return self._cache[key]

    def _input(self, config: RunnableConfig) -> Schema:
        return json_schema(lambda: input_model(self._runnable, config), f"{self._name} input")

    def _output(self, config: RunnableConfig) -> Schema:
        return json_schema(lambda: output_model(self._runnable, config), f"{self._name} output")

    def _config(self, config: RunnableConfig) -> Schema:
        return json_schema(
            lambda: config_model(self._runnable.with_config(config), self._config_keys),
            f"{self._name} config",
        )
