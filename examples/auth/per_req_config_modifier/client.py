"""Each user sees only their documents: ``python client.py [BASE_URL]``."""

import sys

from chainserve import RemoteRunnable


def main(base_url: str = "http://localhost:8000") -> list:
    found = []
    for token in ("token-alice", "token-bob"):
        mine = RemoteRunnable(
            f"{base_url}/my_documents", headers={"Authorization": f"Bearer {token}"}
        )
        documents = mine.invoke("what is my cat called?")
        print(token, [d.page_content for d in documents])
        found.append(documents)
    return found


if __name__ == "__main__":
    main(*sys.argv[1:])
