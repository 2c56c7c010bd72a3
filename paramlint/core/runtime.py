"""Process-level helpers shared by the pipeline steps."""
from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector, and resume it as it was.

    The pipeline builds large acyclic structures (one node, result and plan
    entry per layer); the collector would walk them again and again with
    nothing to free: 30-40% of the time on a 20,000-layer file.  Reference
    counting still frees everything.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
