"""Chat with a history persisted per ``user_id`` and ``conversation_id``, in a SQLite file.

The client picks the ``conversation_id`` (config ``configurable``); the ``user_id`` comes from
the ``X-User-Id`` header, set by the server's per-request config modifier, so a client
cannot read another user's conversations. A real server gets the user from its
authentication instead (see ``examples/auth``). Run: ``chainserve serve server:app``.
"""

import os
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import ConfigurableFieldSpec
from langchain_core.runnables.history import RunnableWithMessageHistory
from pydantic import BaseModel

from chainserve import add_routes
from chainserve.demo import SQLiteChatMessageHistory, chat_model


def get_history(user_id: str, conversation_id: str) -> SQLiteChatMessageHistory:
    path = os.environ.get("CHAT_HISTORY_DB", "chat_history.sqlite3")
    return SQLiteChatMessageHistory(f"{user_id}/{conversation_id}", path)


def _id_field(name: str, description: str) -> ConfigurableFieldSpec:
    return ConfigurableFieldSpec(id=name, annotation=str, name=name, description=description)


prompt = ChatPromptTemplate.from_messages(
    [
        ("system", "You are a helpful assistant."),
        MessagesPlaceholder(variable_name="history"),
        ("human", "{human_input}"),
    ]
)
chain = RunnableWithMessageHistory(
    prompt | chat_model(),
    get_history,
    input_messages_key="human_input",
    history_messages_key="history",
    history_factory_config=[
        _id_field("user_id", "The user: set by the server"),
        _id_field("conversation_id", "The conversation, chosen by the client"),
    ],
)


def set_user(config: dict[str, Any], request: Request) -> dict[str, Any]:
    """Take the user from the request, overriding whatever the client sent."""
    user_id = request.headers.get("x-user-id")
    if not user_id:
        raise HTTPException(status_code=401, detail="X-User-Id header required")
    config.setdefault("configurable", {})["user_id"] = user_id
    return config


class InputChat(BaseModel):
    human_input: str


app = FastAPI(title="Chat with persistence per user and conversation")
add_routes(
    app,
    chain.with_types(input_type=InputChat),
    path="/chat",
    per_req_config_modifier=set_user,
)
