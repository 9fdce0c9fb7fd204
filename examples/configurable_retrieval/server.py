"""Configurable retriever: the client picks the index to search at run time.

``{"config": {"configurable": {"index_name": "animals"}}}``. Run: ``chainserve serve server:app``.
"""

from fastapi import FastAPI
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import ConfigurableField

from chainserve import add_routes
from chainserve.demo import KeywordRetriever, load_documents

# Two indexes: chainserve's documentation and a few animal facts.
INDEXES = {
    "chainserve": [d for d in load_documents() if d.metadata["source"] != "animals.md"],
    "animals": [d for d in load_documents() if d.metadata["source"] == "animals.md"],
}


class IndexRetriever(BaseRetriever):
    """Searches the index named ``index_name``."""

    index_name: str = "chainserve"

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return KeywordRetriever(documents=INDEXES[self.index_name]).invoke(query)


retriever = IndexRetriever().configurable_fields(
    index_name=ConfigurableField(
        id="index_name", name="Index name", description=f"One of {', '.join(INDEXES)}"
    )
)
app = FastAPI(title="Configurable retriever")
add_routes(app, retriever, path="/search")
