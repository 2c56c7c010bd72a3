"""GFLOPs as Ultralytics' ``model.info()`` prints them: thop's counting rules (ultralytics-thop, the version
pinned in docs/ultralytics.md) on a batch of one at the image size, times two.

thop counts per module, not per operation as FlopCounterMode does: a convolution's multiply-adds without its
bias, 4 per element for an eval BatchNorm (normalise and affine), in + out elements for adaptive average
pooling, the multiply-adds of a Linear and of matmuls run outside modules (attention), and nothing for
activations, max pooling and nearest upsampling.  FlopCounterMode counts 2 per multiply-add of convolutions,
linears and matmuls, adds conv biases, and nothing else.
"""
from __future__ import annotations

from math import prod
from typing import Any, Mapping, Sequence

from ...model.analysis import ShapeAnalysis


def _kernel(args: Mapping[str, Any]) -> int:
    k = args["kernel_size"]
    return prod(k) if isinstance(k, (list, tuple)) else k * k


def thop_macs(layer_type: str, args: Mapping[str, Any], inputs: Sequence[Sequence[int]],
              output: Sequence[int]) -> int:
    """One layer's multiply-adds by thop's rules, for one sample."""
    if layer_type == "Conv2d":
        return prod(output) * (args["in_channels"] // args["groups"]) * _kernel(args)
    if layer_type == "ConvTranspose2d":
        return prod(inputs[0]) * (args["out_channels"] // args["groups"]) * _kernel(args)
    if layer_type in ("BatchNorm2d", "BatchNorm1d"):
        return 4 * prod(inputs[0]) if args.get("affine", True) else 2 * prod(inputs[0])
    if layer_type == "Linear":
        return args["in_features"] * prod(output)
    if layer_type == "AdaptiveAvgPool2d":
        return prod(inputs[0]) + prod(output)
    if layer_type == "ScaledDotProductAttention":
        q, k, v = inputs
        return prod(output) // v[-1] * k[-2] * (q[-1] + v[-1])
    return 0


def ultralytics_gflops(shapes: ShapeAnalysis) -> float:
    """GFLOPs by Ultralytics' convention (``get_flops``): 2 x thop multiply-adds / 1e9, batch 1."""
    macs = sum(thop_macs(info.node.type, info.result.args, [t.shape for t in info.inputs], info.output.shape)
               for info in shapes.layers)
    return 2 * macs / 1e9
