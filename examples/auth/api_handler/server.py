"""Per-user logic with APIHandler: a FastAPI dependency authenticates the user, and the
handler runs the retriever with that user's id in a server-side config, so each user only
searches their own documents. The endpoints show the auth in the OpenAPI docs.

Send ``Authorization: Bearer token-alice`` (or ``token-bob``). Run: ``chainserve serve server:app``.
"""

from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import ConfigurableField

from chainserve import APIHandler
from chainserve.demo import KeywordRetriever

TOKENS = {"token-alice": "alice", "token-bob": "bob"}
DOCUMENTS = [
    Document(page_content="Alice's cat is called Tiger.", metadata={"owner": "alice"}),
    Document(page_content="Alice's cat likes fish.", metadata={"owner": "alice"}),
    Document(page_content="Bob's cat is called Felix.", metadata={"owner": "bob"}),
]


class OwnedDocumentsRetriever(BaseRetriever):
    """Searches only the documents owned by ``user_id``."""

    user_id: str = ""

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        mine = [d for d in DOCUMENTS if d.metadata["owner"] == self.user_id]
        return KeywordRetriever(documents=mine).invoke(query)


retriever = OwnedDocumentsRetriever().configurable_fields(
    user_id=ConfigurableField(id="user_id", name="User", description="Set by the server")
)
# config_keys=(): clients send no configurable; the user id only comes from server_config.
handler = APIHandler(retriever, path="/my_documents", config_keys=())
bearer = HTTPBearer()


def current_user(credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)]) -> str:
    """The user owning the bearer token."""
    if credentials.credentials not in TOKENS:
        raise HTTPException(status_code=401, detail="Invalid token")
    return TOKENS[credentials.credentials]


app = FastAPI(title="Auth: APIHandler with per-user documents")


@app.post("/my_documents/invoke")
async def invoke(request: Request, user: Annotated[str, Depends(current_user)]) -> Response:
    return await handler.invoke(request, server_config={"configurable": {"user_id": user}})


@app.post("/my_documents/stream")
async def stream(request: Request, user: Annotated[str, Depends(current_user)]) -> Response:
    return await handler.stream(request, server_config={"configurable": {"user_id": user}})
