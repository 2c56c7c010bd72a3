"""What a user runs without paramlint: build the seed network in torch and summarise it with torchinfo.

The CIFAR-10 CNN of examples/cifar10_cnn.yaml, torch import included.  When
torchinfo is not installed, the model is built and its parameters counted
by hand (torch import + build only), and the first line printed says so.
torchinfo is never a dependency of paramlint: install it into the venv that
runs the benchmarks (``pip install torchinfo``).
"""
from __future__ import annotations

import torch
from torch import nn

try:
    from torchinfo import summary
except ImportError:  # measured as torch import + model build alone
    summary = None


def seed_network() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 5, kernel_size=5), nn.ReLU(), nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(5, 12, kernel_size=3), nn.ReLU(), nn.MaxPool2d(kernel_size=5, stride=2),
        nn.Flatten(), nn.Linear(192, 128), nn.ReLU(), nn.Linear(128, 10),
    )


def main() -> None:
    model = seed_network()
    if summary is None:
        print("torchinfo not installed: torch import + model build only")
        print(sum(p.numel() for p in model.parameters()))
        return
    import torchinfo

    print(f"torchinfo {getattr(torchinfo, '__version__', '?')} summary, torch {torch.__version__}")
    print(summary(model, input_size=(256, 3, 32, 32), verbose=0))


if __name__ == "__main__":
    main()
