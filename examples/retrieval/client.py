"""Use the remote retriever in a local chain: ``python client.py [BASE_URL]``."""

import sys

from langchain_core.runnables import RunnableLambda

from chainserve import RemoteRunnable


def main(base_url: str = "http://localhost:8000") -> list[str]:
    search = RemoteRunnable(f"{base_url}/search")
    print(search.invoke("how do streams work?"))
    sources = search | RunnableLambda(lambda docs: [d.metadata["source"] for d in docs])
    found = sources.invoke("docker workers")
    print(found)
    return found


if __name__ == "__main__":
    main(*sys.argv[1:])
