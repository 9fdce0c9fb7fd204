"""Custom types: inputs declared with a CustomUserType subclass reach the runnable as that
pydantic model, not as a dict; ``with_types`` fixes a badly inferred type.

Run: ``chainserve serve server:app``.
"""

from typing import Any

from fastapi import FastAPI
from langchain_core.runnables import RunnableLambda

from chainserve import CustomUserType, add_routes


class Order(CustomUserType):
    item: str
    quantity: int = 1


def describe_order(order: Order) -> str:
    assert isinstance(order, Order)  # a model, thanks to CustomUserType
    return f"{order.quantity} x {order.item}"


def add_one(x: Any) -> int:
    """Accepts anything as written; with_types below declares the real input type."""
    return x + 1


app = FastAPI(title="Custom types")
add_routes(app, RunnableLambda(describe_order), path="/order")
add_routes(app, RunnableLambda(add_one).with_types(input_type=int), path="/add_one")
