"""What autograd saves, byte for byte, against torch's saved-tensor hooks.

For every layer type (and the variants that change what it saves: in place,
frozen, first layer, dropout probabilities, indices returned, ...) a small
network feeds the layer an input that needs a gradient, as a real network
does, and ``torch.autograd.graph.saved_tensors_hooks`` records the unique
storages autograd keeps (parameters, buffers and model inputs left out),
attributed to the layer that keeps each first.  paramlint's memory model must
predict the same bytes for every layer, on the CPU in fp32 (batch 3, sizes
unrounded).  The example networks are checked the same way, whole.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence, Tuple

import pytest
import yaml

torch = pytest.importorskip("torch")

from torch_memory import network_saved  # noqa: E402

from paramlint.model.graph import build_graph  # noqa: E402
from paramlint.lint import analyze_document  # noqa: E402
from paramlint.memory.model import MemoryModel  # noqa: E402
from paramlint.memory.simulation import sizes  # noqa: E402
from paramlint.memory.precision import CPU  # noqa: E402
from paramlint.torch import build  # noqa: E402
from paramlint.model.training import read_training  # noqa: E402
from paramlint.validation.validator import SchemaValidator  # noqa: E402

BATCH = 3
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# (layer entry, input shapes); an input shape given as {"shape": ..., "dtype": "int64"} feeds the layer directly.
Case = Tuple[Dict[str, Any], Sequence[Any]]

IMG1, IMG2, IMG3 = [4, 12], [4, 10, 9], [3, 6, 7, 5]
SEQ = [7, 8]

CASES: List[Case] = [
    ({"type": "Conv1d", "out_channels": 5, "kernel_size": 3}, [IMG1]),
    ({"type": "Conv2d", "out_channels": 5, "kernel_size": 3, "stride": 2, "padding": 1}, [IMG2]),
    ({"type": "Conv2d", "out_channels": 6, "kernel_size": 4, "padding": "same", "groups": 2}, [IMG2]),
    ({"type": "Conv2d", "out_channels": 5, "kernel_size": 3, "padding": 1, "padding_mode": "reflect"}, [IMG2]),
    ({"type": "Conv2d", "out_channels": 5, "kernel_size": 3, "padding": 2, "padding_mode": "replicate"}, [IMG2]),
    ({"type": "Conv1d", "out_channels": 5, "kernel_size": 3, "padding": 1, "padding_mode": "circular"}, [IMG1]),
    ({"type": "Conv1d", "out_channels": 5, "kernel_size": 4, "padding": "same", "padding_mode": "reflect"}, [IMG1]),
    ({"type": "Conv3d", "out_channels": 2, "kernel_size": 2, "bias": False}, [IMG3]),
    ({"type": "ConvTranspose1d", "out_channels": 3, "kernel_size": 3, "stride": 2}, [IMG1]),
    ({"type": "ConvTranspose2d", "out_channels": 3, "kernel_size": 2, "stride": 2}, [IMG2]),
    ({"type": "ConvTranspose3d", "out_channels": 2, "kernel_size": 2}, [IMG3]),
    ({"type": "MaxPool1d", "kernel_size": 2}, [IMG1]),
    ({"type": "MaxPool2d", "kernel_size": 3, "stride": 2, "ceil_mode": True}, [IMG2]),
    ({"type": "MaxPool2d", "kernel_size": 2, "return_indices": True}, [IMG2]),
    ({"type": "MaxPool3d", "kernel_size": 2}, [IMG3]),
    ({"type": "AvgPool1d", "kernel_size": 3}, [IMG1]),
    ({"type": "AvgPool2d", "kernel_size": 2}, [IMG2]),
    ({"type": "AvgPool3d", "kernel_size": 2}, [IMG3]),
    ({"type": "LPPool1d", "norm_type": 2, "kernel_size": 3}, [IMG1]),
    ({"type": "LPPool2d", "norm_type": 2, "kernel_size": 2}, [IMG2]),
    ({"type": "LPPool3d", "norm_type": 1, "kernel_size": 2}, [IMG3]),
    ({"type": "AdaptiveAvgPool1d", "output_size": 5}, [IMG1]),
    ({"type": "AdaptiveAvgPool2d", "output_size": 1}, [IMG2]),
    ({"type": "AdaptiveAvgPool2d", "output_size": [3, 2]}, [IMG2]),
    ({"type": "AdaptiveAvgPool3d", "output_size": 2}, [IMG3]),
    ({"type": "AdaptiveMaxPool1d", "output_size": 4}, [IMG1]),
    ({"type": "AdaptiveMaxPool2d", "output_size": 1}, [IMG2]),
    ({"type": "AdaptiveMaxPool3d", "output_size": 2}, [IMG3]),
    ({"type": "BatchNorm1d"}, [[6]]),
    ({"type": "BatchNorm1d"}, [IMG1]),
    ({"type": "BatchNorm2d"}, [IMG2]),
    ({"type": "BatchNorm2d", "affine": False, "track_running_stats": False}, [IMG2]),
    ({"type": "BatchNorm3d"}, [IMG3]),
    ({"type": "InstanceNorm1d"}, [IMG1]),
    ({"type": "InstanceNorm2d", "affine": True}, [IMG2]),
    ({"type": "InstanceNorm3d"}, [IMG3]),
    ({"type": "LayerNorm"}, [SEQ]),
    ({"type": "LayerNorm", "normalized_shape": [10, 9]}, [IMG2]),
    ({"type": "RMSNorm"}, [SEQ]),
    ({"type": "RMSNorm", "elementwise_affine": False}, [SEQ]),
    ({"type": "GroupNorm", "num_groups": 2}, [IMG2]),
    ({"type": "LocalResponseNorm", "size": 3}, [IMG2]),
    ({"type": "RNN", "hidden_size": 6}, [SEQ]),
    ({"type": "RNN", "hidden_size": 5, "num_layers": 2, "nonlinearity": "relu"}, [SEQ]),
    ({"type": "LSTM", "hidden_size": 6}, [SEQ]),
    ({"type": "LSTM", "hidden_size": 5, "num_layers": 2, "bidirectional": True}, [SEQ]),
    ({"type": "GRU", "hidden_size": 6}, [SEQ]),
    ({"type": "RNNCell", "hidden_size": 6}, [[8]]),
    ({"type": "LSTMCell", "hidden_size": 6}, [[8]]),
    ({"type": "GRUCell", "hidden_size": 6}, [[8]]),
    ({"type": "MultiheadAttention", "num_heads": 2}, [SEQ]),
    ({"type": "MultiheadAttention", "num_heads": 2, "need_weights": True}, [SEQ]),
    ({"type": "MultiheadAttention", "num_heads": 2}, [SEQ, [5, 8]]),
    ({"type": "ScaledDotProductAttention"}, [[2, 7, 4], [2, 5, 4], [2, 5, 4]]),
    ({"type": "ScaledDotProductAttention", "is_causal": True}, [[2, 7, 4], [2, 7, 4], [2, 7, 4]]),
    ({"type": "TransformerEncoderLayer", "nhead": 2, "dim_feedforward": 16, "dropout": 0.0}, [SEQ]),
    ({"type": "TransformerEncoderLayer", "nhead": 2, "dim_feedforward": 16, "dropout": 0.0, "norm_first": True,
      "activation": "gelu"}, [SEQ]),
    ({"type": "TransformerDecoderLayer", "nhead": 2, "dim_feedforward": 16, "dropout": 0.0}, [SEQ, [5, 8]]),
    ({"type": "Transformer", "nhead": 2, "num_encoder_layers": 1, "num_decoder_layers": 1, "dim_feedforward": 16,
      "dropout": 0.0}, [SEQ, [5, 8]]),
    ({"type": "Add"}, [IMG2, IMG2]),
    ({"type": "Add"}, [IMG2, IMG2, IMG2]),
    ({"type": "Multiply"}, [IMG2, IMG2]),
    ({"type": "Scale", "factor": 0.5}, [SEQ]),
    ({"type": "Cast", "dtype": "bfloat16"}, [SEQ]),
    ({"type": "Concat"}, [IMG2, [3, 10, 9]]),
    ({"type": "ReLU"}, [IMG2]),
    ({"type": "ReLU", "inplace": True}, [IMG2]),
    ({"type": "ReLU6"}, [IMG2]),
    ({"type": "ReLU6", "inplace": True}, [IMG2]),
    ({"type": "LeakyReLU"}, [IMG2]),
    ({"type": "LeakyReLU", "inplace": True}, [IMG2]),
    ({"type": "PReLU"}, [IMG2]),
    ({"type": "PReLU", "num_parameters": 4}, [IMG2]),
    ({"type": "RReLU"}, [IMG2]),
    ({"type": "RReLU", "inplace": True}, [IMG2]),
    ({"type": "ELU"}, [IMG2]),
    ({"type": "ELU", "inplace": True}, [IMG2]),
    ({"type": "SELU"}, [IMG2]),
    ({"type": "CELU"}, [IMG2]),
    ({"type": "GELU"}, [IMG2]),
    ({"type": "GELU", "approximate": "tanh"}, [IMG2]),
    ({"type": "SiLU"}, [IMG2]),
    ({"type": "SiLU", "inplace": True}, [IMG2]),
    ({"type": "Mish"}, [IMG2]),
    ({"type": "Hardswish"}, [IMG2]),
    ({"type": "Hardsigmoid"}, [IMG2]),
    ({"type": "Hardtanh"}, [IMG2]),
    ({"type": "Hardtanh", "inplace": True}, [IMG2]),
    ({"type": "Sigmoid"}, [IMG2]),
    ({"type": "LogSigmoid"}, [IMG2]),
    ({"type": "Tanh"}, [IMG2]),
    ({"type": "Softplus"}, [IMG2]),
    ({"type": "Softsign"}, [IMG2]),
    ({"type": "Tanhshrink"}, [IMG2]),
    ({"type": "Hardshrink"}, [IMG2]),
    ({"type": "Softshrink"}, [IMG2]),
    ({"type": "Threshold", "threshold": 0.1, "value": 0.0}, [IMG2]),
    ({"type": "Softmax", "dim": -1}, [IMG2]),
    ({"type": "LogSoftmax", "dim": 1}, [IMG2]),
    ({"type": "Softmin", "dim": -1}, [IMG2]),
    ({"type": "Softmax2d"}, [IMG2]),
    ({"type": "GLU"}, [[4, 10, 8]]),
    ({"type": "Linear", "out_features": 5}, [[8]]),
    ({"type": "Linear", "out_features": 5}, [SEQ]),
    ({"type": "Linear", "out_features": 5, "trainable": False}, [SEQ]),
    ({"type": "Bilinear", "out_features": 5}, [[8], [6]]),
    ({"type": "Embedding", "num_embeddings": 20, "embedding_dim": 6}, [{"shape": [7], "dtype": "int64"}]),
    ({"type": "EmbeddingBag", "num_embeddings": 20, "embedding_dim": 6}, [{"shape": [7], "dtype": "int64"}]),
    ({"type": "EmbeddingBag", "num_embeddings": 20, "embedding_dim": 6, "mode": "max"},
     [{"shape": [7], "dtype": "int64"}]),
    ({"type": "Identity"}, [IMG2]),
    ({"type": "Flatten"}, [IMG2]),
    ({"type": "Unflatten", "dim": 1, "unflattened_size": [2, 2]}, [IMG2]),
    ({"type": "Dropout"}, [IMG2]),
    ({"type": "Dropout", "p": 0.0}, [IMG2]),
    ({"type": "Dropout", "inplace": True}, [IMG2]),
    ({"type": "Dropout1d"}, [IMG1]),
    ({"type": "Dropout2d"}, [IMG2]),
    ({"type": "Dropout3d"}, [IMG3]),
    ({"type": "AlphaDropout"}, [IMG2]),
    ({"type": "FeatureAlphaDropout"}, [IMG2]),
    ({"type": "Reshape", "shape": [-1]}, [IMG2]),
    ({"type": "View", "shape": [40, 9]}, [IMG2]),
    ({"type": "Permute", "dims": [0, 2, 3, 1]}, [IMG2]),
    ({"type": "Transpose", "dim0": 1, "dim1": 2}, [IMG2]),
    ({"type": "Select", "dim": 1, "index": 0}, [IMG2]),
    ({"type": "Slice", "dim": 2, "start": 2, "end": 8, "step": 2}, [IMG2]),
    ({"type": "Mean", "dim": [2, 3]}, [IMG2]),
    ({"type": "Sum", "dim": 1}, [IMG2]),
    ({"type": "Upsample", "scale_factor": 2}, [IMG2]),
    ({"type": "Upsample", "scale_factor": 2, "mode": "bilinear", "align_corners": False}, [IMG2]),
    ({"type": "UpsamplingNearest2d", "scale_factor": 2}, [IMG2]),
    ({"type": "UpsamplingBilinear2d", "scale_factor": 2}, [IMG2]),
    ({"type": "PixelShuffle", "upscale_factor": 2}, [IMG2]),
    ({"type": "PixelUnshuffle", "downscale_factor": 2}, [[4, 10, 8]]),
    ({"type": "ChannelShuffle", "groups": 2}, [IMG2]),
    ({"type": "ZeroPad1d", "padding": 2}, [IMG1]),
    ({"type": "ZeroPad2d", "padding": 1}, [IMG2]),
    ({"type": "ZeroPad3d", "padding": 1}, [IMG3]),
    ({"type": "ConstantPad1d", "padding": 2, "value": 0.5}, [IMG1]),
    ({"type": "ConstantPad2d", "padding": [1, 0, 2, 1], "value": 0.5}, [IMG2]),
    ({"type": "ConstantPad3d", "padding": 1, "value": 0.5}, [IMG3]),
    ({"type": "ReflectionPad1d", "padding": 2}, [IMG1]),
    ({"type": "ReflectionPad2d", "padding": 1}, [IMG2]),
    ({"type": "ReflectionPad3d", "padding": 1}, [IMG3]),
    ({"type": "ReplicationPad1d", "padding": 2}, [IMG1]),
    ({"type": "ReplicationPad2d", "padding": 1}, [IMG2]),
    ({"type": "ReplicationPad3d", "padding": 1}, [IMG3]),
    ({"type": "CircularPad1d", "padding": 2}, [IMG1]),
    ({"type": "CircularPad2d", "padding": 1}, [IMG2]),
    ({"type": "CircularPad3d", "padding": 1}, [IMG3]),
    ({"type": "Parameter", "shape": [1, 10, 9]}, []),
    ({"type": "Buffer", "shape": [1, 10, 9]}, []),
    ({"type": "MatMul"}, [[2, 5, 6], [2, 6, 4]]),
    ({"type": "MatMul"}, [[3, 5, 6], [1, 6, 4]]),
    ({"type": "Roll", "shifts": [1, -2], "dims": [1, 2]}, [IMG2]),
    ({"type": "Chunk", "chunks": 3, "dim": 1}, [IMG2]),
    ({"type": "Split", "split_size_or_sections": [1, 3], "dim": -1}, [[4, 10, 4]]),
    ({"type": "StochasticDepth", "p": 0.2, "mode": "row"}, [IMG2]),
    ({"type": "StochasticDepth", "p": 0.5, "mode": "batch"}, [IMG2]),
    ({"type": "StochasticDepth", "p": 0.0, "mode": "row"}, [IMG2]),
    ({"type": "ScaledDotProductAttention"}, [[2, 7, 4], [2, 5, 4], [2, 5, 4], [2, 7, 5]]),
    ({"type": "ScaledDotProductAttention"}, [[2, 3, 7, 4], [2, 3, 5, 4], [2, 3, 5, 4], [1, 3, 7, 5]]),
    ({"type": "RotaryEmbedding", "dim": 4}, [[7, 6]]),
    ({"type": "ApplyRotary"}, [[2, 7, 4], {"rotary": 4}]),
    ({"type": "ApplyRotary"}, [[3, 5, 6], {"rotary": 2}]),
    ({"type": "Experts", "num_experts": 3, "intermediate_size": 5, "top_k": 2}, [[7, 8], [7, 3]]),
    ({"type": "Experts", "num_experts": 4, "intermediate_size": 6, "top_k": 1, "activation": "gelu"}, [[5, 8], [5, 4]]),
]


def _config(entry: Mapping[str, Any], shapes: Sequence[Any], *, first: bool = False) -> Dict[str, Any]:
    """The layer fed scaled inputs (non-leaf tensors that need a gradient) or,
    with ``first``, the model inputs themselves."""
    inputs = {f"x{i}": shape for i, shape in enumerate(shapes)}
    layers: List[Dict[str, Any]] = [{"type": "Parameter", "shape": [1], "name": "scale"}]
    sources = []
    for name, shape in inputs.items():
        if isinstance(shape, dict) or first:
            sources.append(name)
        else:
            layers.append({"type": "Multiply", "from": [name, "scale"], "name": f"scaled_{name}"})
            sources.append(f"scaled_{name}")
    layer = dict(entry, name="layer")
    if entry["type"] == "ApplyRotary":  # the tables of a RotaryEmbedding on the input, shared by every use
        (shape, tables), = [shapes]
        inputs = {"x0": shape}
        layers += [{"type": "RotaryEmbedding", "from": "x0", "dim": tables["rotary"], "name": "rotary"},
                   dict(layer, **{"from": ["x0" if first else "scaled_x0", "rotary.0", "rotary.1"]}),
                   {"type": "ApplyRotary", "from": ["layer", "rotary.0", "rotary.1"]}]
        return {"paramlint": 1, "inputs": inputs, "layers": layers}
    if entry["type"] in ("Parameter", "Buffer"):
        inputs = {"x0": [4, 10, 9]}
        layers += [layer, {"type": "Add", "from": ["x0", "layer"]}]
    elif sources:
        layer["from"] = sources if len(sources) > 1 else sources[0]
        layers.append(layer)
    return {"paramlint": 1, "inputs": inputs or {"x0": [1]}, "layers": layers}


def _ours(data: Mapping[str, Any], device_precision: str = "fp32") -> Tuple[Dict[int, int], Any]:
    findings, analysis = analyze_document(data, None, SchemaValidator())
    assert analysis is not None, findings
    graph, _ = build_graph(data)
    setup = read_training(data.get("training")).replace(batch_size=BATCH, precision=device_precision)
    model = MemoryModel(analysis.shapes, setup, output=graph.output, device=CPU)
    size = sizes(model.training, BATCH, 1)
    per_layer = {layer: sum(size[s] for s in storages) for layer, storages in model.training.layer_saved.items()}
    return {layer: total for layer, total in per_layer.items() if total}, analysis


def _inputs(data: Mapping[str, Any], batch: int) -> List[Any]:
    tensors = []
    for spec in data["inputs"].values():
        shape = spec["shape"] if isinstance(spec, dict) else spec
        dtype = spec.get("dtype", "float32") if isinstance(spec, dict) else "float32"
        if dtype.startswith("int"):
            tensors.append(torch.randint(0, 2, (batch, *shape), dtype=getattr(torch, dtype)))
        else:
            tensors.append(torch.randn(batch, *shape))
    return tensors


def _theirs(data: Mapping[str, Any], batch: int) -> Dict[int, int]:
    torch.manual_seed(0)
    model = build(data)
    return network_saved(model, _inputs(data, batch))


def _label(case: Case) -> str:
    entry = case[0]
    extra = ",".join(f"{k}={v}" for k, v in entry.items() if k != "type")
    return f"{entry['type']}({extra})"


def test_every_layer_type_has_a_case():
    from paramlint.model.layers import REGISTRY

    assert {entry["type"] for entry, _ in CASES} == set(REGISTRY)


@pytest.mark.parametrize("case", CASES, ids=[_label(c) for c in CASES])
def test_layer_saves_what_torch_saves(case):
    entry, shapes = case
    data = _config(entry, shapes)
    ours, _ = _ours(data)
    assert ours == _theirs(data, BATCH)


@pytest.mark.parametrize("entry,shapes", [
    ({"type": "Conv2d", "out_channels": 5, "kernel_size": 3}, [IMG2]),
    ({"type": "Linear", "out_features": 5}, [SEQ]),
    ({"type": "BatchNorm2d"}, [IMG2]),
    ({"type": "LayerNorm"}, [SEQ]),
    ({"type": "Conv2d", "out_channels": 5, "kernel_size": 3, "trainable": False}, [IMG2]),
])
def test_first_layer_saves_what_torch_saves(entry, shapes):
    """Applied to the model input (no gradient needed for it): frozen layers save nothing."""
    data = _config(entry, shapes, first=True)
    ours, _ = _ours(data)
    assert ours == _theirs(data, BATCH)


def _example(name: str) -> Dict[str, Any]:
    data = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text(encoding="utf-8"))
    if name == "gpt2_small":  # 32 tokens: the position table shrinks with them
        data["inputs"]["tokens"]["shape"] = [32]
        next(layer for layer in data["layers"] if layer.get("name") == "wpe")["shape"] = [32, 768]
    if name == "bert_base":
        data["inputs"] = {key: {"shape": [16], "dtype": "int64"} for key in data["inputs"]}
        next(layer for layer in data["layers"] if layer.get("name") == "positions")["end"] = 16
        # With attention dropout the CPU leaves the fused attention kernel that CUDA keeps (and that paramlint
        # models) for its math kernel; without it both run the fused kernel.
        for layer in data["layers"]:
            if layer["type"] == "TransformerEncoderLayer":
                layer["dropout"] = 0.0
    if "input" in data:
        data["inputs"] = {"input": data.pop("input")}
    return data


EXAMPLE_NAMES = sorted(p.stem for p in EXAMPLES.glob("*.yaml") if p.stem != "broken")


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_example_network_saves_what_torch_saves(name):
    data = _example(name)
    ours, analysis = _ours(data)
    theirs = _theirs(data, BATCH)
    assert sum(ours.values()) == sum(theirs.values())
    assert ours == theirs


def _windowed_attention(windows: int, tokens: int, heads: int, head_dim: int) -> Dict[str, Any]:
    """Windowed attention as Swin writes it: q, k and v are Selects of one permuted qkv tensor, 5-d with the
    batch ([N, windows, heads, tokens, head_dim]), so the math kernel runs and copies the value to fold it."""
    width = heads * head_dim
    return {"paramlint": 1, "inputs": {"x0": [windows, tokens, width]}, "layers": [
        {"type": "Parameter", "shape": [1], "name": "scale"},
        {"type": "Multiply", "from": ["x0", "scale"]},
        {"type": "Linear", "out_features": 3 * width},
        {"type": "Reshape", "shape": [windows, tokens, 3, heads, head_dim]},
        {"type": "Permute", "dims": [0, 3, 1, 4, 2, 5], "name": "qkv"},
        {"type": "Select", "dim": 1, "index": 0, "name": "q", "from": "qkv"},
        {"type": "Select", "dim": 1, "index": 1, "name": "k", "from": "qkv"},
        {"type": "Select", "dim": 1, "index": 2, "name": "v", "from": "qkv"},
        {"type": "ScaledDotProductAttention", "from": ["q", "k", "v"], "name": "layer"},
    ]}


@pytest.mark.parametrize("windows,tokens,heads,head_dim", [(4, 49, 3, 32), (2, 5, 2, 4), (1, 7, 1, 8)])
def test_windowed_attention_saves_what_torch_saves(windows, tokens, heads, head_dim):
    data = _windowed_attention(windows, tokens, heads, head_dim)
    ours, _ = _ours(data)
    assert ours == _theirs(data, BATCH)
