"""Retriever: a keyword retriever over chainserve's bundled documents, served as a runnable.

Run in this folder: ``chainserve serve server:app``.
"""

from fastapi import FastAPI

from chainserve import add_routes
from chainserve.demo import KeywordRetriever, load_documents

app = FastAPI(title="Retriever")
add_routes(app, KeywordRetriever(documents=load_documents(), k=2), path="/search")
