"""Two turns of one session: the second answer knows the first. ``python client.py [URL]``."""

import sys
import uuid

from chainserve import RemoteRunnable


def main(base_url: str = "http://localhost:8000") -> str:
    chat = RemoteRunnable(f"{base_url}/chat").with_config(
        configurable={"session_id": str(uuid.uuid4())}
    )
    print(chat.invoke({"human_input": "my name is Ann"}).content)
    second = chat.invoke({"human_input": "what is my name?"}).content
    print(second)  # the local model says how many earlier messages it was given
    return second


if __name__ == "__main__":
    main(*sys.argv[1:])
