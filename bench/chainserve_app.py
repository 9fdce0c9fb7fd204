"""The benchmark's chainserve app as a module attribute, for ``chainserve serve``."""

from bench.servers import chainserve_app

app = chainserve_app()
