"""Per-user logic with add_routes: a per-request config modifier authenticates the user and
passes the user's id to the runnable, which only searches that user's documents.

Send ``Authorization: Bearer <token>`` (tokens below). Run: ``chainserve serve server:app``.
"""

from typing import Any

from fastapi import FastAPI, HTTPException, Request
from langchain_core.documents import Document
from langchain_core.runnables import RunnableConfig, RunnableLambda

from chainserve import add_routes
from chainserve.demo import KeywordRetriever

# A stand-in for a user table and a document store: replace with real ones.
TOKENS = {"token-alice": "alice", "token-bob": "bob"}
DOCUMENTS = {
    "alice": [Document(page_content="Alice's cat is called Tiger.")],
    "bob": [Document(page_content="Bob's cat is called Felix.")],
}


def authenticate(config: dict[str, Any], request: Request) -> dict[str, Any]:
    """Set ``configurable.user_id`` from the bearer token; reject unknown tokens."""
    token = request.headers.get("authorization", "").removeprefix("Bearer ")
    if token not in TOKENS:
        raise HTTPException(status_code=401, detail="Invalid token")
    config.setdefault("configurable", {})["user_id"] = TOKENS[token]
    return config


def search_my_documents(query: str, config: RunnableConfig) -> list[Document]:
    user_id = config["configurable"]["user_id"]  # set by the server, never by the client
    return KeywordRetriever(documents=DOCUMENTS[user_id]).invoke(query)


app = FastAPI(title="Auth: per-request config modifier")
add_routes(
    app,
    RunnableLambda(search_my_documents).with_types(input_type=str),
    path="/my_documents",
    per_req_config_modifier=authenticate,
    # The client may send no configurable at all: user_id comes only from the token.
    config_keys=["tags", "metadata"],
)
