"""``python -m chainserve``: the same as the ``chainserve`` command."""

import sys

from chainserve.cli import main

sys.exit(main())
