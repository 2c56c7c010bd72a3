"""Front doors for formats other than paramlint's own: each turns its file into format-1 data.

``FRONT_DOORS`` names each importer with its marker: a cheap test on the
file's bytes (``paramlint.source.sniff``) that says whether the file is the
importer's to read.  The pipeline registers them with the sniffing step, so
a file that no front door claims is skipped unread.
"""
from __future__ import annotations

from typing import List, Tuple

from ..source.sniff import Marker, has_top_level_key

HUGGINGFACE = "huggingface"
ULTRALYTICS = "ultralytics"


def _huggingface(data: bytes, is_json: bool) -> bool:
    """A Hugging Face config.json: a JSON object with a top-level ``model_type``."""
    return is_json and has_top_level_key(data, "model_type", is_json=True)


def _ultralytics(data: bytes, is_json: bool) -> bool:
    """An Ultralytics model YAML: top-level ``backbone`` and ``head`` keys."""
    return not is_json and has_top_level_key(data, "backbone", is_json=False) \
        and has_top_level_key(data, "head", is_json=False)


NO_CONFIGS = ("no model configs found (paramlint reads files with a top-level `paramlint: 1`, Hugging Face "
              "config.json files with a `model_type`, and Ultralytics model YAMLs with `backbone` and `head`)")
"""What the text and GitHub outputs say when no file passed to paramlint was one of these."""

FRONT_DOORS: List[Tuple[str, Marker]] = [(HUGGINGFACE, _huggingface), (ULTRALYTICS, _ultralytics)]
