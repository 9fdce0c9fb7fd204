"""LangSmith feedback: scores on runs, presigned feedback tokens, public trace links.

Everything here needs LangSmith tracing switched on (``LANGSMITH_TRACING=true`` and an
API key); without it the routes answer 400 with an explanation, never a 500.
"""

from __future__ import annotations

import asyncio
import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from chainserve.server.errors import RequestError

_TRACING_OFF = (
    "The {what} endpoint is only accessible when LangSmith tracing is enabled "
    "on the server (set LANGSMITH_TRACING=true and LANGSMITH_API_KEY)."
)


class FeedbackCreateRequest(BaseModel):
    """A score or value for a run."""

    run_id: UUID | None
    key: str
    score: float | int | bool | None = None
    value: float | int | bool | str | dict[str, Any] | None = None
    comment: str | None = None


class Feedback(FeedbackCreateRequest):
    """Feedback as LangSmith stored it."""

    id: UUID
    created_at: datetime.datetime
    modified_at: datetime.datetime
    correction: dict[str, Any] | None = None


class TokenFeedbackRequest(BaseModel):
    """Feedback given through a presigned token (or its URL)."""

    token_or_url: UUID | str
    score: float | int | bool | None = None
    value: float | int | bool | str | dict[str, Any] | None = None
    comment: str | None = None
    correction: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None


class PublicTraceLinkCreateRequest(BaseModel):
    run_id: UUID


class PublicTraceLink(BaseModel):
    public_url: str


class FeedbackToken(BaseModel):
    key: str
    token_url: str
    expires_at: datetime.datetime | None = None


class TokenFeedbackConfig(BaseModel):
    """``add_routes(token_feedback_config=...)``: one feedback key per run."""

    key_configs: list[dict[str, Any]] = Field(min_length=1, max_length=1)


def tracing_enabled() -> bool:
    from langsmith.utils import tracing_is_enabled

    return bool(tracing_is_enabled())


class LangSmithFeedback:
    """The LangSmith calls behind the feedback routes, made off the event loop."""

    def __init__(
        self,
        *,
        token_feedback_config: TokenFeedbackConfig | dict[str, Any] | None,
    ) -> None:
        self._token_config = (
            TokenFeedbackConfig.model_validate(token_feedback_config)
            if token_feedback_config is not None
            else None
        )
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            from langsmith import Client

            self._client = Client()
        return self._client

    def check(self, what: str) -> None:
        if not tracing_enabled():
            raise RequestError(400, _TRACING_OFF.format(what=what))

    def issues_tokens(self) -> bool:
        """Whether runs get presigned feedback tokens (configured, and tracing on)."""
        return self._token_config is not None and tracing_enabled()

    async def tokens(self, run_id: UUID) -> list[dict[str, Any]]:
        """Presigned feedback tokens for a run ([] unless ``issues_tokens()``)."""
        if not self.issues_tokens():
            return []
        assert self._token_config is not None
        key = self._token_config.key_configs[0]["key"]
        token = await asyncio.to_thread(self.client.create_presigned_feedback_token, run_id, key)
        return [
            FeedbackToken(key=key, token_url=token.url, expires_at=token.expires_at).model_dump(
                mode="json"
            )
        ]

    async def create(self, request: FeedbackCreateRequest) -> Feedback:
        self.check("feedback")
        stored = await asyncio.to_thread(
            self.client.create_feedback,
            request.run_id,
            request.key,
            score=request.score,
            value=request.value,
            comment=request.comment,
            source_info={"from_chainserve": True},
        )
        return Feedback.model_validate(stored, from_attributes=True)

    async def create_from_token(self, request: TokenFeedbackRequest) -> None:
        self.check("token feedback")
        if self._token_config is None:
            raise RequestError(
                400, "Token feedback is not configured on this route (token_feedback_config)."
            )
        await asyncio.to_thread(
            self.client.create_feedback_from_token,
            request.token_or_url,
            score=request.score,
            value=request.value,
            comment=request.comment,
            correction=request.correction,
            metadata={**(request.metadata or {}), "from_chainserve": True},
        )

    async def share(self, request: PublicTraceLinkCreateRequest) -> PublicTraceLink:
        self.check("public trace link")
        url = await asyncio.to_thread(self.client.share_run, request.run_id)
        return PublicTraceLink(public_url=url)
