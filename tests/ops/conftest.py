from __future__ import annotations

import sys
from pathlib import Path

# The real command's helpers (tests/cli/running.py), for the tests of `chainserve serve`.
sys.path.insert(0, str(Path(__file__).parents[1] / "cli"))
