"""Serving figures against transformers and torch (CPU).

- KV cache bytes equal the cache tensors transformers' ``generate`` leaves
  (``DynamicCache``: full and sliding-window layers) for small configs of
  llama, mistral (sliding window), qwen2, gemma2 (alternating windows), phi3
  and gpt2, each described in format 1 by ``decoder_configs.decoder``.
- Prefill and decode peaks equal the live storages of the same format-1
  model run by torch, with a cache kept exactly as ``DynamicLayer.update``
  keeps it (``torch.cat``).
- Prefill and decode FLOPs equal FlopCounterMode on the meta device.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from decoder_configs import decoder  # noqa: E402
from torch_memory import LiveStorages  # noqa: E402

from paramlint.lint import analyze_document  # noqa: E402
from paramlint.memory.inference import analyse_at, cache_layers, estimate_inference, with_tokens  # noqa: E402
from paramlint.memory.precision import CPU  # noqa: E402
from paramlint.model.graph import build_graph  # noqa: E402
from paramlint.model.inference_setup import InferenceSetup  # noqa: E402
from paramlint.torch import build  # noqa: E402
from paramlint.validation.validator import SchemaValidator  # noqa: E402

SMALL = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=4, num_attention_heads=4,
             num_key_value_heads=2, vocab_size=100, max_position_embeddings=256)

# family -> (transformers config, attn_implementation, the format-1 decoder's arguments)
FAMILIES: Dict[str, Any] = {
    "llama": (lambda: transformers.LlamaConfig(**SMALL, head_dim=16), "sdpa", {}),
    "mistral": (lambda: transformers.MistralConfig(**SMALL, head_dim=16, sliding_window=6), "sdpa",
                {"windows": [6] * 4}),
    "qwen2": (lambda: transformers.Qwen2Config(**SMALL), "sdpa", {"qkv_bias": True}),
    "gemma2": (lambda: transformers.Gemma2Config(**SMALL, head_dim=16, sliding_window=6), "eager",
               {"windows": [6, None, 6, None], "tied": True}),
    "phi3": (lambda: transformers.Phi3Config(**SMALL, sliding_window=6, pad_token_id=0), "sdpa",
             {"windows": [6] * 4}),
    "gpt2": (lambda: transformers.GPT2Config(n_embd=64, n_layer=3, n_head=4, vocab_size=100, n_positions=256),
             "sdpa", {"kv_heads": 4, "layers": 3, "intermediate": 256, "gated": False, "qkv_bias": True,
                      "positions": 256, "tied": True, "norm": "LayerNorm"}),
}


def family_decoder(family: str, tokens: int, **extra: Any) -> Dict[str, Any]:
    arguments = dict(hidden=64, heads=4, kv_heads=2, head_dim=16, layers=4, intermediate=128, vocab=100,
                     tokens=tokens)
    arguments.update(FAMILIES[family][2])
    arguments.update(extra)
    return decoder(**arguments)


def estimate(data: Mapping[str, Any], setup: InferenceSetup):
    findings, analysis = analyze_document(data, None, SchemaValidator())
    assert analysis is not None, findings
    graph, _ = build_graph(data)
    return estimate_inference(data, analysis.shapes, graph.output, setup, device=CPU)


def generated_cache(family: str, *, batch: int, prompt: int, new: int, dtype: Any = torch.float32) -> List[Any]:
    make, implementation, _ = FAMILIES[family]
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(make(), attn_implementation=implementation,
                                                           dtype=dtype).eval()
    ids = torch.randint(0, 100, (batch, prompt))
    out = model.generate(ids, max_new_tokens=new, min_new_tokens=new, do_sample=False,
                         return_dict_in_generate=True, pad_token_id=0, eos_token_id=None)
    return list(out.past_key_values.layers)


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("batch,prompt,new", [(2, 10, 5), (1, 3, 2)])
def test_kv_cache_bytes_equal_transformers_generate(family, batch, prompt, new):
    layers = generated_cache(family, batch=batch, prompt=prompt, new=new)
    theirs = sum(t.numel() * t.element_size() for layer in layers for t in (layer.keys, layer.values))
    ours = estimate(family_decoder(family, prompt),
                    InferenceSetup(batch_size=batch, prompt_tokens=prompt, new_tokens=new, dtype="fp32"))
    assert ours.kv_cache == theirs
    assert ours.cached_tokens == prompt + new - 1
    assert [layer.retained(ours.cached_tokens) for layer in ours.layers] == [layer.keys.shape[-2]
                                                                           for layer in layers]


def test_kv_cache_in_bf16_and_per_layer_windows():
    layers = generated_cache("gemma2", batch=3, prompt=9, new=4, dtype=torch.bfloat16)
    theirs = [t.numel() * t.element_size() for layer in layers for t in (layer.keys, layer.values)]
    ours = estimate(family_decoder("gemma2", 9), InferenceSetup(batch_size=3, prompt_tokens=9, new_tokens=4,
                                                                dtype="bf16"))
    assert ours.kv_cache == sum(theirs)
    assert [layer.window for layer in ours.layers] == [6, None, 6, None]


def test_parameter_counts_equal_transformers():
    """The format-1 graphs are the transformers models (gemma2's extra norms aside)."""
    for family in ("llama", "mistral", "qwen2", "phi3", "gpt2"):
        make, implementation, _ = FAMILIES[family]
        model = transformers.AutoModelForCausalLM.from_config(make(), attn_implementation=implementation)
        _, analysis = analyze_document(family_decoder(family, 8), None, SchemaValidator())
        assert analysis.params == sum(p.numel() for p in model.parameters()), family


def test_llama3_8b_closed_form():
    """2 (keys, values) x 32 layers x 8 kv heads x 128 x 2 bytes = 131,072 bytes per token."""
    data = decoder(hidden=4096, heads=32, kv_heads=8, head_dim=128, layers=32, intermediate=14336,
                   vocab=128256, tokens=8)
    findings, analysis = analyze_document(data, None, SchemaValidator())
    assert analysis is not None, findings
    assert analysis.params == 8_030_261_248
    layers = cache_layers(analysis.shapes)
    assert 2 * sum(layer.per_token for layer in layers) == 131_072


# -- peaks against torch ------------------------------------------------------------


class _Cache:
    """What DynamicLayer / DynamicSlidingWindowLayer do to the key and value
    inputs of each causal attention: cat onto the cache, keep the last
    window - 1 positions (a view), attend to all."""

    def __init__(self, model: Any) -> None:
        self.keys: Dict[int, Any] = {}
        self.values: Dict[int, Any] = {}
        self.handles = []
        for index, module in enumerate(m for m in model.modules() if type(m).__name__ == "ScaledDotProductAttention"):
            self.handles.append(module.register_forward_pre_hook(self._hook(index, module.window)))

    def _hook(self, index: int, window: Optional[int]) -> Any:
        def update(module: Any, inputs: Any) -> Any:
            query, key, value = inputs
            empty = key.new_empty(key.shape[:-2] + (0,) + key.shape[-1:])
            full_key = torch.cat([self.keys.get(index, empty), key], dim=-2)
            self.keys[index] = full_key if window is None else full_key[..., -window + 1:, :]
            full_value = torch.cat([self.values.get(index, empty), value], dim=-2)
            self.values[index] = full_value if window is None else full_value[..., -window + 1:, :]
            return query, full_key, full_value
        return update


@pytest.mark.parametrize("family,logits", [("llama", "last"), ("llama", "all"), ("gpt2", "last"),
                                           ("qwen2", "last")])
def test_prefill_and_decode_peaks_equal_live_storages(family, logits):
    """The same format-1 graph run by torch as transformers runs its modules (serving_oracle.run_as_modules)."""
    from serving_oracle import Cache, run_as_modules

    batch, prompt, new = 2, 12, 3
    data = family_decoder(family, prompt)
    setup = InferenceSetup(batch_size=batch, prompt_tokens=prompt, new_tokens=new, dtype="fp32", logits=logits)
    ours = estimate(data, setup)
    cached = ours.cached_tokens
    # prefill: the prompt, the cache built as the model runs
    torch.manual_seed(0)
    net = build(with_tokens(data, prompt, last_logits=logits == "last")).eval()
    tracker = LiveStorages()
    ids = [torch.zeros(batch, prompt, dtype=torch.int64) for _ in net.input_names]
    positions = torch.arange(prompt)
    tracker.track(list(net.parameters()), list(net.buffers()), ids, positions)
    tracker.reset_peak()
    with torch.no_grad(), tracker:
        run_as_modules(net, ids, Cache())
    assert ours.prefill_peak == tracker.peak
    # decode: one token per sequence onto a cache of cached - 1 positions
    step = build(with_tokens(data, 1, last_logits=False)).eval()
    step.load_state_dict(net.state_dict(), strict=False)
    cache = Cache()
    for index, layer in enumerate(cache_layers(analyse_at(data, 1)[0])):
        shape = (batch, layer.key_per_token // 16, cached - 1, 16)
        cache.keys[index] = torch.zeros(shape)
        cache.values[index] = torch.zeros(shape)
    tracker = LiveStorages()
    ids = [torch.zeros(batch, 1, dtype=torch.int64) for _ in step.input_names]
    positions = torch.arange(1)
    tracker.track(list(step.parameters()), list(step.buffers()), ids, positions, list(cache.keys.values()),
                  list(cache.values.values()))
    tracker.reset_peak()
    with torch.no_grad(), tracker:
        run_as_modules(step, ids, cache)
    assert ours.decode_peak == tracker.peak


# -- FLOPs against FlopCounterMode on the meta device -------------------------------------


@pytest.mark.parametrize("family", ["llama", "mistral", "gpt2"])
def test_prefill_and_decode_flops_equal_flop_counter_on_meta(family):
    from torch.utils.flop_counter import FlopCounterMode

    batch, prompt, new = 2, 12, 4
    data = family_decoder(family, prompt)
    ours = estimate(data, InferenceSetup(batch_size=batch, prompt_tokens=prompt, new_tokens=new, dtype="fp32"))
    with torch.device("meta"):
        net = build(with_tokens(data, prompt, last_logits=True)).eval()
        ids = [torch.zeros(batch, prompt, dtype=torch.int64) for _ in net.input_names]
        cache = _Cache(net)
        with FlopCounterMode(display=False) as counter:
            net(*ids)
        assert ours.prefill_flops == counter.get_total_flops()
        step = build(with_tokens(data, 1, last_logits=False)).eval()
        cache = _Cache(step)
        for index, layer in enumerate(cache_layers(analyse_at(data, 1)[0])):
            kept = layer.retained(ours.cached_tokens - 1)
            shape = (batch, layer.key_per_token // 16, kept, 16)
            cache.keys[index] = torch.zeros(shape)
            cache.values[index] = torch.zeros(shape)
        ids = [torch.zeros(batch, 1, dtype=torch.int64) for _ in step.input_names]
        with FlopCounterMode(display=False) as counter:
            step(*ids)
        assert ours.decode_flops == counter.get_total_flops()


# -- the pipeline: section, budgets, diagnostics, fit ------------------------------------

SERVING = Path(__file__).resolve().parent.parent / "examples" / "serving" / "llama3_8b.yaml"


def test_llama3_8b_serving_example():
    from paramlint.lint import lint_paths

    report, = lint_paths([str(SERVING)], isolated=True)
    assert not report.diagnostics
    serving = report.analysis.inference
    assert report.analysis.params == 8_030_261_248
    assert serving.kv_per_token == 131_072
    assert serving.kv_cache == 30 * 8192 * 131_072  # 30 GiB
    assert serving.weights == 2 * 8_030_261_248 + 2 * 512  # and the rotary module's two 64-value buffers
    assert serving.prefill_peak > serving.decode_peak > serving.weights + serving.kv_cache


def test_fit_inference_finds_the_largest_batch_and_prompt(capsys):
    from paramlint.cli import main

    assert main(["fit", str(SERVING), "--gpu", "H100-80GB", "--inference", "--format", "json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["found"] == 33 and found["inference"]["peak"] <= found["budget"] < found["peak_above"]
    assert main(["fit", str(SERVING), "--memory", "40 GiB", "--inference", "context", "--format", "json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["inference"]["batch_size"] == 30
    assert found["inference"]["peak"] <= found["budget"] < found["peak_above"]
    assert main(["fit", str(SERVING), "--memory", "1 GiB", "--inference"]) == 1


def _lint(text: str):
    from helpers import lint_yaml

    return lint_yaml(text)


DECODER = """\
paramlint: 1
inputs: {tokens: {shape: [16], dtype: int64}}
layers:
  - {type: Embedding, num_embeddings: 50, embedding_dim: 32}
  - {type: Linear, out_features: 96, name: qkv}
  - {type: Reshape, shape: [-1, 3, 2, 16]}
  - {type: Permute, dims: [0, 2, 3, 1, 4], name: heads}
  - {type: Select, dim: 1, index: 0, name: q}
  - {type: Select, from: heads, dim: 1, index: 1, name: k}
  - {type: Select, from: heads, dim: 1, index: 2, name: v}
  - {type: ScaledDotProductAttention, from: [q, k, v], is_causal: true, window: 4}
"""


def test_budgets_fail_with_the_arithmetic():
    report = _lint(DECODER + "inference: {batch_size: 3, prompt_tokens: 16, new_tokens: 8, dtype: fp16}\n"
                             "budgets: {kv_cache: 1000, inference_memory: 1 KiB}\n")
    messages = {d.config_path: d.message for d in report.diagnostics if d.code == "PL501"}
    # 3 sequences x 3 positions (window 4 keeps 3) x 2 x 2 heads x 16 x 2 bytes
    assert messages["budgets.kv_cache"].startswith("kv_cache 1.1 KiB = 3 sequences x 3 positions x 128 bytes")
    assert "budgets.inference_memory" in messages


@pytest.mark.parametrize("extra,path", [
    ("budgets: {kv_cache: 1 GiB}\n", "budgets.kv_cache"),
    ("inference: {new_tokens: 3, context_length: 40}\n", "inference.context_length"),
    ("inference: {prompt_tokens: 8}\n", "inference"),
])
def test_bad_inference_sections(extra, path):
    # the last case: attention that is not causal caches nothing
    config = DECODER.replace("is_causal: true, window: 4", "is_causal: false") if path == "inference" else DECODER
    report = _lint(config + extra)
    assert [(d.code, d.config_path) for d in report.diagnostics] == [("PL503", path)]


def test_a_graph_of_fixed_length_is_refused_at_another_prompt():
    report = _lint(DECODER.replace("  - {type: Linear, out_features: 96, name: qkv}\n",
                                   "  - {type: Parameter, shape: [16, 32], name: pos}\n"
                                   "  - {type: Add, from: [0, pos]}\n"
                                   "  - {type: Linear, out_features: 96, name: qkv}\n")
                   + "inference: {prompt_tokens: 64}\n")
    diagnostic, = report.diagnostics
    assert diagnostic.code == "PL503" and "does not accept 64 tokens" in diagnostic.message
    assert diagnostic.config_path == "inference.prompt_tokens"


# -- attention memory in training: eager keeps the weights, sdpa the logsumexp ------------


def _with_implementation(data: Mapping[str, Any], implementation: str) -> Dict[str, Any]:
    data = json.loads(json.dumps(data))
    for block in data["blocks"].values():
        for layer in block["layers"]:
            if layer["type"] == "ScaledDotProductAttention":
                layer["attn_implementation"] = implementation
    return data


@pytest.mark.parametrize("kv_heads", [4, 2])
@pytest.mark.parametrize("implementation", ["eager", "sdpa"])
def test_training_saved_tensors_equal_torch(implementation, kv_heads):
    from test_saved_tensors import _ours, _theirs

    data = _with_implementation(family_decoder("llama", 8, kv_heads=kv_heads, layers=2), implementation)
    data["inputs"] = dict(data["inputs"])
    ours, _ = _ours(data)
    assert ours == _theirs(data, 3)


@pytest.mark.parametrize("kv_heads", [4, 2])
@pytest.mark.parametrize("precision,dtype", [("fp32", "float32"), ("bf16", "bfloat16")])
def test_eager_minus_sdpa_equals_transformers(kv_heads, precision, dtype):
    """What eager attention saves beyond sdpa, in transformers' LlamaModel and in paramlint."""
    from test_saved_tensors import _ours

    def transformers_saved(implementation: str) -> int:
        config = transformers.LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                          num_attention_heads=4, num_key_value_heads=kv_heads, head_dim=16,
                                          vocab_size=100)
        torch.manual_seed(0)
        model = transformers.LlamaModel(config).to(getattr(torch, dtype)).train()
        model.config._attn_implementation = implementation
        owned = {p.untyped_storage().data_ptr() for p in model.parameters()}
        packed: Dict[int, int] = {}
        keep = []

        def pack(tensor: Any) -> Any:
            keep.append(tensor)
            if tensor.untyped_storage().data_ptr() not in owned:
                packed[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            model(torch.randint(0, 100, (3, 8)))
        return sum(packed.values())

    def paramlint_saved(implementation: str) -> int:
        data = _with_implementation(family_decoder("llama", 8, kv_heads=kv_heads, layers=2), implementation)
        return sum(_ours(data, precision)[0].values())

    assert (paramlint_saved("eager") - paramlint_saved("sdpa")
            == transformers_saved("eager") - transformers_saved("sdpa"))


# -- peaks against transformers' own models ------------------------------------------------

HF_SMALL = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, vocab_size=100, max_position_embeddings=512)
HF_FAMILIES: Dict[str, Dict[str, Any]] = {  # sliding windows of 64 cut the 128-token prompt
    "llama": dict(model_type="llama", architectures=["LlamaForCausalLM"], head_dim=16),
    "mistral": dict(model_type="mistral", architectures=["MistralForCausalLM"], head_dim=16, sliding_window=64),
    "qwen2": dict(model_type="qwen2", architectures=["Qwen2ForCausalLM"]),
    "qwen3": dict(model_type="qwen3", architectures=["Qwen3ForCausalLM"], head_dim=16),
    "gemma": dict(model_type="gemma", architectures=["GemmaForCausalLM"], head_dim=16),
    "gemma2": dict(model_type="gemma2", architectures=["Gemma2ForCausalLM"], head_dim=16, sliding_window=64),
    "phi3": dict(model_type="phi3", architectures=["Phi3ForCausalLM"], pad_token_id=0, sliding_window=64),
    "mixtral": dict(model_type="mixtral", architectures=["MixtralForCausalLM"], head_dim=16, num_local_experts=3),
}
# transformers has no sdpa for gemma2 (its attention logits are soft-capped)
HF_CASES = [(family, implementation) for family in HF_FAMILIES for implementation in ("sdpa", "eager")
            if (family, implementation) != ("gemma2", "sdpa")]


def _hf_setup(family: str, implementation: str, intermediate: int):
    from paramlint.importers.huggingface import convert

    config = dict(HF_SMALL, intermediate_size=intermediate, **HF_FAMILIES[family])
    data = convert(config, sequence_length=128).data
    findings, analysis = analyze_document(data, None, SchemaValidator())
    assert analysis is not None, findings
    graph, _ = build_graph(data)
    return config, data, analysis, graph


@pytest.mark.parametrize("family,implementation,intermediate", [case + (128,) for case in HF_CASES] + [
    ("llama", "sdpa", 32), ("mistral", "sdpa", 32)])
def test_prefill_and_decode_peaks_equal_transformers(family, implementation, intermediate):
    """Prefill (logits of the last position and of all, fp32 and bf16 weights) and one decode step of
    transformers' own CausalLM on 2 x 128 tokens, against paramlint's figures for its config.json
    (serving_oracle.measure_*).  Mixtral's router is zeroed, so that every token goes to the same two
    experts: the worst case that paramlint's figure is."""
    from serving_oracle import hf_model, measure_decode, measure_prefill

    config, data, analysis, graph = _hf_setup(family, implementation, intermediate)
    found = {}
    for dtype, logits_modes in (("fp32", ("last", "all")), ("bf16", ("last",))):
        model = hf_model(config, implementation, dtype)
        if family == "mixtral":
            for layer in model.model.layers:
                torch.nn.init.zeros_(layer.mlp.gate.weight)
        for logits in logits_modes:
            setup = InferenceSetup(batch_size=2, prompt_tokens=128, new_tokens=3, dtype=dtype,
                                   attn_implementation=implementation, logits=logits)
            ours = estimate_inference(data, analysis.shapes, graph.output, setup, device=CPU)
            found[f"prefill {dtype} {logits}"] = (ours.prefill_peak, measure_prefill(model, batch=2, prompt=128,
                                                                                      logits=logits))
        found[f"decode {dtype}"] = (ours.decode_peak, measure_decode(model, batch=2, prompt=128))
    off = {case: ours - theirs for case, (ours, theirs) in found.items() if ours != theirs}
    assert off == KNOWN_GAPS.get((family, implementation, intermediate), {}), found
    for ours, theirs in found.values():
        assert abs(ours - theirs) <= 0.01 * theirs


# Bytes paramlint is off where transformers' code allocates what the graph's layers do not (each < 1%):
# - transformers' RMSNorm computes in float32 (a bf16 model: the float32 copy of its input and the float32
#   product, 8 bytes an element), which torch's fused RMSNorm does not; with a feed-forward as narrow as
#   the model the final norm is the bf16 prefill's peak;
# - Phi-3's decode step: paramlint copies the value sliced out of the packed qkv projection when it is
#   split into heads (a Reshape of a sliced tensor), where torch's view splits the last dimension in place.
KNOWN_GAPS: Dict[Any, Dict[str, int]] = {
    ("llama", "sdpa", 32): {"prefill bf16 last": -2048},
    ("phi3", "sdpa", 128): {"decode fp32": 512, "decode bf16": 512},
}


# -- random decoders against generate ------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@st.composite
def _served(draw: Any) -> Dict[str, Any]:
    kv_heads = draw(st.integers(1, 3))
    heads = kv_heads * draw(st.integers(1, 3))
    layers = draw(st.integers(1, 3))
    windows = [draw(st.sampled_from([None, 2, 3, 5, 9])) for _ in range(layers)]
    return dict(kv_heads=kv_heads, heads=heads, head_dim=draw(st.sampled_from([4, 8])), layers=layers,
                windows=windows, batch=draw(st.integers(1, 3)), prompt=draw(st.integers(1, 12)),
                new=draw(st.integers(1, 6)), dtype=draw(st.sampled_from(["fp32", "bf16"])))


@settings(max_examples=int(os.environ.get("PARAMLINT_SERVING_EXAMPLES", "30")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(_served())
def test_random_decoders_cache_what_generate_caches(case):
    """Mistral-style models (any heads, grouping, head size, per-layer windows) against generate."""
    layer_types = ["full_attention" if w is None else "sliding_attention" for w in case["windows"]]
    window = next((w for w in case["windows"] if w is not None), None)
    if len({w for w in case["windows"] if w is not None}) > 1:
        case["windows"] = [None if w is None else window for w in case["windows"]]  # one window per model
    config = transformers.Qwen2Config(hidden_size=case["heads"] * case["head_dim"], intermediate_size=16,
                                      num_hidden_layers=case["layers"], num_attention_heads=case["heads"],
                                      num_key_value_heads=case["kv_heads"], vocab_size=50,
                                      max_position_embeddings=64, layer_types=layer_types, use_sliding_window=True,
                                      sliding_window=window, max_window_layers=0)
    dtype = torch.float32 if case["dtype"] == "fp32" else torch.bfloat16
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(config, attn_implementation="eager", dtype=dtype).eval()
    ids = torch.randint(0, 50, (case["batch"], case["prompt"]))
    out = model.generate(ids, max_new_tokens=case["new"], min_new_tokens=case["new"], do_sample=False,
                         return_dict_in_generate=True, pad_token_id=0, eos_token_id=None)
    theirs = sum(t.numel() * t.element_size() for layer in out.past_key_values.layers
                 for t in (layer.keys, layer.values))
    data = decoder(hidden=case["heads"] * case["head_dim"], heads=case["heads"], kv_heads=case["kv_heads"],
                   head_dim=case["head_dim"], layers=case["layers"], intermediate=16, vocab=50,
                   tokens=case["prompt"], windows=case["windows"], qkv_bias=True)
    ours = estimate(data, InferenceSetup(batch_size=case["batch"], prompt_tokens=case["prompt"],
                                         new_tokens=case["new"], dtype=case["dtype"]))
    assert ours.kv_cache == theirs
