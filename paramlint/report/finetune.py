"""The fine-tuning lines of the summary and the ``finetune`` entry of the
JSON report: adapters, quantization, the effective batch and the static
memory parts (before the allocator's rounding)."""
from __future__ import annotations

from typing import Any, Dict, List

from ..core.units import format_bytes
from ..lint import Analysis


def finetune_dict(analysis: Analysis) -> Dict[str, Any]:
    """{} when the config trains no adapters."""
    setup = analysis.training
    run = analysis.finetune
    batch = {"gradient_accumulation_steps": setup.gradient_accumulation_steps, "micro_batch": setup.batch_size,
             "effective_batch": setup.effective_batch}
    if run is None:
        return batch if setup.gradient_accumulation_steps > 1 else {}
    finetune, tuning = run.finetune, run.planned.tuning  # its totals are the whole model's
    settings = finetune.settings
    memory = analysis.memory
    return dict(batch, **{
        "lora": {"r": settings.r, "target_modules": settings.target_modules, "lora_alpha": settings.lora_alpha,
                 "lora_dropout": settings.lora_dropout, "bias": settings.bias, "use_dora": settings.use_dora,
                 "modules_to_save": list(settings.modules_to_save)},
        "adapted_layers": [finetune.paths[i] for i in sorted(finetune.adapted)],
        "params": finetune.params, "trainable_params": finetune.trainable_params,
        "adapter_params": finetune.adapter_params,
        "quantization": None if run.quantization is None else {
            "description": run.quantization.describe(), "quantized_layers": len(run.quantized),
            "packed_bytes": tuning.quantized_bytes, "statistics_bytes": tuning.quantization_stats},
        "memory": {"base_weights": tuning.base_bytes, "adapters": tuning.adapter_bytes,
                   "quantization_statistics": tuning.quantization_stats, "gradients": memory.all_gradients,
                   "optimizer_state": memory.optimizer_state, "activations": memory.forward_activations},
    })


def finetune_lines(analysis: Analysis) -> List[str]:
    info = finetune_dict(analysis)
    if not info:
        return []
    lines = []
    if analysis.finetune is not None:
        lora = info["lora"]
        kind = "DoRA" if lora["use_dora"] else "LoRA"
        lines.append(f"Fine-tuning:           {kind} r={lora['r']} on {len(info['adapted_layers'])} layers: "
                     f"{info['adapter_params']:,} adapter params; bias {lora['bias']}"
                     + (f"; trained copies of {', '.join(lora['modules_to_save'])}" if lora["modules_to_save"]
                        else ""))
        quantization = info["quantization"]
        if quantization is not None:
            lines.append(f"Quantization:          {quantization['description']}: {quantization['quantized_layers']} "
                         f"layers, {format_bytes(quantization['packed_bytes'])} packed + "
                         f"{format_bytes(quantization['statistics_bytes'])} statistics")
        parts = info["memory"]
        lines.append("Weights:               " + ", ".join(
            f"{name.replace('_', ' ')} {format_bytes(value)}" for name, value in parts.items()
            if name in ("base_weights", "adapters", "quantization_statistics")))
    if info["gradient_accumulation_steps"] > 1:
        lines.append(f"Effective batch:       {info['effective_batch']:,} = micro-batch {info['micro_batch']} x "
                     f"{info['gradient_accumulation_steps']} accumulation steps"
                     + (f" x {analysis.training.devices} devices" if analysis.training.devices > 1 else ""))
    return lines
