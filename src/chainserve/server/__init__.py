"""The server half: ``add_routes`` and ``APIHandler``."""

from chainserve.server.handler import APIHandler
from chainserve.server.routes import add_routes

__all__ = ["APIHandler", "add_routes"]
