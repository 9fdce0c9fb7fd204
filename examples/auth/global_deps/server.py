"""Auth with global dependencies: every route of the app, add_routes' included, needs a token.

Simple, and shows in the OpenAPI docs; but it cannot do per-user logic (see
per_req_config_modifier and api_handler). Send ``X-Token: secret-token``.
Run: ``chainserve serve server:app``.
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


app = FastAPI(title="Auth: global dependencies", dependencies=[Depends(verify_token)])
add_routes(app, chat_model(), path="/chat")
