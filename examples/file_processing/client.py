"""Send a file by value, base64-encoded: ``python client.py [BASE_URL] [FILE]``."""

import base64
import sys
from pathlib import Path

from chainserve import RemoteRunnable


def main(base_url: str = "http://localhost:8000", path: str = __file__) -> dict:
    encoded = base64.b64encode(Path(path).read_bytes()).decode()
    result = RemoteRunnable(f"{base_url}/file").invoke({"file": encoded, "num_chars": 40})
    print(result)
    return result


if __name__ == "__main__":
    main(*sys.argv[1:])
