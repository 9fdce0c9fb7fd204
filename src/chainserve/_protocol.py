"""Wire-protocol names shared by the server and the client."""

from __future__ import annotations

# The run filters of /stream_log and /stream_events: each null or a list of strings.
LOG_FILTERS = (
    "include_names",
    "include_types",
    "include_tags",
    "exclude_names",
    "exclude_types",
    "exclude_tags",
)
