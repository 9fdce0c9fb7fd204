"""File processing widget: the playground uploads a file as base64; the runnable decodes it.

Run: ``chainserve serve server:app``, then open /file/playground/ to upload a file.
"""

import base64

from fastapi import FastAPI
from langchain_core.runnables import RunnableLambda
from pydantic import Field

from chainserve import CustomUserType, add_routes


class FileProcessingRequest(CustomUserType):
    """A base64-encoded file, and how many characters of it to return."""

    # CustomUserType, not BaseModel: the runnable gets this model, not a dict.
    file: str = Field(..., json_schema_extra={"widget": {"type": "base64file"}})
    num_chars: int = 100


def summarize(request: FileProcessingRequest) -> dict:
    text = base64.b64decode(request.file.encode()).decode("utf-8", errors="replace")
    return {"length": len(text), "start": text[: request.num_chars], "lines": text.count("\n")}


app = FastAPI(title="File processing")
add_routes(
    app, RunnableLambda(summarize).with_types(input_type=FileProcessingRequest), path="/file"
)
