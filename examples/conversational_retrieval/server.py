"""Conversational retriever: rephrase the follow-up question with the history, then answer
from the retrieved documents.

Run in this folder: ``chainserve serve server:app``.
"""

from operator import itemgetter

from fastapi import FastAPI
from langchain_core.documents import Document
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableBranch, RunnablePassthrough
from pydantic import BaseModel, Field

from chainserve import add_routes
from chainserve.demo import KeywordRetriever, chat_model, load_documents

model = chat_model()
retriever = KeywordRetriever(documents=load_documents(), k=2)

condense = (
    ChatPromptTemplate.from_template(
        "Given this conversation:\n{history}\nRephrase the follow-up question as a standalone "
        "question: {question}"
    )
    | model
    | StrOutputParser()
)
answer = ChatPromptTemplate.from_template(
    "Answer from the context only.\nContext:\n{context}\nQuestion: {question}"
)


class ConversationInput(BaseModel):
    """A question, after the (human, ai) turns so far."""

    chat_history: list[tuple[str, str]] = Field(default_factory=list)
    question: str


def _history(inputs: dict) -> str:
    return "\n".join(f"Human: {h}\nAssistant: {a}" for h, a in inputs["chat_history"])


def _context(documents: list[Document]) -> str:
    return "\n".join(doc.page_content for doc in documents)


standalone_question = RunnableBranch(
    (
        lambda x: bool(x["chat_history"]),
        {"history": _history, "question": itemgetter("question")} | condense,
    ),
    itemgetter("question"),
)
chain = (
    RunnablePassthrough.assign(standalone=standalone_question)
    | RunnablePassthrough.assign(context=itemgetter("standalone") | retriever | _context)
    | answer
    | model
    | StrOutputParser()
)

app = FastAPI(title="Conversational retriever")
add_routes(app, chain.with_types(input_type=ConversationInput), path="/conversational_retrieval")
