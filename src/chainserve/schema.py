"""Types that users put in their runnables' signatures."""

from __future__ import annotations

from pydantic import BaseModel

__all__ = ["CustomUserType"]


class CustomUserType(BaseModel):
    """Subclass this for inputs the runnable should receive as models, not dicts.

    The server validates request input against the runnable's input schema; models of
    this type reach the runnable as instances instead of being unpacked into dicts.
    """
