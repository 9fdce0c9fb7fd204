"""Call the LLM server as if the models were local: ``python client.py [BASE_URL]``."""

import sys

from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableParallel

from chainserve import RemoteRunnable


def main(base_url: str = "http://localhost:8000") -> dict:
    chat = RemoteRunnable(f"{base_url}/chat")
    joke = RemoteRunnable(f"{base_url}/joke")
    print(joke.invoke({"topic": "parrots"}).content)
    messages = [SystemMessage(content="Act like a parrot."), HumanMessage(content="Hello!")]
    for chunk in chat.stream(messages):  # token by token
        print(chunk.content, end="", flush=True)
    print()
    # Remote runnables compose with local ones.
    prompt = ChatPromptTemplate.from_messages([("human", "Tell me about {topic}")])
    both = prompt | RunnableParallel(chat=chat, again=chat)
    results = both.batch([{"topic": "parrots"}, {"topic": "cats"}])
    print(results)
    return results[0]


if __name__ == "__main__":
    main(*sys.argv[1:])
