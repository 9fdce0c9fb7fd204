"""``python -m chainserve``: serve the built-in demo on 127.0.0.1."""

from __future__ import annotations

import argparse

import uvicorn

from chainserve.demo import create_app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m chainserve", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    base = f"http://{args.host}:{args.port}"
    print(f"chainserve demo: API docs at {base}/docs; routes /joke /chat /search /greet")
    uvicorn.run(create_app(), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
