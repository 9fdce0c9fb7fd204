"""A keyword retriever over the documents bundled with chainserve: search with no embeddings."""

from __future__ import annotations

import re
from importlib import resources

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

_STOP_WORDS = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "do",
        "does",
        "for",
        "from",
        "how",
        "i",
        "in",
        "is",
        "it",
        "of",
        "on",
        "or",
        "so",
        "the",
        "their",
        "then",
        "there",
        "they",
        "this",
        "to",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "with",
        "you",
        "your",
    }
)


def keywords(text: str) -> set[str]:
    """The lower-cased words of ``text``, without common English stop words."""
    return {w for w in re.findall(r"\w+", text.lower()) if w not in _STOP_WORDS}


def load_documents() -> list[Document]:
    """The bundled documents: one per paragraph, with the file name as ``source``."""
    folder = resources.files("chainserve.demo").joinpath("documents")
    documents = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".md"):
            for paragraph in entry.read_text(encoding="utf-8").split("\n\n"):
                if paragraph.strip():
                    metadata = {"source": entry.name}
                    documents.append(Document(page_content=paragraph.strip(), metadata=metadata))
    return documents


class KeywordRetriever(BaseRetriever):
    """Returns the ``k`` documents sharing the most words with the query (none if no word)."""

    documents: list[Document]
    k: int = 3

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        asked = keywords(query)
        scored = [(len(asked & keywords(d.page_content)), i) for i, d in enumerate(self.documents)]
        ranked = sorted((item for item in scored if item[0]), key=lambda item: -item[0])
        return [self.documents[index] for _, index in ranked[: self.k]]
