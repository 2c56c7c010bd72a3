"""LoRA / DoRA parameter accounting against peft's get_peft_model.

Every case builds the same model in torch (``paramlint.torch.build``, or
transformers on the meta device), applies peft's LoraConfig and compares
(all parameters, trainable parameters), shared tensors once, with
paramlint's ``apply_lora``; and whether peft refuses the config with
whether paramlint reports PL521.
"""
from __future__ import annotations

import copy
import os
import warnings
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

import pytest
import yaml
from hypothesis import HealthCheck, assume, event, given, seed, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
peft = pytest.importorskip("peft")

import strategies  # noqa: E402
from peft.utils.error import NoMatchingPeftModuleError  # noqa: E402

from paramlint.model.analysis import analyze_shapes  # noqa: E402
from paramlint.model.finetune import LORA_TYPES, FineTune, LoraSettings, apply_lora  # noqa: E402
from paramlint.model.graph import build_graph  # noqa: E402
from paramlint.model.module_names import module_paths  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
LLAMA = ROOT / "tests" / "finetune_cases" / "tiny_llama.yaml"
RANDOM_CASES = int(os.environ.get("PARAMLINT_LORA_CASES", "200"))


def analysed(data: Mapping[str, Any]) -> Tuple[Any, List[str], List[str]]:
    graph, findings = build_graph(data)
    assert graph is not None, findings
    shapes, findings = analyze_shapes(graph, {})
    assert shapes is not None, findings
    paths, containers = module_paths(graph, data)
    return shapes, paths, containers


def ours(data: Mapping[str, Any], lora: Dict[str, Any]) -> Tuple[Optional[Tuple[int, int]], FineTune]:
    shapes, paths, containers = analysed(data)
    finetune, findings = apply_lora(shapes, paths, containers, LoraSettings(**lora))
    refused = any(f.code == "PL521" for f in findings)  # (PL522, an unmatched modules_to_save, peft ignores)
    return (None if refused else (finetune.params, finetune.trainable_params)), finetune


def peft_config(data: Mapping[str, Any], lora: Dict[str, Any]) -> Dict[str, Any]:
    """The LoraConfig a peft user writes: layer types become the names of those layers."""
    targets = lora.get("target_modules")
    if isinstance(targets, list) and any(t in LORA_TYPES or t[:1].isupper() for t in targets):
        shapes, paths, _ = analysed(data)
        names = [t for t in targets if not t[:1].isupper()]
        names += [p for p, info in zip(paths, shapes.layers) if info.node.type in targets]
        lora = dict(lora, target_modules=names)
    return lora


