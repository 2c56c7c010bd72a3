"""The ``inference:`` section in the pipeline: its figures for the budgets
``kv_cache`` and ``inference_memory``, and PL503 when the section cannot
be applied to the graph."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Tuple

from ..core.diagnostics import Finding
from ..core.units import format_bytes
from ..model.analysis import INT64_MAX, ShapeAnalysis, magnitude
from ..model.budgets import Figure
from ..model.inference_setup import InferenceSetup, read_inference
from .precision import CUDA, DeviceModel

if TYPE_CHECKING:  # the serving model (memory.inference) is imported only for a config with `inference:`
    from .inference import InferenceEstimate

INFERENCE_BUDGETS = ("kv_cache", "inference_memory")


def check_inference(data: Mapping[str, Any], shapes: ShapeAnalysis, output: Any, *, device: DeviceModel = CUDA
                    ) -> Tuple[Optional[InferenceEstimate], List[Finding], Dict[str, Figure]]:
    """The serving estimate (None without a usable section), findings, figures."""
    section = data.get("inference")
    budgets = data.get("budgets") or {}
    setup = read_inference(section)
    if setup is None:
        return None, [Finding("PL503", f"the budget {name} needs an `inference:` section (batch_size, "
                                       f"prompt_tokens, new_tokens, dtype)", ("budgets", name))
                      for name in INFERENCE_BUDGETS if name in budgets], {}
    from .inference import InferenceError, estimate_inference

    if "new_tokens" in section and "context_length" in section:
        return None, [Finding("PL503", "give new_tokens or context_length, not both: the cache holds "
                                       "prompt_tokens + new_tokens - 1 positions, or context_length",
                              ("inference", "context_length"))], {}
    try:
        estimate = estimate_inference(data, shapes, output, setup, device=device)
    except InferenceError as error:
        where = ("inference", "prompt_tokens") if "prompt_tokens" in section and "does not accept" in str(error) \
            else ("inference",)
        return None, [Finding("PL503", str(error), where)], {}
    if estimate.peak > INT64_MAX:
        return None, [Finding("PL405", f"serving {estimate.batch_size:,} sequences of {estimate.cached_tokens:,} "
                                       f"cached tokens needs {magnitude(estimate.peak)} bytes at its peak (KV cache "
                                       f"{magnitude(estimate.kv_cache)}): more than torch can allocate (2^63-1 bytes)",
                              ("inference", "batch_size") if "batch_size" in section else ("inference",))], {}
    return estimate, [], inference_figures(estimate, setup)


def kv_cache_text(estimate: InferenceEstimate, setup: InferenceSetup) -> str:
    """How the cache bytes are made up: sequences x positions kept x bytes per position, by group of layers."""
    tokens = estimate.cached_tokens
    groups: Dict[int, List[int]] = {}
    for layer in estimate.layers:
        kept = layer.retained(tokens)
        groups.setdefault(kept, [0, 0])
        groups[kept][0] += 1
        groups[kept][1] += setup.kv_bytes * layer.per_token
    terms = [f"{kept:,} positions x {per:,} bytes ({count} {'sliding-window' if kept < tokens else 'full'} "
             f"attention layers)" for kept, (count, per) in sorted(groups.items(), reverse=True)]
    return (f"{estimate.batch_size} sequences x " + (terms[0] if len(terms) == 1 else f"({' + '.join(terms)})")
            + f"; keys and values in {setup.kv_cache_dtype}, {tokens:,} tokens cached")


def inference_figures(estimate: InferenceEstimate, setup: InferenceSetup) -> Dict[str, Figure]:
    phase = "prefill" if estimate.prefill_peak >= estimate.decode_peak else "decode"
    others = estimate.peak - estimate.weights - estimate.overhead
    parts = (("weights", estimate.weights), ("KV cache, activations and transients", others),
             ("overhead", estimate.overhead))
    memory_text = (f"{phase} peak at batch {estimate.batch_size}, {estimate.prompt_tokens:,}-token prompt, "
                   f"{estimate.cached_tokens:,} cached: "
                   + " + ".join(f"{name} {format_bytes(value)}" for name, value in parts if value))
    contributors = tuple((f"{estimate.layers[i].label}", estimate.batch_size * setup.kv_bytes
                          * estimate.layers[i].per_token * estimate.layers[i].retained(estimate.cached_tokens))
                         for i in range(min(3, len(estimate.layers))))
    return {
        "kv_cache": Figure(estimate.kv_cache, kv_cache_text(estimate, setup), contributors, True),
        "inference_memory": Figure(estimate.peak, memory_text, tuple((n, v) for n, v in parts if v), True),
    }
