"""bitsandbytes 0.50.2 on the CPU as the oracle: the bytes of quantized
weights (4-bit nf4/fp4 with and without double quantization, 8-bit) and of
the 8-bit and paged optimizers' state after one ``step()``."""
from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
bnb = pytest.importorskip("bitsandbytes")
F = pytest.importorskip("bitsandbytes.functional")

from paramlint.memory.quantization import (  # noqa: E402
    Quantization,
    quantized_layers,
    weight_4bit_bytes,
    weight_8bit_bytes,
    weight_bytes,
)
from paramlint.model.training import TrainingSetup, shared_state_bytes, state_tensor_bytes  # noqa: E402

SHAPES = [(64, 64), (100, 33), (7,), (4096, 37), (3, 5, 7), (1, 1), (257, 64), (64 * 256 + 1,)]


def nbytes(tensor: "torch.Tensor") -> int:
    return tensor.numel() * tensor.element_size()


def quant_state_bytes(packed: "torch.Tensor", state: object) -> Dict[str, int]:
    parts = {"packed": nbytes(packed), "absmax": nbytes(state.absmax), "code": nbytes(state.code)}
    if state.state2 is not None:
        parts.update(offset=nbytes(state.offset), nested_absmax=nbytes(state.state2.absmax),
                     nested_code=nbytes(state.state2.code))
    return parts


@pytest.mark.parametrize("storage", ["uint8", "bfloat16", "float32"])
@pytest.mark.parametrize("double_quant", [False, True])
@pytest.mark.parametrize("quant_type", ["nf4", "fp4"])
@pytest.mark.parametrize("shape", SHAPES)
def test_4bit_weight_bytes_equal_quantize_4bit(shape: Tuple[int, ...], quant_type: str, double_quant: bool,
                                                storage: str) -> None:
    if storage != "uint8" and math.prod(shape) % (2 * getattr(torch, storage).itemsize):
        pytest.skip("the CPU kernel views the packed bytes as the storage dtype: whole items only")
    weight = torch.randn(*shape)
    packed, state = F.quantize_4bit(weight, quant_type=quant_type, compress_statistics=double_quant,
                                    quant_storage=getattr(torch, storage))
    assert weight_4bit_bytes(math.prod(shape), double_quant=double_quant, quant_storage=storage) == \
        quant_state_bytes(packed, state)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 200_000), st.booleans())
def test_4bit_weight_bytes_random_sizes(numel: int, double_quant: bool) -> None:
    packed, state = F.quantize_4bit(torch.randn(numel), quant_type="nf4", compress_statistics=double_quant)
    assert weight_4bit_bytes(numel, double_quant=double_quant) == quant_state_bytes(packed, state)


@pytest.mark.parametrize("shape", [(17, 33), (64, 64), (1, 5), (300, 7)])
def test_8bit_weight_bytes_equal_int8_vectorwise_quant(shape: Tuple[int, int]) -> None:
    weight = torch.randn(*shape)
    int8, scales, _ = F.int8_vectorwise_quant(weight.half())
    assert weight_8bit_bytes(shape) == {"packed": nbytes(int8), "absmax": nbytes(scales)}


# ---------------------------------------------------------------------------
# Which layers transformers quantizes, and their bytes, on a real from_pretrained.

def _tiny_llama_dir(tmp_path: Path, tied: bool) -> Path:
    transformers = pytest.importorskip("transformers")
    config = transformers.LlamaConfig(hidden_size=64, intermediate_size=172, num_hidden_layers=2, vocab_size=100,
                                      num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=tied)
    transformers.LlamaForCausalLM(config).save_pretrained(tmp_path)
    return tmp_path