def theirs(data: Mapping[str, Any], lora: Dict[str, Any]) -> Optional[Tuple[int, int]]:
    from paramlint.torch import build

    model = build(data, device="meta")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = peft.get_peft_model(model, peft.LoraConfig(**copy.deepcopy(peft_config(data, lora))))
    except (NoMatchingPeftModuleError, StopIteration):  # StopIteration: a model without parameters
        return None
    except (ValueError, TypeError, RuntimeError) as error:
        if "not found" in str(error) or "not supported" in str(error) or "divisible" in str(error):
            return None
        raise
    params = list(model.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


def load(path: Path) -> Dict[str, Any]:
    return yaml.safe_load(path.read_text())


CASES = [
    (LLAMA, dict(r=8, target_modules=["q_proj", "v_proj"])),
    (LLAMA, dict(r=4, target_modules="all-linear")),
    (LLAMA, dict(r=16, target_modules=r".*\.(q|k|v|o)_proj")),
    (LLAMA, dict(r=4, target_modules=["q_proj"], use_dora=True, bias="all")),
    (LLAMA, dict(r=2, target_modules=["o_proj", "embed_tokens"], modules_to_save=["lm_head"], bias="lora_only")),
    (LLAMA, dict(r=8, target_modules=["gate_proj", "up_proj", "down_proj"], use_dora=True,
                 modules_to_save=["embed_tokens", "norm"])),
    (LLAMA, dict(r=8, target_modules=["q_proj", "v_proj"], modules_to_save=["layers.1"])),
    (LLAMA, dict(r=8, target_modules=["nothing_here"])),
    (LLAMA, dict(r=8, target_modules=["input_layernorm"])),
    (EXAMPLES / "gpt2_small.yaml", dict(r=8, target_modules=["c_attn"])),
    (EXAMPLES / "gpt2_small.yaml", dict(r=8, target_modules=["c_attn", "c_proj"], modules_to_save=["lm_head"])),
    (EXAMPLES / "gpt2_small.yaml", dict(r=4, target_modules=["c_attn", "wte"], use_dora=True, bias="all")),
    (EXAMPLES / "resnet18.yaml", dict(r=4, target_modules=["Conv2d"], use_dora=True)),
    (EXAMPLES / "resnet18.yaml", dict(r=8, target_modules=["conv1", "fc"], bias="all", modules_to_save=["fc"])),
    (EXAMPLES / "mobilenet_v2.yaml", dict(r=4, target_modules=["Conv2d"])),  # depthwise: r % groups
    (EXAMPLES / "mobilenet_v2.yaml", dict(r=8, target_modules=["Linear"], bias="lora_only")),
    (EXAMPLES / "vit_b16.yaml", dict(r=8, target_modules=["Linear"], use_dora=True)),
    (EXAMPLES / "unet_small.yaml", dict(r=4, target_modules=["Conv2d"], bias="all")),
    # ensure_weight_tying on a head that `shares:` the embedding: peft finds no _tied_weights_keys on a plain
    # torch module, so copies and adapters stay separate (paramlint says so: PL522)
    (EXAMPLES / "gpt2_small.yaml", dict(r=4, target_modules=["c_attn"], modules_to_save=["lm_head"],
                                        ensure_weight_tying=True)),
    (EXAMPLES / "gpt2_small.yaml", dict(r=4, target_modules=["c_attn"], modules_to_save=["wte", "lm_head"],
                                        ensure_weight_tying=True)),
    (EXAMPLES / "gpt2_small.yaml", dict(r=2, target_modules=["c_proj", "lm_head"], ensure_weight_tying=True)),
    (EXAMPLES / "gpt2_small.yaml", dict(r=2, target_modules=["wte", "lm_head"], ensure_weight_tying=True,
                                        use_dora=True)),
    (EXAMPLES / "gpt2_small.yaml", dict(r=2, target_modules=["nothing_here"], ensure_weight_tying=True)),
    (LLAMA, dict(r=4, target_modules=["q_proj"], modules_to_save=["embed_tokens"], ensure_weight_tying=True)),
]


@pytest.mark.parametrize("path, lora", CASES, ids=[f"{p.stem}-{i}" for i, (p, _) in enumerate(CASES)])
def test_counts_equal_peft(path: Path, lora: Dict[str, Any]) -> None:
    data = load(path)
    assert ours(data, lora)[0] == theirs(data, lora)


def test_weight_tying_on_a_format1_model_is_a_warning() -> None:
    """peft warns that it found no tied modules; paramlint says why (PL522) where a head shares an
    embedding, and says nothing where nothing is tied."""
    lora = dict(r=4, target_modules=["c_attn"], modules_to_save=["lm_head"], ensure_weight_tying=True)
    shapes, paths, containers = analysed(load(EXAMPLES / "gpt2_small.yaml"))
    finetune, findings = apply_lora(shapes, paths, containers, LoraSettings(**lora))
    assert [(f.code, f.config_path) for f in findings] == [("PL522", ("training", "lora", "ensure_weight_tying"))]
    assert "lm_head" in findings[0].message and "wte" in findings[0].message
    head = paths.index("lm_head")
    assert [t.shape for t in finetune.copies[head]] == [(50257, 768)]  # its own copy, not tied
    shapes, paths, containers = analysed(load(LLAMA))
    assert apply_lora(shapes, paths, containers, LoraSettings(**dict(lora, target_modules=["q_proj"])))[1] == []


def test_module_names_equal_the_torch_bridge() -> None:
    from paramlint.torch import build

    for path in [LLAMA, *sorted(EXAMPLES.glob("*.yaml"))]:
        data = load(path)
        if path.stem == "broken":
            continue
        model = build(data, device="meta")
        _, paths, _ = analysed(data)
        assert paths == [model.module_path(i) for i in range(len(paths))], path


def llama_yaml(dim: int, hidden: int, layers: int, vocab: int, heads: int, kv_heads: int) -> Dict[str, Any]:
    data = load(LLAMA)
    kv = dim // heads * kv_heads
    data["blocks"]["Layer"]["args"] = {"dim": dim, "kv": kv, "heads": heads, "kv_heads": kv_heads, "hidden": hidden}
    data["layers"][0].update(num_embeddings=vocab, embedding_dim=dim)
    data["layers"][1]["repeat"] = layers
    data["layers"][3]["out_features"] = vocab
    data["inputs"]["tokens"]["shape"] = [8]
    return data


LLAMAS = {  # LlamaConfig fields: the published Llama-2-7B and a small GQA model
    "llama-2-7b": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, vocab_size=32000,
                       num_attention_heads=32, num_key_value_heads=32),
    "small-gqa": dict(hidden_size=256, intermediate_size=688, num_hidden_layers=3, vocab_size=1000,
                      num_attention_heads=8, num_key_value_heads=2),
}


