"""Chat widget: the playground shows a chat for this input, built from (human, ai) tuples.

The ``widget`` in the field's JSON schema tells the playground which field holds the new
message (``input``) and which output field holds the answer (``output``).
Run: ``chainserve serve server:app``, then open /chat/playground/.
"""

from fastapi import FastAPI
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.runnables import RunnableLambda, RunnableParallel
from pydantic import Field

from chainserve import CustomUserType, add_routes
from chainserve.demo import chat_model


class ChatHistory(CustomUserType):
    """The conversation as (human, ai) pairs, and the new question."""

    chat_history: list[tuple[str, str]] = Field(
        ...,
        examples=[[("human input", "ai response")]],
        json_schema_extra={"widget": {"type": "chat", "input": "question", "output": "answer"}},
    )
    question: str


def to_messages(chat: ChatHistory) -> list[BaseMessage]:
    messages: list[BaseMessage] = []
    for human, ai in chat.chat_history:
        messages += [HumanMessage(content=human), AIMessage(content=ai)]
    return [*messages, HumanMessage(content=chat.question)]


chain = RunnableParallel(answer=RunnableLambda(to_messages) | chat_model() | StrOutputParser())

app = FastAPI(title="Chat widget")
add_routes(app, chain.with_types(input_type=ChatHistory), path="/chat")
