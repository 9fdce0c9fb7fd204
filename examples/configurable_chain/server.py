"""Configurable chain: a configurable field (the prompt template) and alternatives (prompts).

``{"configurable": {"prompt": "poem"}}`` picks the poem prompt; ``{"configurable":
{"template": "..."}}`` rewrites the joke prompt. Run: ``chainserve serve server:app``.
"""

from fastapi import FastAPI
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import PromptTemplate
from langchain_core.runnables import ConfigurableField

from chainserve import add_routes
from chainserve.demo import chat_model

prompt = (
    PromptTemplate.from_template("tell me a joke about {topic}")
    .configurable_fields(
        template=ConfigurableField(id="template", name="Template", description="Joke prompt")
    )
    .configurable_alternatives(
        ConfigurableField(id="prompt", name="Prompt", description="joke or poem"),
        default_key="joke",
        poem=PromptTemplate.from_template("write a short poem about {topic}"),
    )
)
chain = prompt | chat_model() | StrOutputParser()

app = FastAPI(title="Configurable chain")
add_routes(app, chain, path="/configurable")
