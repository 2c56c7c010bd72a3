"""LoRA on a transformers Mixtral's experts, as peft 0.21 converts the config.

transformers 5 fuses each layer's experts into two 3-D parameters of
``MixtralExperts`` (``gate_up_proj``: experts x 2*inner x hidden,
``down_proj``: experts x hidden x inner) and its router ``gate`` is no
longer an ``nn.Linear``.  peft (``utils/transformers_weight_conversion.py``,
``_convert_peft_config_moe``) therefore rewrites a LoraConfig for a
``mixtral`` model: the version-4 names in ``target_modules`` (``gate``,
``w1``, ``w3``, ``w2``; ``"all-linear"`` means every ``nn.Linear`` but the
output embeddings, plus all four) become ``target_parameters``:
``gate.weight``, ``gate_up_proj`` (w1 and w3, fused: both or neither, with
rank ``2 r``) and ``down_proj``.  Each targeted parameter gets a
``ParamWrapper``: ``lora_A`` = (rank * experts) x in, ``lora_B`` =
out x (rank * experts), where a 3-D parameter's in/out are its last two
dimensions swapped (``MixtralExperts`` is not ``is_transposed``).  The
router's 2-D weight wraps as a Linear would (r x hidden, experts x r), so
paramlint adapts the router ``Linear`` layer.  ``ParamWrapper`` refuses DoRA
and dropout.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..core.diagnostics import Finding
from .layers.base import Shape

# peft's _MOE_TARGET_MODULE_MAPPING["mixtral"] and _MOE_FUSED_TARGETS["mixtral"]
MIXTRAL_NAMES = {"gate": "gate.weight", "w1": "gate_up_proj", "w3": "gate_up_proj", "w2": "down_proj"}
FUSED = {"gate_up_proj": ("w1", "w3")}


class MoeTargets:
    """The converted config: module targets left, parameter targets with their rank."""

    __slots__ = ("modules", "parameters")

    def __init__(self, modules: Any, parameters: Dict[str, int]) -> None:
        self.modules = modules
        self.parameters = parameters


def convert_mixtral_targets(target: Any, r: int, linear_paths: Sequence[str], all_paths: Sequence[str],
                            output_embeddings: Optional[str]) -> Tuple[Optional[MoeTargets], List[Finding]]:
    """``target_modules`` of a Mixtral LoraConfig as peft rewrites it (None: nothing to rewrite)."""
    if target is None:
        return None, []
    if isinstance(target, str):
        if target.lower() == "all-linear":
            leaves = {p.rsplit(".", 1)[-1] for p in linear_paths if p != output_embeddings} | set(MIXTRAL_NAMES)
        else:  # a regular expression: the leaf names it matches, and the experts' version-4 names it would
            leaves = {p.rsplit(".", 1)[-1] for p in all_paths if re.fullmatch(target, p)}
            experts = [p for p in all_paths if p.rsplit(".", 1)[-1] == "experts"]
            leaves |= {old for old in ("w1", "w3", "w2") if any(re.fullmatch(target, f"{e}.{old}") for e in experts)}
            if not leaves:
                return None, []
        target = sorted(leaves)
    modules, parameters, matched = [], {}, {}  # type: ignore[var-annotated]
    for name in target:
        old = next((o for o in MIXTRAL_NAMES if name == o or name.endswith("." + o)), None)
        if old is None:
            modules.append(name)
            continue
        parameters[MIXTRAL_NAMES[old]] = r
        matched.setdefault(MIXTRAL_NAMES[old], set()).add(old)
    findings = []
    for new, olds in FUSED.items():
        present = matched.get(new, set())
        if 0 < len(present) < len(olds):
            missing = ", ".join(sorted(set(olds) - present))
            findings.append(Finding("PL521", f"peft cannot target {', '.join(sorted(present))} of a Mixtral without "
                                             f"{missing}: transformers fuses them into {new}",
                                    ("training", "lora", "target_modules")))
        elif len(present) == len(olds):
            parameters[new] = r * len(olds)
    return MoeTargets(modules, parameters), findings


def expert_adapter_shapes(params: Dict[str, Shape], parameters: Dict[str, int]) -> List[Tuple[str, Shape]]:
    """(name, shape) of the ParamWrapper adapters on an ``Experts`` layer's 3-D parameters."""
    shapes = []
    for name in ("gate_up_proj", "down_proj"):
        if name in parameters and name in params:
            experts, out_dim, in_dim = params[name]  # (experts, in, out) to peft, swapped: not is_transposed
            rank = parameters[name] * experts
            shapes += [(f"{name}.lora_A", (rank, in_dim)), (f"{name}.lora_B", (out_dim, rank))]
    return shapes
