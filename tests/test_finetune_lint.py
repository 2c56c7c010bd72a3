"""Fine-tuning through the linter: diagnostics, the summary and JSON,
budgets, gradient accumulation and ``paramlint fit``."""
from __future__ import annotations

import io
import json
from pathlib import Path

import yaml

from paramlint.api import lint_text
from paramlint.commands.fit import main as fit_main
from paramlint.memory.model import MemoryModel
from paramlint.memory.precision import CUDA
from paramlint.memory.quantization import weight_4bit_bytes
from paramlint.report.json_format import render as render_json
from paramlint.report.summary import render_summary

ROOT = Path(__file__).resolve().parent.parent
LLAMA = (ROOT / "tests" / "finetune_cases" / "tiny_llama.yaml").read_text()


def config(training: str) -> str:
    return LLAMA + "training:\n" + training


QLORA = """\
  batch_size: 2
  gradient_accumulation_steps: 4
  optimizer: AdamW8bit
  precision: bf16-mixed
  lora: {r: 8, target_modules: [q_proj, v_proj], lora_dropout: 0.05}
  quantization: {load_in_4bit: true, bnb_4bit_quant_type: nf4, bnb_4bit_use_double_quant: true,
                 bnb_4bit_compute_dtype: bfloat16}
"""


def test_unknown_target_is_pl521_at_target_modules() -> None:
    text = config("  lora: {r: 8, target_modules: [qq_proj]}\n")
    report = lint_text(text)
    codes = [(d.code, d.line) for d in report.diagnostics]
    assert codes == [("PL521", text.count("\n"))]
    assert "layers.0.self_attn.q_proj" in report.diagnostics[0].message


def test_unsupported_target_and_bad_fields() -> None:
    assert [d.code for d in lint_text(config("  lora: {r: 8, target_modules: [input_layernorm]}\n")).diagnostics] \
        == ["PL521"]
    assert [d.code for d in lint_text(config("  lora: {r: 0, target_modules: [q_proj]}\n")).diagnostics] == ["PL202"]
    assert [d.code for d in lint_text(config("  lora: {r: 8, target_modules: [q_proj], bias: some}\n")).diagnostics] \
        == ["PL202"]
    assert [d.code for d in lint_text(config("  lora: {r: 8, target_module: [q_proj]}\n")).diagnostics][0] \
        in ("PL201", "PL203")


def test_a_branch_torch_cannot_run_is_pl521() -> None:
    """peft's lora_A of a dilated conv has no dilation: its output does not match the layer's."""
    text = ("paramlint: 1\ninput: [3, 16, 16]\nlayers:\n"
            "  - {type: Conv2d, out_channels: 4, kernel_size: 3, dilation: 2, name: conv}\n"
            "training:\n  lora: {r: 2, target_modules: [conv]}\n")
    assert [(d.code, d.line) for d in lint_text(text).diagnostics] == [("PL521", 6)]


def test_quantization_without_adapters_is_pl521() -> None:
    report = lint_text(config("  quantization: {load_in_4bit: true}\n"))
    assert [(d.code, d.line) for d in report.diagnostics] == [("PL521", LLAMA.count("\n") + 2)]


def test_counts_state_and_budgets_follow_the_adapters() -> None:
    report = lint_text(config(QLORA) + "budgets: {trainable_params: 3K}\n")
    analysis = report.analysis
    assert analysis.trainable_params == 3584 and analysis.params == 103_744 + 3584
    assert analysis.optimizer_state == 2 * 3584
    assert [d.code for d in report.diagnostics] == ["PL501"]  # 3,584 trainable > 3K


