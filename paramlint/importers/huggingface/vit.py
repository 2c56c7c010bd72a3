"""ViT (``ViTModel``, ``ViTForImageClassification``) as format-1 data: patches by a strided Conv2d,
a class token, learned positions, pre-norm encoder layers."""
from __future__ import annotations

from typing import Any, Dict, List

from .bert import encoder_attention
from .decoder import activation
from .fields import Fields

Entry = Dict[str, Any]


def build_vit(fields: Fields, head: str, checkpointing: bool) -> Dict[str, Any]:
    f = fields
    hidden, inner = f.size("hidden_size"), f.size("intermediate_size")
    layers_n, heads = f.size("num_hidden_layers"), f.size("num_attention_heads")
    head_dim = f.heads(hidden, "num_attention_heads", "hidden_size")
    image, patch, channels = f.size("image_size"), f.size("patch_size"), f.size("num_channels")
    eps = f.number("layer_norm_eps")
    act = activation(f, "hidden_act")
    bias = f.flag("qkv_bias", True)
    drop, attn_drop = f.probability("hidden_dropout_prob"), f.probability("attention_probs_dropout_prob")
    if patch > image:
        f.error("PL402", f"`patch_size` {patch} is larger than `image_size` {image}: no patch fits", ("patch_size",))
    if f.findings:
        return {}
    patches = (image // patch) ** 2
    attention = encoder_attention(hidden, heads, head_dim, bias, attn_drop,
                                  {"q": "q_proj", "k": "k_proj", "v": "v_proj"})
    attention += [{"type": "Linear", "out_features": hidden, "name": "o_proj"},
                  {"type": "Dropout", "p": drop, "name": "dropout"}]
    layer = [{"type": "LayerNorm", "eps": eps, "name": "layernorm_before"},
             {"type": "ViTAttention", "name": "attention"},
             {"type": "Add", "from": ["attention", "input"], "name": "attended"},
             {"type": "LayerNorm", "eps": eps, "name": "layernorm_after"},
             {"type": "Linear", "out_features": inner, "name": "fc1"}, dict(act, name="act"),
             {"type": "Linear", "out_features": hidden, "name": "fc2"},
             {"type": "Dropout", "p": drop, "name": "dropout"},
             {"type": "Add", "from": ["dropout", "attended"], "name": "output"}]
    stack: Entry = {"type": "ViTLayer", "repeat": layers_n, "name": "layers"}
    if checkpointing:
        stack["checkpoint"] = True
    layers: List[Entry] = [
        {"type": "Conv2d", "out_channels": hidden, "kernel_size": patch, "stride": patch, "name": "projection"},
        {"type": "Flatten", "start_dim": 2, "name": "patches"},
        {"type": "Transpose", "dim0": 1, "dim1": 2, "name": "tokens"},
        {"type": "Parameter", "shape": [1, 1, hidden], "name": "cls_token"},
        {"type": "Concat", "from": ["cls_token", "tokens"], "dim": 1, "name": "with_class"},
        {"type": "Parameter", "shape": [1, patches + 1, hidden], "name": "position_embeddings"},
        {"type": "Add", "from": ["with_class", "position_embeddings"], "name": "embedded"},
        {"type": "Dropout", "p": drop, "name": "embeddings_dropout"},
        stack,
        {"type": "LayerNorm", "eps": eps, "name": "layernorm"},
        {"type": "Select", "dim": 1, "index": 0, "name": "first_token"},
    ]
    if head == "Model":
        layers += [{"type": "Linear", "out_features": hidden, "name": "pooler_dense"},
                   {"type": "Tanh", "name": "pooler_activation"}]
    else:
        layers.append({"type": "Linear", "out_features": f.num_labels(), "name": "classifier"})
    return {"input": [channels, image, image], "blocks": {"ViTAttention": {"layers": attention},
                                                          "ViTLayer": {"layers": layer}},
            "layers": layers}
