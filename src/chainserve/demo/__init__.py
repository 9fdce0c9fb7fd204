"""The built-in demo and the offline building blocks it shares with the examples.

``create_app()`` is the demo server; ``chat_model()`` picks a real chat model when a key is
set and ``LocalChatModel`` otherwise; ``KeywordRetriever`` searches the bundled documents
(``load_documents()``); ``SQLiteChatMessageHistory`` keeps chat histories in a SQLite file.
"""

from chainserve.demo.app import ROUTES, create_app
from chainserve.demo.history import SQLiteChatMessageHistory
from chainserve.demo.model import LocalChatModel, chat_model, describe, local_reply
from chainserve.demo.retriever import KeywordRetriever, load_documents

__all__ = [
    "ROUTES",
    "KeywordRetriever",
    "LocalChatModel",
    "SQLiteChatMessageHistory",
    "chat_model",
    "create_app",
    "describe",
    "load_documents",
    "local_reply",
]
