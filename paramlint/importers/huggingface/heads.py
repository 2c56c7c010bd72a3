"""Task heads shared by the families: token classification and extractive question answering.

Each function returns the format-1 layers transformers appends to the last
hidden state ``[seq, hidden]``, under transformers' module names:

- ``...ForTokenClassification``: a ``Dropout`` then a ``Linear`` to
  ``num_labels`` on every token (output ``[seq, num_labels]``).
- ``...ForQuestionAnswering``: one ``Linear`` to 2 (``num_labels`` for BERT)
  on every token.  transformers then splits it into ``start_logits`` and
  ``end_logits`` (views: no parameters, no FLOPs); paramlint's output is the
  ``[seq, 2]`` tensor before the split.
"""
from __future__ import annotations

from typing import Any, Dict, List

from .fields import Fields

Entry = Dict[str, Any]


def generic_classifier_dropout(fields: Fields) -> float:
    """transformers' ``GenericForTokenClassification`` (and GPT-2's): ``classifier_dropout`` when the
    config has one, else ``hidden_dropout``, else 0.1 (no decoder config class defines either field,
    so only a config.json that states one changes it)."""
    for name in ("classifier_dropout", "hidden_dropout"):
        if fields.given(name):
            return fields.probability(name)
    return 0.1


def token_classification(fields: Fields, *, dropout: float, bias: bool, name: str) -> List[Entry]:
    return [{"type": "Dropout", "p": dropout, "name": "dropout"},
            {"type": "Linear", "out_features": fields.num_labels(), "bias": bias, "name": name}]


def question_answering(outputs: int = 2) -> List[Entry]:
    return [{"type": "Linear", "out_features": outputs, "name": "qa_outputs"}]


def decoder_head(fields: Fields, head: str) -> List[Entry]:
    """The heads of the decoder families built on transformers' ``GenericFor...`` classes."""
    if head == "ForTokenClassification":
        return token_classification(fields, dropout=generic_classifier_dropout(fields),
                                    bias=fields.flag("token_classification_bias", True), name="score")
    if head == "ForQuestionAnswering":
        return question_answering()
    return []
