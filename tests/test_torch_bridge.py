"""paramlint.torch.build: the real model of a config agrees with paramlint's analysis."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Dict

import pytest
import yaml

torch = pytest.importorskip("torch")

from paramlint.lint import analyze_document  # noqa: E402
from paramlint.torch import build, count_parameters  # noqa: E402
from paramlint.validation.validator import SchemaValidator  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _config(text: str) -> Dict[str, Any]:
    return yaml.safe_load(textwrap.dedent(text))


def _analysis(data: Dict[str, Any]):
    findings, analysis = analyze_document(data, None, SchemaValidator())
    assert analysis is not None, findings
    return analysis


def _agrees(data: Dict[str, Any], *inputs: Any) -> Any:
    """Build, run a batch of 2 and compare counts and output shape with paramlint; return the model."""
    analysis = _analysis(data)
    model = build(data)
    assert count_parameters(model) == (analysis.params, analysis.trainable_params)
    assert sum(b.numel() for b in model.buffers()) == analysis.shapes.buffers
    model.train()
    out = model(*inputs)
    assert tuple(out.shape[1:]) == analysis.shapes.output.shape
    return model


RESIDUAL = """
paramlint: 1
input: [3, 8, 8]
blocks:
  Res:
    args: {c: null}
    layers:
      - {type: Conv2d, out_channels: $c, kernel_size: 3, padding: 1, name: conv}
      - {type: BatchNorm2d, name: bn}
      - {type: Add, from: [bn, input], name: add}
layers:
  - {type: Conv2d, out_channels: 4, kernel_size: 1, name: stem}
  - {type: Res, c: 4, repeat: 2, name: stage}
  - {type: Res, c: 4}
  - {type: ReLU, repeat: 2}
  - {type: Flatten}
  - {type: Linear, out_features: 3, name: eval}
