"""The examples in examples/ against published counts and hand-written torch models.

For every example: paramlint lints it cleanly and reproduces the published
parameter count; an independent torch model (tests/reference_models.py,
mirroring torchvision's / Hugging Face's architectures) has the same total,
trainable and buffer counts, output shape and FLOPs
(``torch.utils.flop_counter.FlopCounterMode`` at batch 1); and the model
``paramlint.torch.build`` makes from the example agrees too.

Big models are counted on the ``meta`` device (shapes only, no memory, no
arithmetic), and FLOPs always are: paramlint's convention is FlopCounterMode
on ``meta`` (tests/meta_flops.py), which sees the attention and recurrence
that the CPU's fused kernels hide from it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

import pytest
import yaml

torch = pytest.importorskip("torch")
import meta_flops  # noqa: E402
import reference_models as ref  # noqa: E402
import reference_vision as ref_vision  # noqa: E402
from memory_cases import inputs_of  # noqa: E402
from paramlint.cli import main as cli_main  # noqa: E402
from paramlint.lint import Analysis, Linter, analyze_document  # noqa: E402
from paramlint.torch import build  # noqa: E402
from paramlint.validation.validator import SchemaValidator  # noqa: E402

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"


@dataclass(frozen=True)
class Example:
    published: Optional[int]          # the published parameter count, where there is one
    reference: Callable[[], Any]      # the independent torch model


EXAMPLES: Dict[str, Example] = {
    "resnet18": Example(11_689_512, ref.resnet18),
    "resnet50": Example(25_557_032, ref.resnet50),
    "mobilenet_v2": Example(3_504_872, ref.MobileNetV2),
    "mobilenet_v3_large": Example(5_483_032, ref_vision.MobileNetV3Large),
    "swin_t": Example(28_288_354, ref_vision.SwinT),
    "vgg16": Example(138_357_544, ref.VGG16),
    "vit_b16": Example(86_567_656, ref.ViTB16),
    "gpt2_small": Example(124_439_808, ref.GPT2LMHead),
    "bert_base": Example(109_482_240, ref.BertModel),
    "unet_small": Example(None, ref.UNetSmall),
    "lstm_lm": Example(19_780_400, ref.LSTMLanguageModel),
}

# Forward FLOPs at batch 1 (FlopCounterMode on meta), pinned where the CPU's
# counter sees less: its flash attention and fused LSTM count 0.
PINNED_FLOPS = {
    "gpt2_small": 291_648_307_200,  # 12 x 3,221,225,472 of attention the CPU misses
    "vit_b16": 35_127_656_448,
    "lstm_lm": 928_200_000,  # the CPU sees the decoder only: 455,000,000
}


def _data(name: str) -> Dict[str, Any]:
    return yaml.safe_load((EXAMPLES_DIR / f"{name}.yaml").read_text(encoding="utf-8"))


def _analysis(data: Mapping[str, Any]) -> Analysis:
    findings, analysis = analyze_document(data, None, SchemaValidator())
    assert analysis is not None, findings
    return analysis


def _counts(model: Any) -> Tuple[int, int, int]:
    params = list(model.parameters())
    return (sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad),
            sum(b.numel() for b in model.buffers()))


def _run(model: Any, inputs: Tuple[Any, ...]) -> Tuple[int, ...]:
    """The per-sample output shape of one training-mode forward without gradients."""
    model.train()
    with torch.no_grad():
        out = model(*inputs)
    return tuple(out.shape[1:])


def _make(device: str, factory: Callable[[], Any]) -> Any:
    with torch.device(device):
        return factory()


def test_all_examples_are_listed():
    files = {p.stem for p in EXAMPLES_DIR.glob("*.yaml")}
    assert set(EXAMPLES) <= files
    assert files - set(EXAMPLES) == {"cifar10_cnn", "cifar10_cnn_batchnorm", "broken"}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_lints_clean_with_the_published_count(name, capsys):
    path = str(EXAMPLES_DIR / f"{name}.yaml")
    assert cli_main([path]) == 0, capsys.readouterr().out
    report = Linter().lint_file(path)
    assert report.errors == 0 and report.analysis is not None
    if EXAMPLES[name].published is not None:
        assert report.analysis.params == EXAMPLES[name].published


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_matches_its_reference_model(name):
    """Counts and output shape against the hand-written model, and against build()."""
    example, data = EXAMPLES[name], _data(name)
    analysis = _analysis(data)
    expected = (analysis.params, analysis.trainable_params, analysis.shapes.buffers)
    reference = _make("meta", example.reference)
    assert _counts(reference) == expected
    assert _run(reference, tuple(inputs_of(data, 1, "meta"))) == analysis.shapes.output.shape

    built = build(data, device="meta")
    assert _counts(built) == expected
    assert _run(built, tuple(inputs_of(data, 1, "meta"))) == analysis.shapes.output.shape


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_flops_match_flop_counter(name):
    data = _data(name)
    flops = _analysis(data).flops
    inputs = lambda: inputs_of(data, 1, meta_flops.META)  # noqa: E731
    reference_flops = meta_flops.forward_flops(EXAMPLES[name].reference, inputs)
    built_flops = meta_flops.forward_flops(lambda: build(data), inputs)
    assert (reference_flops, built_flops) == (flops, flops)
    assert flops == PINNED_FLOPS.get(name, flops)


@pytest.mark.parametrize("name,buffers", [("mobilenet_v3_large", 24_446), ("swin_t", 28_812)])
def test_example_has_the_published_buffer_count(name, buffers):
    assert _analysis(_data(name)).shapes.buffers == buffers


def test_gpt2_head_is_tied_to_the_token_embedding():
    model = build(EXAMPLES_DIR / "gpt2_small.yaml", device="meta")
    assert model.lm_head.weight is model.wte.weight
    assert _counts(model)[0] == 124_439_808


def test_bert_takes_its_inputs_by_name():
    data = _data("bert_base")
    data["inputs"] = {k: {"shape": [8], "dtype": "int64"} for k in data["inputs"]}
    next(layer for layer in data["layers"] if layer.get("name") == "positions")["end"] = 8
    model = build(data, device="meta")
    ids = torch.zeros(2, 8, dtype=torch.int64, device="meta")
    model.eval()
    with torch.no_grad():
        assert model(input_ids=ids, token_type_ids=ids).shape == (2, 768)
        assert model(ids, token_type_ids=ids).shape == (2, 768)
