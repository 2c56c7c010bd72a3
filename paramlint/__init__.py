"""paramlint: a static linter for neural-network architecture configs."""
from __future__ import annotations

__version__ = "0.1.0"
