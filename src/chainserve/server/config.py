"""Per-request config: hash and body configs validated, merged, projected, completed.

The order is the contract's: hash config, then body config (LangChain merge rules),
then projection onto the allowed keys, then the trusted ``server_config``, then the
per-request modifier, then the server's own fields, which nobody can override.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Awaitable, Callable, Sequence
from functools import lru_cache
from typing import Any

import orjson
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import merge_configs
from langchain_core.utils.uuid import uuid7
from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from chainserve._version import __version__
from chainserve.server.errors import Loc, RequestError, invalid, validation_error
from chainserve.server.graphs import config_model, required_configurable
from chainserve.server.lzstring import decompress_from_encoded_uri_component
from chainserve.server.observers import run_endpoint
from chainserve.server.requests import header

PerRequestConfigModifier = Callable[
    [dict[str, Any], Request], "dict[str, Any] | Awaitable[dict[str, Any]]"
]

CONFIG_KEYS = frozenset(
    {
        "tags",
        "metadata",
        "callbacks",
        "run_name",
        "max_concurrency",
        "recursion_limit",
        "configurable",
        "run_id",
    }
)


def check_config_keys(config_keys: Sequence[str]) -> tuple[str, ...]:
    """Validate ``add_routes(config_keys=...)`` up front."""
    if isinstance(config_keys, str):
        raise TypeError(f"config_keys must be a sequence of names, not the string {config_keys!r}")
    keys = tuple(config_keys)
    unknown = sorted(set(keys) - CONFIG_KEYS)
    if unknown:
        raise ValueError(f"Unknown config keys {unknown}; expected some of {sorted(CONFIG_KEYS)}")
    if "run_name" in keys:
        raise ValueError("config_keys cannot contain 'run_name': the server sets the run name")
    return keys


def decode_config_hash(config_hash: str) -> dict[str, Any]:
    """The JSON object behind a ``/c/{config_hash}/`` URL segment, or a 400."""
    text = decompress_from_encoded_uri_component(config_hash)
    try:
        value = orjson.loads(text) if text else None
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise RequestError(400, "Invalid config hash")
    return value


class ConfigResolver:
    """Builds the config a run receives, from what the request carries."""

    def __init__(
        self,
        runnable: Runnable,
        *,
        config_keys: Sequence[str],
        run_name: str,
        modifier: PerRequestConfigModifier | None,
    ) -> None:
        self._keys = frozenset(config_keys)
        # ``configurable`` is always modelled so a disallowed one can be refused.
        include = sorted(self._keys | {"configurable"})
        self.model: type[BaseModel] = config_model(runnable, include)
        self._required = required_configurable(runnable)
        self._run_name = run_name
        self._modifier = modifier
        self._hash_config = lru_cache(maxsize=256)(self._decode_hash)

    def validate(self, raw: Any, loc: Loc) -> dict[str, Any]:
        """A client config checked against the model; unknown keys are dropped."""
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            raise invalid("dict_type", loc, "Config must be an object")
        try:
            model = self.model.model_validate(raw)
        except ValidationError as exc:
            raise validation_error(exc, loc) from None
        return model.model_dump(exclude_unset=True)

    def from_hash(self, config_hash: str) -> dict[str, Any]:
        """The validated config of a ``/c/{hash}/`` route ({} without a hash)."""
        if not config_hash:
            return {}
        return dict(self._hash_config(config_hash))

    def _decode_hash(self, config_hash: str) -> dict[str, Any]:
        return self.validate(decode_config_hash(config_hash), ("config_hash",))

    def client_config(
        self, hash_config: dict[str, Any], body_config: dict[str, Any]
    ) -> dict[str, Any]:
        """Hash then body config, merged and cut down to the allowed keys."""
        # merge_configs costs more than the rest of request parsing: skip it when one
        # side is empty, as it is unless the route is a /c/{hash}/ twin.
        merged: dict[str, Any] = (
            dict(merge_configs(hash_config, body_config))  # type: ignore[arg-type]
            if hash_config
            else body_config
        )
        if merged.get("tags"):
            # LangServe merges every request's config with merge_configs, which sorts
            # and deduplicates tags: the order a run sees does not depend on the route.
            merged["tags"] = sorted(set(merged["tags"]))
        if merged.get("configurable") and "configurable" not in self._keys:
            raise RequestError(
                422,
                "The config field `configurable` has been disallowed by the server. "
                "Allow it with add_routes(config_keys=[..., 'configurable']).",
            )
        return {key: value for key, value in merged.items() if key in self._keys}

    async def finish(
        self,
        config: dict[str, Any],
        request: Request,
        endpoint: str,
        server_config: RunnableConfig | None = None,
        loc: Loc = ("config",),
    ) -> RunnableConfig:
        """Apply the server config, the modifier and the server's fixed fields.

        ``loc`` is where the config came from, for a 422 about a missing thread."""
        if server_config:
            config = dict(merge_configs(config, server_config))  # type: ignore[arg-type]
        if self._modifier is not None:
            modified = self._modifier(config, request)
            config = await modified if inspect.isawaitable(modified) else modified
        if self._required:
            self._check_required(config, loc)
        return self.defaults(config, request, endpoint)

    def check_threads(self, configs: list[RunnableConfig]) -> None:
        """A batch for a graph with a checkpointer names each thread once: two runs on
        one thread at a time would race, and one's updates would be lost."""
        if not self._required:
            return
        seen: set[Any] = set()
        for index, config in enumerate(configs):
            thread = config.get("configurable", {}).get("thread_id")
            if thread in seen:
                raise invalid(
                    "value_error",
                    ("config", index, "configurable", "thread_id"),
                    f"Thread {thread!r} appears twice in this batch: its runs would race",
                )
            seen.add(thread)

    def _check_required(self, config: dict[str, Any], loc: Loc) -> None:
        """A graph with a checkpointer cannot run without its thread: say so (422),
        after the server config and the modifier had their chance to set it."""
        configurable = config.get("configurable") or {}
        missing = [key for key in self._required if configurable.get(key) is None]
        if missing:
            key = missing[0]
            raise invalid(
                "missing",
                (*loc, "configurable", key),
                f"This graph has a checkpointer: send config.configurable.{key}",
            )

    def defaults(self, config: dict[str, Any], request: Request, endpoint: str) -> RunnableConfig:
        """The fields the server always sets: run name, run id, tracing metadata.
        The run this task starts next is counted under ``endpoint`` too."""
        run_endpoint.set(endpoint)
        metadata = dict(config.get("metadata") or {})
        metadata["__useragent"] = header(request, b"user-agent")
        metadata["__chainserve_version"] = __version__
        metadata["__langserve_endpoint"] = endpoint
        final: dict[str, Any] = {**config, "metadata": metadata}
        if self._run_name:
            final["run_name"] = self._run_name
        # uuid7, as langchain-core names the runs it starts itself.
        final["run_id"] = _as_uuid(config.get("run_id")) or uuid7()
        return final  # type: ignore[return-value]


def _as_uuid(value: Any) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    return uuid.UUID(str(value))
