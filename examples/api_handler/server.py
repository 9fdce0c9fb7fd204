"""APIHandler: write the endpoints yourself (any FastAPI pattern) and let the handler answer.

More work than add_routes, but full control: here ``/joke/invoke`` and ``/joke/stream`` take
an ``X-Language`` header, and ``/joke/input_schema`` documents the input.
Run: ``chainserve serve server:app``.
"""

from typing import Annotated

from fastapi import FastAPI, Header, Request, Response
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import PromptTemplate

from chainserve import APIHandler
from chainserve.demo import chat_model

chain = (
    PromptTemplate.from_template("tell me a joke about {topic}") | chat_model() | StrOutputParser()
)
handler = APIHandler(chain, path="/joke")
app = FastAPI(title="APIHandler")


def _server_config(language: str | None) -> dict:
    return {"metadata": {"language": language or "en"}}


@app.post("/joke/invoke")
async def invoke(request: Request, x_language: Annotated[str | None, Header()] = None) -> Response:
    return await handler.invoke(request, server_config=_server_config(x_language))


@app.post("/joke/stream")
async def stream(request: Request, x_language: Annotated[str | None, Header()] = None) -> Response:
    return await handler.stream(request, server_config=_server_config(x_language))


@app.get("/joke/input_schema")
async def input_schema(request: Request) -> Response:
    return await handler.input_schema(request)
