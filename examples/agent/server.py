"""Agent with tools: the model calls tools until it can answer; stream_events shows each step.

Run in this folder: ``chainserve serve server:app``. The local model calls the tool whose name
it sees in the question ("multiply 6 and 7", "search the docs for workers").
"""

from fastapi import FastAPI
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool
from pydantic import BaseModel

from chainserve import add_routes
from chainserve.demo import KeywordRetriever, chat_model, load_documents

retriever = KeywordRetriever(documents=load_documents(), k=1)
MAX_STEPS = 5


@tool
def search_docs(query: str) -> str:
    """Search the chainserve documentation."""
    return "\n".join(doc.page_content for doc in retriever.invoke(query)) or "nothing found"


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


TOOLS = {t.name: t for t in (search_docs, multiply)}
model = chat_model().bind_tools(list(TOOLS.values()))


class AgentInput(BaseModel):
    input: str


class AgentOutput(BaseModel):
    output: str


async def run_agent(inputs: dict) -> dict:
    """Call the model; run the tools it asks for; repeat until it answers."""
    messages: list[BaseMessage] = [
        SystemMessage(content="You are a helpful assistant. Use the tools."),
        HumanMessage(content=inputs["input"]),
    ]
    for _ in range(MAX_STEPS):
        reply = await model.ainvoke(messages)
        messages.append(reply)
        if not reply.tool_calls:
            return {"output": reply.text}
        for call in reply.tool_calls:
            messages.append(await TOOLS[call["name"]].ainvoke(call))
    return {"output": "Stopped: too many steps."}


agent = RunnableLambda(run_agent, name="agent").with_types(
    input_type=AgentInput, output_type=AgentOutput
)
app = FastAPI(title="Agent")
add_routes(app, agent, path="/agent")
