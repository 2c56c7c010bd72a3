"""The simulated peak against torch's live tensor storages, on the CPU.

Each case builds the example's torch model (``paramlint.torch.build``), runs
a steady-state training step (``zero_grad(set_to_none=True)``, forward,
cross-entropy, ``backward()``, ``optimizer.step()``, after a warm-up step)
under a ``TorchDispatchMode`` that follows every storage an operator creates
and frees, rounded to 512 bytes as CUDA's allocator rounds them, and
compares its peak with paramlint's (the CPU device: no fixed overhead,
float masks, a for-loop optimizer unless the config names foreach/fused).
The acceptance is 2%; in fp32 the simulation is exact on every example.
The transformers keep 2 of their 12 blocks here (the full ones are checked
for saved tensors in test_saved_tensors.py), to keep the suite quick.
"""
from __future__ import annotations


import pytest

torch = pytest.importorskip("torch")

from memory_cases import example, paramlint_model, relative_error, torch_peak  # noqa: E402

# (example, batch, optimizer override): batches and optimizers chosen so that
# the peak falls in different phases (forward/backward/optimizer step).
CASES = [
    ("cifar10_cnn", 64, None),
    ("cifar10_cnn_batchnorm", 64, None),
    ("resnet18", 2, None),
    ("resnet50", 1, "SGD"),
    ("mobilenet_v2", 2, None),
    ("unet_small", 2, None),
    ("vgg16", 1, "SGD"),
    ("vit_b16", 2, "SGD"),
    ("gpt2_small", 2, "SGD"),
    ("gpt2_small", 1, None),
    ("bert_base", 4, "SGD"),
    ("lstm_lm", 4, None),
]


@pytest.mark.parametrize("name,batch,optimizer", CASES, ids=[f"{n}-b{b}-{o or 'config'}" for n, b, o in CASES])
def test_training_peak_matches_torch(name, batch, optimizer):
    data = example(name, blocks=2)
    overrides = {"batch_size": batch, "precision": "fp32"}
    if optimizer:
        overrides.update(optimizer=optimizer, optimizer_options={})
    model, analysis = paramlint_model(data, **overrides)
    ours = model.estimate(batch).peak
    theirs = torch_peak(data, model.setup, analysis.shapes.output.shape).peak
    assert abs(relative_error(ours, theirs)) <= 0.02, (ours, theirs)


def test_seed_network_is_exact():
    data = example("cifar10_cnn")
    model, analysis = paramlint_model(data, batch_size=256)
    tracker = torch_peak(data, model.setup, analysis.shapes.output.shape)
    estimate = model.estimate()
    assert estimate.peak == tracker.peak
    assert estimate.phase == "backward"


def test_breakdown_adds_up_to_the_peak():
    model, _ = paramlint_model(example("resnet18"), batch_size=8)
    estimate = model.estimate()
    assert sum(estimate.parts().values()) == estimate.peak
    assert estimate.layer_activations and sum(estimate.layer_activations) <= estimate.forward_activations


def test_peak_grows_with_the_batch():
    model, _ = paramlint_model(example("resnet18"), batch_size=1)
    peaks = [model.peak(batch) for batch in (1, 2, 4, 8, 16)]
    assert peaks == sorted(peaks) and peaks[0] < peaks[-1]


def test_dataclass_is_plain():
    model, _ = paramlint_model(example("cifar10_cnn"), batch_size=4)
    estimate = model.estimate()
    assert estimate.replace().peak == estimate.peak
    assert estimate.to_dict()["peak"] == estimate.peak