def test_summary_and_json_show_the_run() -> None:
    report = lint_text(config(QLORA))
    text = render_summary(report)
    assert "Fine-tuning:           LoRA r=8 on 4 layers: 3,584 adapter params" in text
    assert "Quantization:          4-bit nf4 + double quant, compute bfloat16: 14 layers" in text
    assert "Effective batch:       8 = micro-batch 2 x 4 accumulation steps" in text
    model = json.loads(render_json([report]))["files"][0]["model"]
    finetune = model["finetune"]
    assert finetune["effective_batch"] == 8 and finetune["trainable_params"] == 3584
    assert finetune["adapted_layers"] == ["layers.0.self_attn.q_proj", "layers.0.self_attn.v_proj",
                                          "layers.1.self_attn.q_proj", "layers.1.self_attn.v_proj"]
    assert set(model["memory"]["finetune"]) == {"base_weights", "adapters", "quantization_statistics", "gradients",
                                                "optimizer_state", "activations"}
    # 14 quantized Linears (lm_head, the last parameter's module, stays): packed and statistics as bitsandbytes
    shapes = [(64, 64), (32, 64), (32, 64), (64, 64), (172, 64), (172, 64), (64, 172)] * 2
    parts = [weight_4bit_bytes(a * b, double_quant=True) for a, b in shapes]
    assert finetune["quantization"]["packed_bytes"] == sum(p["packed"] for p in parts)
    assert finetune["quantization"]["statistics_bytes"] == sum(sum(p.values()) - p["packed"] for p in parts)
    assert model["memory"]["finetune"]["adapters"] == 3584 * 4


def test_gradient_accumulation_alone_shows_the_effective_batch() -> None:
    report = lint_text(config("  batch_size: 4\n  gradient_accumulation_steps: 8\n  devices: 2\n"))
    assert "Effective batch:       64 = micro-batch 4 x 8 accumulation steps x 2 devices" in render_summary(report)


def test_quantized_weights_and_frozen_parameters_in_the_memory_model() -> None:
    """Frozen weights get no gradient or state; a quantized weight is stored in its packed bytes."""
    full = lint_text(config("  batch_size: 1\n  optimizer: AdamW\n")).analysis
    lora = lint_text(config("  batch_size: 1\n  optimizer: AdamW\n  lora: {r: 8, target_modules: [q_proj]}\n"))
    run = lora.analysis.finetune
    assert lora.analysis.memory.all_gradients < full.memory.all_gradients
    assert lora.analysis.memory.optimizer_state < full.memory.optimizer_state
    quantized = lint_text(config(QLORA)).analysis
    assert quantized.memory.params < lora.analysis.memory.params
    assert run.tuning.param_bytes and not run.tuning.dequantized


