"""The playground: a web page at ``<path>/playground/`` to try a served runnable.

The page is plain HTML, CSS and JavaScript modules shipped inside the package (no
build step, no CDN). It talks to the runnable's own endpoints with relative URLs, so
it works under router prefixes and behind a ``root_path``.
"""

from chainserve.playground.route import STATIC_DIR, mount_playground, resolve_static

__all__ = ["STATIC_DIR", "mount_playground", "resolve_static"]
