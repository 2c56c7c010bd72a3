"""The chapter's CIFAR-10 network and its exercises, end to end."""
from __future__ import annotations

import copy

import pytest
import yaml

from paramlint.lint import Linter, analyze_document
from paramlint.validation.validator import SchemaValidator

VALIDATOR = SchemaValidator()


def analyse(data):
    findings, analysis = analyze_document(data, None, VALIDATOR)
    assert analysis is not None, findings
    return analysis


@pytest.fixture
def seed(root):
    return yaml.safe_load((root / "examples" / "cifar10_cnn.yaml").read_text())


def test_seed_shapes_and_counts(seed):
    analysis = analyse(seed)
    layers = [info for info in analysis.shapes.layers if info.node.type != "ReLU"]
    assert [list(i.output.shape) for i in layers] == [[5, 28, 28], [5, 13, 13], [12, 11, 11], [12, 4, 4], [192],
                                                      [128], [10]]
    assert [i.params for i in layers if i.params] == [380, 552, 24_704, 1_290]
    assert analysis.params == analysis.trainable_params == 26_926
    assert analysis.flops == 770_392


@pytest.mark.parametrize("optimizer,state", [
    ("SGD", 0),
    ({"type": "SGD", "momentum": 0.9}, 26_926),
    ("Adam", 53_852),
    ({"type": "Adam", "amsgrad": True}, 80_778),
    ("AdamW", 53_852),
    ("Adagrad", 26_926),
    ({"type": "RMSprop", "momentum": 0.9, "centered": True}, 80_778),
])
def test_seed_optimizer_state(seed, optimizer, state):
    data = copy.deepcopy(seed)
    data["training"]["optimizer"] = optimizer
    assert analyse(data).optimizer_state == state


def test_batchnorm_variant(root):
    data = yaml.safe_load((root / "examples" / "cifar10_cnn_batchnorm.yaml").read_text())
    analysis = analyse(data)
    assert analysis.trainable_params == 27_216 == 26_926 + 290
    assert analysis.shapes.buffers == 293


def test_seed_matches_torch(seed):
    torch = pytest.importorskip("torch")
    import meta_flops
    nn = torch.nn

    def seed_model():
        return nn.Sequential(
            nn.Conv2d(3, 5, 5), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(5, 12, 3), nn.ReLU(), nn.MaxPool2d(5, 2),
            nn.Flatten(), nn.Linear(192, 128), nn.ReLU(), nn.Linear(128, 10),
        )

    model = seed_model()
    out = model(torch.zeros(1, 3, 32, 32))
    analysis = analyse(seed)
    assert analysis.params == sum(p.numel() for p in model.parameters())
    assert list(analysis.shapes.output.shape) == list(out.shape[1:])
    assert analysis.flops == meta_flops.forward_flops(seed_model, meta_flops.noise([[3, 32, 32]], 1))
    adam = torch.optim.Adam(model.parameters())
    out.sum().backward()
    adam.step()
    stored = sum(t.numel() for state in adam.state.values() for k, t in state.items() if k != "step")
    assert analysis.optimizer_state == stored


def test_linter_reads_example_file(root):
    report = Linter().lint_file(str(root / "examples" / "cifar10_cnn.yaml"))
    assert not report.errors and report.analysis is not None
    assert report.analysis.params == 26_926