"""


def test_module_names_mirror_the_config():
    model = _agrees(_config(RESIDUAL), torch.randn(2, 3, 8, 8))
    names = [name for name, _ in model.named_parameters()]
    assert names[:4] == ["stem.weight", "stem.bias", "stage.0.conv.weight", "stage.0.conv.bias"]
    assert "stage.1.bn.weight" in names and "2.conv.weight" in names
    assert "eval_.weight" in names  # `eval` is a method of nn.Module: a trailing _ keeps it apart
    assert [n for n, _ in model.named_buffers()][0] == "stage.0.bn.running_mean"
    assert isinstance(model.get_submodule("3.1"), torch.nn.ReLU)  # a repeated unnamed layer
    assert model.module_path(1) == "stage.0.conv"


def test_inputs_from_a_path_yaml_text_json_text_and_a_dict(tmp_path):
    data = _config(RESIDUAL)
    path = tmp_path / "model.yaml"
    path.write_text(textwrap.dedent(RESIDUAL))
    json_text = json.dumps(data)
    for config in (path, str(path), textwrap.dedent(RESIDUAL), json_text, data):
        assert count_parameters(build(config))[0] == _analysis(data).params


def test_errors_are_raised_with_their_location():
    broken = RESIDUAL.replace("out_features: 3", "in_features: 7, out_features: 3")
    with pytest.raises(ValueError, match=r"<config>:\d+:\d+: PL401 Linear expects in_features 7"):
        build(textwrap.dedent(broken))
    with pytest.raises(ValueError, match=r"layers\[5\]\.in_features: PL401"):
        build(_config(broken))
    with pytest.raises(ValueError, match="examples/broken.yaml:14:33: PL401"):
        build(str(ROOT / "examples" / "broken.yaml"))
    with pytest.raises(ValueError, match="not a paramlint model config"):
        build({"layers": []})
    with pytest.raises(ValueError, match="PL101"):
        build("paramlint: 1\nlayers: [\n")


def test_shares_ties_one_parameter_and_counts_it_once():
    data = _config("""
        paramlint: 1
        input: {shape: [5], dtype: int64}
        layers:
          - {type: Embedding, num_embeddings: 11, embedding_dim: 4, name: emb}
          - {type: Linear, out_features: 11, shares: emb, name: head}
    """)
    model = _agrees(data, torch.randint(0, 11, (2, 5)))
    assert model.head.weight is model.emb.weight
    assert count_parameters(model)[0] == 11 * 4 + 11
    model(torch.randint(0, 11, (2, 5))).sum().backward()
    assert model.emb.weight.grad is not None


def test_trainable_false_freezes_a_layer_and_a_block_use():
    data = _config(RESIDUAL)
    data["layers"][0]["trainable"] = False
    data["layers"][1]["trainable"] = False
    model = _agrees(data, torch.randn(2, 3, 8, 8))
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen == {n for n, _ in model.named_parameters() if n.startswith(("stem.", "stage."))}


def test_recurrent_states_are_numbered_as_paramlint_numbers_them():
    data = _config("""
        paramlint: 1
        input: [7, 3]
        layers:
          - {type: LSTM, hidden_size: 5, num_layers: 2, bidirectional: true, name: rnn}
          - {type: Concat, from: [rnn.1, rnn.2], dim: 2, name: states}     # [4, 5] + [4, 5]
          - {type: GRU, from: rnn, hidden_size: 6, name: gru}
          - {type: Flatten, from: gru.1, name: h}
          - {type: Linear, from: states, out_features: 2, name: out}
          - {type: Add, from: [out, h], name: never_used}
    """)
    findings, _ = analyze_document(data, None, SchemaValidator())
    assert [f.code for f in findings] == ["PL401"]  # [4, 2] + [6] do not broadcast
    data["layers"].pop()
    model = _agrees(data, torch.randn(2, 7, 3))
    assert model(torch.randn(2, 7, 3)).shape == (2, 4, 2)


def test_attention_weights_and_cross_attention():
    data = _config("""
        paramlint: 1
        inputs: {q: [3, 8], kv: [5, 6]}
        layers:
          - {type: MultiheadAttention, from: [q, kv], num_heads: 2, need_weights: true, name: cross}
          - {type: Linear, from: cross.1, out_features: 4}                # weights [3, 5]
    """)
    model = _agrees(data, torch.randn(2, 3, 8), torch.randn(2, 5, 6))
    assert model(q=torch.randn(1, 3, 8), kv=torch.randn(1, 5, 6)).shape == (1, 3, 4)


def test_operations_that_are_not_torch_nn_classes():
    data = _config("""
        paramlint: 1
        input: [4, 6, 8]
        layers:
          - {type: Parameter, shape: [1, 6, 8], name: bias}
          - {type: Multiply, from: [input, bias], name: scaled}          # [4, 6, 8]
          - {type: Permute, dims: [0, 2, 3, 1], name: p}                 # [6, 8, 4]
          - {type: Transpose, dim0: 1, dim1: 2, name: t}                 # [8, 6, 4]
          - {type: Slice, dim: -1, start: 1, step: 2, name: s}           # [8, 6, 2]
          - {type: Reshape, shape: [8, 12], name: r1}
          - {type: View, shape: [-1, 4, 2], name: r}                     # [12, 4, 2]
          - {type: Mean, dim: [2], keepdim: true, name: m}               # [12, 1, 2]
          - {type: Sum, dim: -1, name: su}                               # [12, 1]
          - {type: Select, dim: 2, index: 0, name: sel}                  # [12]
          - {type: Reshape, shape: [3, 2, 2], name: qkv}
          - {type: ScaledDotProductAttention, from: [qkv, qkv, qkv], is_causal: true, name: att}
    """)
    model = _agrees(data, torch.randn(2, 4, 6, 8))
    assert model.bias.weight.shape == (1, 6, 8)


def test_concat_expands_an_unbatched_class_token():
    data = _config("""
        paramlint: 1
        input: [4, 8]
        layers:
          - {type: Parameter, shape: [1, 1, 8], name: cls}
          - {type: Concat, from: [cls, input], dim: 1}
          - {type: Parameter, shape: [5, 8], name: pos}
          - {type: Add, from: [1, pos]}
    """)
    model = _agrees(data, torch.randn(3, 4, 8))
    out = model(torch.randn(3, 4, 8))
    assert torch.equal(out[:, 0], (model.cls.weight[0, 0] + model.pos.weight[0]).expand(3, 8))


def test_inputs_are_checked():
    data = _config("""
        paramlint: 1
        inputs: {a: [4], b: [4]}
        layers:
          - {type: Add, from: [a, b]}
    """)
    model = build(data)
    assert model(torch.ones(1, 4), b=torch.ones(1, 4)).sum() == 8
    with pytest.raises(TypeError, match="missing input"):
        model(torch.ones(1, 4))
    with pytest.raises(TypeError, match="unknown input"):
        model(torch.ones(1, 4), c=torch.ones(1, 4))
    with pytest.raises(TypeError, match="given twice"):
        model(torch.ones(1, 4), a=torch.ones(1, 4))
    with pytest.raises(TypeError, match="takes 2 input"):
        model(torch.ones(1, 4), torch.ones(1, 4), torch.ones(1, 4))


def test_checkpointed_layers_still_train():
    data = _config(RESIDUAL)
    data["layers"][1]["checkpoint"] = True
    model = build(data)
    model.train()
    model(torch.randn(2, 3, 8, 8)).sum().backward()
    assert model.get_submodule("stage.0.conv").weight.grad is not None


def test_the_linter_core_never_imports_torch():
    code = ("import sys, paramlint.cli, paramlint.lint, paramlint.validation.generate;"
            "paramlint.lint.lint_paths(['examples']);"
            "sys.exit(1 if 'torch' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_the_model_takes_the_dtype_of_its_inputs():
    data = _config("""
        paramlint: 1
        input: {shape: [6], dtype: float64}
        layers:
          - {type: Linear, out_features: 3}
          - {type: BatchNorm1d}
    """)
    model = _agrees(data, torch.randn(2, 6, dtype=torch.float64))
    assert model.get_submodule("0").weight.dtype == torch.float64
    assert model.get_submodule("1").num_batches_tracked.dtype == torch.int64
    assert build(data, dtype=torch.float32).get_submodule("0").weight.dtype == torch.float32


def test_shares_ties_nested_parameters():
    data = _config("""
        paramlint: 1
        input: [5, 8]
        layers:
          - {type: TransformerEncoderLayer, nhead: 2, dim_feedforward: 16, dropout: 0.0, name: first}
          - {type: TransformerEncoderLayer, nhead: 2, dim_feedforward: 16, dropout: 0.0, shares: first}
    """)
    model = _agrees(data, torch.randn(2, 5, 8))
    assert model.get_submodule("1").self_attn.out_proj.weight is model.first.self_attn.out_proj.weight
    assert count_parameters(model)[0] == count_parameters(model.first)[0]


def test_lists_reach_torch_as_tuples():
    data = _config("""
        paramlint: 1
        input: [2, 3, 4, 5]
        layers:
          - {type: Upsample, scale_factor: [2, 1.5, 1], mode: trilinear}
          - {type: Conv3d, out_channels: 2, kernel_size: [1, 2, 3], padding: [0, 1, 1]}
    """)
    model = _agrees(data, torch.randn(2, 2, 3, 4, 5))
    assert model.get_submodule("0").scale_factor == (2.0, 1.5, 1.0)


class _Doubled(torch.nn.Module):
    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: Any) -> Any:
        return 2 * self.inner(x)


def test_forward_runs_a_module_replaced_after_build():
    # peft (get_peft_model) and users swap modules with setattr: the forward follows the path, not the old object
    model = build(_config(RESIDUAL))
    x = torch.randn(2, 3, 8, 8)
    before = model(x)
    stage = model.get_submodule("stage.0")
    stage.conv = _Doubled(stage.conv)
    after = model(x)
    assert not torch.equal(before, after)
    stage.conv = stage.conv.inner
    assert torch.equal(model(x), before)
    assert [m for _, m, _ in model._steps][1] is model.get_submodule("stage.0.conv")


def test_a_removed_container_is_named():
    model = build(_config(RESIDUAL))
    del model.stage
    with pytest.raises(AttributeError, match="stage.0.conv"):
        model(torch.randn(2, 3, 8, 8))
