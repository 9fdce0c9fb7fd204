"""chainserve's server for ``bench/openai.py``: ``chat``, the fake model, served with

    python -m chainserve serve bench.openai_apps:chat --path /chat --openai

(``/chat/stream`` and, as model ``chat``, ``/v1/chat/completions``). LitServe's server
is ``bench/openai_litserve.py``.
"""

from bench.openai_model import TokenModel

chat = TokenModel()
