"""LLMs: a chat model and a prompt | model chain; async, batch and streaming come for free.

Run in this folder: ``chainserve serve server:app``. Uses the local model unless
OPENAI_API_KEY or ANTHROPIC_API_KEY is set (see chainserve.demo.chat_model).
"""

from fastapi import FastAPI
from langchain_core.prompts import ChatPromptTemplate

from chainserve import add_routes
from chainserve.demo import chat_model

model = chat_model()
app = FastAPI(title="LLMs", description="A chat model and a joke chain")
add_routes(app, model, path="/chat")
add_routes(
    app, ChatPromptTemplate.from_template("tell me a joke about {topic}") | model, path="/joke"
)