def test_paged_state_leaves_the_cuda_allocator() -> None:
    big = "paramlint: 1\ninput: [512]\nlayers:\n  - {type: Linear, out_features: 512, name: fc}\n"
    def state(optimizer: str, device) -> int:
        analysis = lint_text(big + f"training: {{optimizer: {optimizer}, lora: {{r: 256, target_modules: [fc]}}}}\n"
                             ).analysis
        run = analysis.finetune
        return MemoryModel(run.shapes, analysis.training, output=run.output, device=device,
                           tuning=run.tuning).estimate(1).optimizer_state
    # lora_A and lora_B have 131,072 values each: paged; only absmax and the maps stay on the device
    absmax = 4 * (131_072 // 256)
    assert state("PagedAdamW8bit", CUDA) == 4 * absmax + 2 * 1024
    assert state("AdamW8bit", CUDA) == 4 * 131_072 + 4 * absmax + 2 * 1024


def test_fit_searches_the_batch_and_the_sequence_length(tmp_path: Path) -> None:
    path = tmp_path / "qlora.yaml"
    path.write_text(config(QLORA))
    out, err = io.StringIO(), io.StringIO()
    assert fit_main([str(path), "--memory", "70 MiB"], stdout=out, stderr=err) == 0
    assert "the largest batch size per device that fits" in out.getvalue()
    out = io.StringIO()
    assert fit_main([str(path), "--memory", "66 MiB", "--sequence-length", "--format", "json"], stdout=out,
                    stderr=err) == 0
    document = json.loads(out.getvalue())
    assert document["batch_size"] == 2 and 1 <= document["sequence_length"] < 1 << 24
    data = yaml.safe_load(config(QLORA))
    data["inputs"]["tokens"]["shape"] = [document["sequence_length"] + 1]
    longer = lint_text(yaml.safe_dump(data)).analysis
    run = longer.finetune
    assert MemoryModel(run.shapes, longer.training, output=run.output, tuning=run.tuning).peak(2) > 66 * 2**20


def test_fit_sequence_length_needs_a_token_input(tmp_path: Path) -> None:
    err = io.StringIO()
    assert fit_main([str(ROOT / "examples" / "resnet18.yaml"), "--gpu", "T4", "--sequence-length"],
                    stdout=io.StringIO(), stderr=err) == 2
    assert "no token input whose length can vary" in err.getvalue()


def test_fit_sequence_length_of_a_model_that_pins_it(tmp_path: Path) -> None:
    """GPT-2 with learned positions [1024, 768] takes 1 token (broadcast) and 1,024, nothing between: the
    search would stop at 1; it says the length is fixed instead."""
    out, err = io.StringIO(), io.StringIO()
    assert fit_main([str(ROOT / "examples" / "gpt2_small.yaml"), "--gpu", "A100-80GB", "--sequence-length"],
                    stdout=out, stderr=err) == 2
    assert "takes 1,024 tokens and not every shorter length" in err.getvalue()


GEMMA = ("paramlint: 1\nhuggingface: {model_type: gemma, architectures: [GemmaForCausalLM], hidden_size: 64, "
         "intermediate_size: 96, num_hidden_layers: 2, vocab_size: 100, num_attention_heads: 4, "
         "num_key_value_heads: 2, head_dim: 16, max_position_embeddings: 64}\n"
         "training:\n  batch_size: 2\n  sequence_length: 8\n")


def test_ensure_weight_tying_findings_land_on_the_lora_line() -> None:
    """peft raises on a tied head both adapted and copied (PL521); a format-1 model's tie is not peft's to
    see (PL522 at the flag); a bad value is the schema's PL202; on Gemma (tied) the flag is accepted."""
    both = GEMMA + "  lora: {r: 4, target_modules: [q_proj, lm_head], modules_to_save: [lm_head], " \
                   "ensure_weight_tying: true}\n"
    assert [(d.code, d.line) for d in lint_text(both).diagnostics] == [("PL521", both.count("\n"))]
    ok = GEMMA + "  lora: {r: 4, target_modules: [q_proj], modules_to_save: [lm_head], ensure_weight_tying: true}\n"
    report = lint_text(ok)
    assert not report.diagnostics and report.analysis.finetune.finetune.trainable_params == 1024 + 6400
    tied = LLAMA.replace("bias: false, name: lm_head}", "bias: false, shares: embed_tokens, name: lm_head}")
    text = tied + "training:\n  lora: {r: 4, target_modules: [q_proj], modules_to_save: [lm_head],\n" \
                  "         ensure_weight_tying: true}\n"
    assert [(d.code, d.line) for d in lint_text(text).diagnostics] == [("PL522", text.count("\n"))]
    bad = config("  lora: {r: 4, target_modules: [q_proj], ensure_weight_tying: 1}\n")
    assert [d.code for d in lint_text(bad).diagnostics] == ["PL202"]


def test_dora_with_dropout_on_many_layers_is_linear():
    """DoRA's check whether peft's held input is kept anyway looked up each value's readers by scanning
    every later layer, once per DoRA layer: 2,000 adapted Linears took 45 s. A hang guard, not a timing."""
    from test_hostile_round2 import lint

    text = "paramlint: 1\ninput: [8]\nlayers:\n" + "".join(
        f"- {{type: Linear, out_features: 8, name: fc{i}}}\n" for i in range(2000))
    text += "training:\n  lora: {r: 2, target_modules: all-linear, lora_dropout: 0.1, use_dora: true}\n"
    report = lint(text)
    assert report.analysis is not None and len(report.analysis.finetune.finetune.adapted) == 2000
