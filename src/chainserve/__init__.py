"""chainserve: serve LangChain runnables over HTTP, and call them from anywhere.

A drop-in successor of LangServe: same public names, same wire protocol.
"""

from chainserve._version import __version__
from chainserve.client import RemoteRunnable
from chainserve.schema import CustomUserType
from chainserve.server import APIHandler, add_routes
from chainserve.server.limits import Limits

__all__ = ["APIHandler", "CustomUserType", "Limits", "RemoteRunnable", "__version__", "add_routes"]