@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("fields", [
    dict(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True),
    dict(load_in_4bit=True, bnb_4bit_quant_type="fp4"),
    dict(load_in_4bit=True, bnb_4bit_quant_type="nf4", llm_int8_skip_modules=["o_proj", "lm_head"]),
])
def test_quantized_layers_and_bytes_equal_transformers(tmp_path: Path, tied: bool, fields: Dict[str, object]) -> None:
    import yaml

    from paramlint.memory.quantization import read_quantization
    from paramlint.model.analysis import analyze_shapes
    from paramlint.model.graph import build_graph
    from paramlint.model.module_names import module_paths

    transformers = pytest.importorskip("transformers")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = transformers.AutoModelForCausalLM.from_pretrained(
            _tiny_llama_dir(tmp_path, tied), quantization_config=transformers.BitsAndBytesConfig(**fields),
            device_map="cpu")
    theirs = {}
    for name, module in model.named_modules():
        if isinstance(module, bnb.nn.Linear4bit):
            theirs[name] = quant_state_bytes(module.weight, module.weight.quant_state)

    data = yaml.safe_load((Path(__file__).parent / "finetune_cases" / "tiny_llama.yaml").read_text())
    if tied:
        data["layers"][3]["shares"] = "embed_tokens"
    graph, _ = build_graph(data)
    shapes, _ = analyze_shapes(graph, {})
    paths, _ = module_paths(graph, data)
    paths = [p if p == "lm_head" else "model." + p for p in paths]
    owners = [i.node.index for i in shapes.layers if i.result.params]
    tied_layers = [i.node.index for i in shapes.layers if i.node.shares is not None]
    tied_layers += [i.node.shares for i in shapes.layers if i.node.shares is not None]
    quantization = read_quantization(fields)
    layers = quantized_layers(quantization, paths, [i.node.type for i in shapes.layers], owners, tied_layers,
                              output_embeddings="lm_head")
    ours = {paths[i]: weight_bytes(quantization, shapes.layers[i].result.params["weight"]) for i in layers}
    assert ours == theirs


# ---------------------------------------------------------------------------
# 8-bit and paged optimizers: every state tensor after one step() on the CPU.

OPTIMIZER_SHAPES = [(10,), (64, 64), (4095,), (4096,), (300, 17), (100_000,), (257, 256)]


def _measured_state(name: str, shapes: List[Tuple[int, ...]], options: Dict[str, object]) -> int:
    params = [torch.nn.Parameter(torch.randn(*shape)) for shape in shapes]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # paged optimizers fall back to plain buffers on the CPU
        optimizer = getattr(bnb.optim, name)(params, lr=1e-3, **options)
        for param in params:
            param.grad = torch.randn_like(param)
        optimizer.step()
    seen: Dict[int, int] = {}
    for param in params:
        for value in optimizer.state[param].values():
            if torch.is_tensor(value):
                seen[id(value)] = nbytes(value)
    return sum(seen.values())


@pytest.mark.parametrize("options", [{}, {"min_8bit_size": 100}, {"min_8bit_size": 100_000}])
@pytest.mark.parametrize("name", ["AdamW8bit", "Adam8bit", "PagedAdamW8bit", "PagedAdamW", "Lion8bit"])
def test_optimizer_state_equals_bitsandbytes_after_a_step(name: str, options: Dict[str, object]) -> None:
    setup = TrainingSetup(1, name, options, "fp32", 1, "none")
    ours = sum(sum(state_tensor_bytes(setup, shape, 4)) for shape in OPTIMIZER_SHAPES)
    ours += sum(shared_state_bytes(setup, OPTIMIZER_SHAPES))
    assert ours == _measured_state(name, OPTIMIZER_SHAPES, options)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 300), st.integers(1, 60)), min_size=1, max_size=4),
       st.sampled_from(["AdamW8bit", "Lion8bit", "PagedAdamW"]))
def test_optimizer_state_random_shapes(shapes: List[Tuple[int, int]], name: str) -> None:
    setup = TrainingSetup(1, name, {}, "fp32", 1, "none")
    ours = sum(sum(state_tensor_bytes(setup, shape, 4)) for shape in shapes) + sum(shared_state_bytes(setup, shapes))
    assert ours == _measured_state(name, shapes, {})


def test_quantization_record() -> None:
    assert Quantization(4, "nf4", True, "bfloat16").describe() == "4-bit nf4 + double quant, compute bfloat16"
