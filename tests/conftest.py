from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))


def pytest_configure(config):
    # CI sets PARAMLINT_REQUIRE_TORCH=1: the torch oracle must run there, never skip.
    if os.environ.get("PARAMLINT_REQUIRE_TORCH") == "1":
        try:
            import torch  # noqa: F401
        except ImportError as error:  # pragma: no cover - CI misconfiguration
            raise pytest.UsageError(f"PARAMLINT_REQUIRE_TORCH=1 but torch cannot be imported: {error}")
    # ... and PARAMLINT_REQUIRE_ULTRALYTICS=1 in the second environment, where the YOLO importer's oracle lives
    if os.environ.get("PARAMLINT_REQUIRE_ULTRALYTICS") == "1":
        os.environ.setdefault("YOLO_OFFLINE", "1")  # no update checks or downloads
        try:
            import ultralytics  # noqa: F401
        except ImportError as error:  # pragma: no cover - CI misconfiguration
            raise pytest.UsageError(f"PARAMLINT_REQUIRE_ULTRALYTICS=1 but ultralytics cannot be imported: {error}")


@pytest.fixture
def root() -> Path:
    return ROOT
