"""LCEL with a dict input: keep the input (RunnablePassthrough) and add computed keys.

Input ``{"topic": "cats", "audience": "kids"}`` gives back the input plus a ``joke`` and a
``length``. Run: ``chainserve serve server:app``.
"""

from operator import itemgetter

from fastapi import FastAPI
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import PromptTemplate
from langchain_core.runnables import RunnablePassthrough
from pydantic import BaseModel

from chainserve import add_routes
from chainserve.demo import chat_model

joke = (
    PromptTemplate.from_template("tell me a joke about {topic}") | chat_model() | StrOutputParser()
)
chain = (
    {"original": RunnablePassthrough(), "topic": itemgetter("topic")}
    | RunnablePassthrough.assign(joke=joke)
    | RunnablePassthrough.assign(length=lambda x: len(x["joke"]))
)


class JokeRequest(BaseModel):
    topic: str
    audience: str = "everyone"


app = FastAPI(title="LCEL passthrough dict")
add_routes(app, chain.with_types(input_type=JokeRequest), path="/passthrough")
