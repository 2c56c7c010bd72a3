"""The expert loop of a mixture-of-experts layer while serving (transformers' ``MixtralExperts``, 5.25).

What the loop holds depends on the routing: each expert that some token chose
gathers its tokens, runs its gated MLP and adds the result in place, and the
loop's locals of one expert live on while the next expert computes.  The
figure paramlint gives is the worst case, every token routed to the same
``top_k`` experts (each then sees all ``T`` tokens): any other routing splits
the tokens, so no two consecutive experts hold more.  A router that scores
every expert alike (all-zero weights) routes exactly so, which is how the
tests reproduce it.

Per sequence, with ``L`` tokens, ``H`` the width, ``I`` the expert width,
``E`` experts, ``b`` bytes per element of the model's dtype: the router's
float32 softmax (``L x E``, and its float32 copy of the logits in half
precision), the top-k weights (float32) and indices (int64) and the one-hot
expert mask (``L x top_k x (E + 1)`` int64) for the whole loop; per expert
the positions (``torch.where``: ``L x 2`` int64), the gathered tokens
(``L x H``), the gate/up projection (``L x 2I``), the activation and the
gated product (``L x I`` each), the down projection (``L x H``), the routing
weights gathered (``L`` float32) and the weighted output (``L x H`` float32,
promoted by the weights; in half precision cast back for ``index_add_``).
"""
from __future__ import annotations

from typing import Any, List, Tuple

from ..model.analysis import ShapeAnalysis
from .plan import ACTIVATIONS, TRANSIENT, Storages
from .precision import dtype_bytes

Step = Tuple[Tuple[int, ...], Tuple[int, ...], Tuple[int, ...], str, int]


def expert_steps(storages: Storages, shapes: ShapeAnalysis, plan: Any, index: int,
                 step: Step) -> List[Step]:
    """The layer's step replaced by the loop's allocations and frees, in the order Python runs them."""
    info = shapes.layers[index]
    args = info.result.args
    x = info.inputs[0]
    hidden, inner, experts, top_k = args["hidden_size"], args["intermediate_size"], args["num_experts"], args["top_k"]
    tokens = x.numel // hidden if hidden else 0
    dtype = plan.values[(index, 0)].dtype
    size = dtype_bytes(dtype)
    before, allocs, frees, phase, layer = step
    out: List[Step] = []

    def new(nbytes: int, category: int = TRANSIENT) -> int:
        storage = storages.new(nbytes, "bool", x.batched, category)  # one byte an element: numel is the bytes
        out.append(((), (storage,), (), phase, layer))
        return storage

    def free(*dead: int) -> None:
        out.append((dead, (), (), phase, layer))

    out.append((before, (), (), phase, layer))
    # the router (its Linear is the graph's previous layer): softmax in float32, top-k
    cast = new(4 * tokens * experts) if size != 4 else None
    probs = new(4 * tokens * experts)
    kept = [new(4 * tokens * top_k), new(8 * tokens * top_k)]  # weights, indices
    free(probs, *((cast,) if cast is not None else ()))
    out.append(((), tuple(allocs), (), phase, layer))  # final_hidden_states = zeros_like(x)
    kept.append(new(8 * tokens * top_k * (experts + 1)))  # the one-hot expert mask
    kept.append(storages.new_fixed(8 * min(top_k, experts), ACTIVATIONS))  # expert_hit
    out.append(((), (kept[-1],), (), phase, layer))
    last: List[int] = []
    for _ in range(min(top_k, experts)):
        positions = new(16 * tokens)
        free(*last[:1])
        gathered = new(size * tokens * hidden)
        free(*last[1:2])
        gate_up = new(2 * size * tokens * inner)
        free(*last[2:3])
        act = new(size * tokens * inner)
        gated = new(size * tokens * inner)
        free(act, *last[3:4])
        down = new(size * tokens * hidden)
        free(gated)
        routing = new(4 * tokens)
        weighted = new(4 * tokens * hidden)
        free(routing, down)
        if size != 4:
            free(new(size * tokens * hidden))  # .to(final_hidden_states.dtype) for index_add_
        last = [positions, gathered, gate_up, weighted]
    out.append(((), (), tuple(frees) + tuple(last) + tuple(kept), phase, layer))
    return out
