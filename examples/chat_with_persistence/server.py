"""Chat with a history persisted per ``session_id``, in a SQLite file.

The client sends ``{"configurable": {"session_id": "..."}}``; the server loads that session's
messages, answers, and stores the new turn. Run in this folder: ``chainserve serve server:app``
(history in ./chat_history.sqlite3, or the file named by CHAT_HISTORY_DB).
"""

import os

from fastapi import FastAPI
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables.history import RunnableWithMessageHistory
from pydantic import BaseModel

from chainserve import add_routes
from chainserve.demo import SQLiteChatMessageHistory, chat_model


def get_history(session_id: str) -> SQLiteChatMessageHistory:
    return SQLiteChatMessageHistory(
        session_id, os.environ.get("CHAT_HISTORY_DB", "chat_history.sqlite3")
    )


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
)


class InputChat(BaseModel):
    human_input: str


app = FastAPI(title="Chat with persistence")
add_routes(app, chain.with_types(input_type=InputChat), path="/chat")