@pytest.mark.parametrize("family", sorted(LLAMAS))
@pytest.mark.parametrize("lora", [dict(r=8, target_modules=["q_proj", "v_proj"]),
                                  dict(r=16, target_modules="all-linear", use_dora=True),
                                  dict(r=4, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                                       modules_to_save=["lm_head"])])
def test_counts_equal_peft_on_transformers_llama(family: str, lora: Dict[str, Any]) -> None:
    transformers = pytest.importorskip("transformers")
    fields = LLAMAS[family]
    config = transformers.LlamaConfig(**fields)
    with torch.device("meta"):
        model = transformers.LlamaForCausalLM(config)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = peft.get_peft_model(model, peft.LoraConfig(**lora))
    trainable, total = model.get_nb_trainable_parameters()
    data = llama_yaml(fields["hidden_size"], fields["intermediate_size"], fields["num_hidden_layers"],
                      fields["vocab_size"], fields["num_attention_heads"], fields["num_key_value_heads"])
    shapes, paths, containers = analysed(data)
    # transformers names the decoder stack model.layers and excludes lm_head from all-linear
    paths = [p if p == "lm_head" else "model." + p for p in paths]
    containers = ["model." + c for c in containers]
    finetune, findings = apply_lora(shapes, paths, containers, LoraSettings(**lora), output_embeddings="lm_head")
    assert not findings
    assert (finetune.params, finetune.trainable_params) == (total, trainable)
    if family == "llama-2-7b" and lora["target_modules"] == ["q_proj", "v_proj"]:
        assert trainable == 4_194_304


# ---------------------------------------------------------------------------
# Random models and random LoraConfigs.

@st.composite
def lora_cases(draw: Any) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    family = draw(st.sampled_from(("cnn", "mlp", "blocks")))
    config = draw({"cnn": strategies.cnn_graphs(), "mlp": strategies.mlp_graphs(),
                   "blocks": strategies.block_graphs()}[family])
    graph, _ = build_graph(config)
    shapes = analyze_shapes(graph, {})[0] if graph is not None else None
    if shapes is None:
        return config, {}
    paths, containers = module_paths(graph, config)
    adaptable = [p for p, info in zip(paths, shapes.layers) if info.node.type in LORA_TYPES]
    others = [p for p, info in zip(paths, shapes.layers)
              if info.node.type not in LORA_TYPES and info.node.type != "MultiheadAttention"]
    names = adaptable + (others[:1] if draw(st.integers(0, 4)) == 0 else [])
    if not names:
        return config, {}
    picked = draw(st.lists(st.sampled_from(names), min_size=1, max_size=4, unique=True))
    style = draw(st.sampled_from(("suffix", "suffix", "full", "regex", "all-linear", "type")))
    if style == "suffix":
        target: Any = sorted({p.rsplit(".", 1)[-1] for p in picked})
    elif style == "full":
        target = picked
    elif style == "regex":
        target = "|".join(p.replace(".", r"\.") for p in picked)
    elif style == "all-linear":
        target = "all-linear"
    else:
        target = sorted({info.node.type for p, info in zip(paths, shapes.layers) if p in picked})
    lora: Dict[str, Any] = dict(r=draw(st.integers(1, 8)), target_modules=target,
                                use_dora=draw(st.booleans()), bias=draw(st.sampled_from(("none", "all", "lora_only"))))
    if draw(st.integers(0, 3)) == 0:
        lora["modules_to_save"] = [draw(st.sampled_from(paths + containers)).rsplit(".", 1)[-1]]
    if draw(st.integers(0, 3)) == 0:
        lora["ensure_weight_tying"] = True
    return config, lora


def _nested_save(config: Mapping[str, Any], lora: Mapping[str, Any]) -> bool:
    """modules_to_save that also ends a name inside a module it wraps (peft then wraps inside its wrapper)."""
    saved = lora.get("modules_to_save")
    if not saved:
        return False
    _, paths, containers = analysed(config)
    hits = [k for k in paths + containers if k.endswith(saved[0])]
    return any(a != b and b.startswith(a + ".") for a in hits for b in hits)


@seed(16)
@settings(max_examples=RANDOM_CASES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(lora_cases())
def test_random_models_and_configs_equal_peft(case: Tuple[Dict[str, Any], Dict[str, Any]]) -> None:
    config, lora = case
    assume(lora and not _nested_save(config, lora))
    text = yaml.safe_dump(dict(config), sort_keys=False, default_flow_style=None)
    expected = theirs(config, lora)
    event("peft refuses" if expected is None else "counted")
    assert ours(copy.deepcopy(config), lora)[0] == expected, f"{lora}\n{text}"
