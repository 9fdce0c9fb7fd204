"""Auth with path dependencies: only the routes made by this add_routes need a token.

Send ``X-Token: secret-token``. Run: ``chainserve serve server:app``.
"""

import os
from typing import Annotated

from fastapi import Depends, FastAPI, Header, HTTPException

from chainserve import add_routes
from chainserve.demo import chat_model

TOKEN = os.environ.get("EXAMPLE_TOKEN", "secret-token")


async def verify_token(x_token: Annotated[str, Header()]) -> None:
    """Reject requests without the right ``X-Token`` header."""
    if x_token != TOKEN:
        raise HTTPException(status_code=401, detail="X-Token header invalid")


app = FastAPI(title="Auth: path dependencies")


@app.get("/health")
async def health() -> dict:
    """Open to everyone."""
    return {"ok": True}


add_routes(app, chat_model(), path="/chat", dependencies=[Depends(verify_token)])
