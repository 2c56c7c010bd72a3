"""Generate the published JSON Schema (schemas/format-1.json) from the code.

The layer catalogue is the single source of truth: every layer type's
arguments, kinds, defaults and docs become one ``$defs`` entry.  Run

    python -m paramlint.validation          # rewrite schemas/*.json
    python -m paramlint.validation --check  # exit 1 if a file is stale

The linter itself never runs this module; it reads the generated file.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, Sequence

from ..model.inference_setup import inference_schema
from ..model.layers import REGISTRY
from ..model.layers.base import REQUIRED, Arg, LayerDef
from ..model.training import LOSSES, OPTIMIZER_OPTIONS, OPTIMIZERS, PRECISIONS, SHARDINGS
from .validator import schemas_dir

SCHEMA_ID = "https://github.com/paramlint/paramlint/schemas/format-1.json"
SCHEMA_PATH = schemas_dir() / "format-1.json"

EXPR = {"type": "string", "pattern": r"^\$([A-Za-z_][A-Za-z0-9_]*|\{[^{}]*\})$",
        "description": "inside a block: `$arg` or `${arg * 2}` (integer arithmetic on the block's arguments)"}

COUNT_PATTERN = r"^\s*[0-9]+(\.[0-9]+)?\s*[KMBT]?\s*$"
BYTES_PATTERN = r"^\s*[0-9]+(\.[0-9]+)?\s*([KMGT]i?B|B)\s*$"


def _alt(*schemas: Dict[str, Any], expected: str, **extra: Any) -> Dict[str, Any]:
    return {"anyOf": [*schemas, {"$ref": "#/$defs/expr"}], "x-expected": expected, **extra}


def _or_expr(schema: Dict[str, Any]) -> Dict[str, Any]:
    """A list item that may also be ``$arg`` or ``${...}`` inside a block (a size per axis)."""
    return {"anyOf": [schema, {"$ref": "#/$defs/expr"}]}


POS = {"type": "integer", "minimum": 1}
NONNEG = {"type": "integer", "minimum": 0}
INT = {"type": "integer"}

KIND_SCHEMAS: Dict[str, Dict[str, Any]] = {
    "int": _alt(INT, expected="an integer"),
    "pos_int": _alt(POS, expected="a positive integer"),
    "nonneg_int": _alt(NONNEG, expected="a non-negative integer"),
    "opt_pos_int": _alt(POS, {"type": "null"}, expected="a positive integer or null"),
    "size": _alt(POS, {"type": "array", "minItems": 1, "items": _or_expr(POS)},
                 expected="a positive integer or a list of them"),
    "opt_size": _alt(POS, {"type": "array", "minItems": 1, "items": _or_expr(POS)}, {"type": "null"},
                     expected="a positive integer, a list of them, or null"),
    "nonneg_size": _alt(NONNEG, {"type": "array", "minItems": 1, "items": _or_expr(NONNEG)},
                        expected="a non-negative integer or a list of them"),
    "padding": _alt(NONNEG, {"type": "array", "minItems": 1, "items": NONNEG}, {"enum": ["same", "valid"]},
                    expected="a non-negative integer, a list of them, 'same' or 'valid'"),
    "adaptive_size": _alt(POS, {"type": "array", "minItems": 1, "items": {"anyOf": [POS, {"type": "null"}]}},
                          expected="a positive integer or a list of positive integers or nulls"),
    "shape": _alt({"type": "array", "items": {"anyOf": [POS, {"$ref": "#/$defs/expr"}]}},
                  expected="a list of positive integers"),
    "reshape": _alt({"type": "array", "minItems": 1, "items": {"anyOf": [POS, {"const": -1}, {"$ref": "#/$defs/expr"}]}},
                    expected="a list of positive integers (one may be -1)"),
    "dim": _alt(INT, expected="an integer dimension"),
    "dims": _alt(INT, {"type": "array", "minItems": 1, "items": INT}, expected="an integer dimension or a list of them"),
    "bool": _alt({"type": "boolean"}, expected="true or false"),
    "number": _alt({"type": "number"}, expected="a number"),
    "opt_number": _alt({"type": "number"}, {"type": "null"}, expected="a number or null"),
    "pos_number": _alt({"type": "number", "exclusiveMinimum": 0}, expected="a positive number"),
    "prob": _alt({"type": "number", "minimum": 0, "maximum": 1}, expected="a probability between 0 and 1"),
    "scale": _alt({"type": "number", "exclusiveMinimum": 0},
                  {"type": "array", "minItems": 1, "items": {"type": "number", "exclusiveMinimum": 0}},
                  expected="a positive number or a list of them"),
    "opt_int": _alt(INT, {"type": "null"}, expected="an integer or null"),
    "opt_dim": _alt(INT, {"type": "null"}, expected="an integer dimension or null"),
    "opt_bool": _alt({"type": "boolean"}, {"type": "null"}, expected="true, false or null"),
    "opt_scale": _alt({"type": "number", "exclusiveMinimum": 0},
                      {"type": "array", "minItems": 1, "items": {"type": "number", "exclusiveMinimum": 0}},
                      {"type": "null"}, expected="a positive number, a list of them, or null"),
    "ints": _alt(INT, {"type": "array", "minItems": 1, "items": INT}, expected="an integer or a list of integers"),
    "string": {"type": "string", "x-expected": "a string"},
}

# An example value of each kind, for editors' hover and completion where an argument has no default.
KIND_EXAMPLES: Dict[str, List[Any]] = {
    "int": [1], "pos_int": [64], "nonneg_int": [0], "opt_pos_int": [64], "size": [3, [3, 3]], "opt_size": [2],
    "nonneg_size": [1], "padding": [1, "same"], "adaptive_size": [1, [7, 7]], "shape": [[768]],
    "reshape": [[-1, 64]], "dim": [-1], "dims": [-1, [1, 2]], "bool": [True], "number": [1.0],
    "opt_number": [1.0], "pos_number": [1e-05], "prob": [0.1], "scale": [2.0], "opt_int": [1], "opt_dim": [-1],
    "opt_bool": [True], "opt_scale": [2.0], "ints": [1, [1, 2]], "string": ["none"],
}

RESERVED: Dict[str, Dict[str, Any]] = {
    "type": {"type": "string", "description": "the torch.nn class name, an operation, or the name of a block",
             "examples": ["Conv2d", "Linear", "BasicBlock"]},
    "name": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_\-]*$",
             "x-expected": "a name of letters, digits, _ and - starting with a letter or _ (no dots: "
                           "`NAME.1` in `from` is a layer's second output)",
             "description": "unique id of this layer's output; default: its position", "examples": ["conv1"]},
    "from": {"anyOf": [{"$ref": "#/$defs/ref"}, {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/ref"}}],
             "x-expected": "a layer or input name, or a list of them",
             "description": "where the input comes from (default: the previous entry); a list for merges",
             "examples": ["conv1", ["bn2", "input"]]},
    "repeat": _alt(POS, expected="a positive integer", description="apply this entry N times in sequence",
                   examples=[2]),
    "trainable": {"type": "boolean", "description": "false freezes the parameters (no gradients, no optimizer state)",
                  "examples": [False]},
    "shares": {"type": "string", "description": "an earlier layer whose parameters this one uses (weight tying)",
               "examples": ["embed"]},
    "checkpoint": {"type": "boolean", "description": "activation checkpointing: recompute in backward",
                   "examples": [True]},
}


def _arg_schema(arg: Arg) -> Dict[str, Any]:
    if arg.kind == "enum":
        schema: Dict[str, Any] = {"anyOf": [{"enum": list(arg.choices)}, {"$ref": "#/$defs/expr"}],
                                  "x-expected": "one of " + ", ".join(repr(c) for c in arg.choices)}
    else:
        schema = {"$ref": f"#/$defs/kind.{arg.kind}"}
    if arg.doc:
        schema["description"] = arg.doc
    if arg.default is not REQUIRED:
        schema["default"] = arg.default
    if arg.default is not REQUIRED and arg.default is not None:
        schema["examples"] = [arg.default]
    else:
        schema["examples"] = list(arg.choices[:1]) or KIND_EXAMPLES.get(arg.kind, [])
    return schema


def layer_schema(layer: LayerDef) -> Dict[str, Any]:
    properties: Dict[str, Any] = {"type": {"const": layer.type, "description": layer.doc}}
    properties.update({k: {"$ref": f"#/$defs/reserved.{k}"} for k in RESERVED if k != "type"})
    properties.update({name: _arg_schema(arg) for name, arg in layer.args.items()})
    required = ["type"] + [name for name, arg in layer.args.items() if arg.default is REQUIRED]
    return {"type": "object", "description": layer.doc, "properties": properties, "required": required,
            "additionalProperties": False}


def _layer_dispatch(types: Sequence[str]) -> List[Dict[str, Any]]:
    return [{"if": {"properties": {"type": {"const": t}}, "required": ["type"]},
             "then": {"$ref": f"#/$defs/layer.{t}"}} for t in types]


def _shape_or_input() -> Dict[str, Any]:
    return {
        "anyOf": [
            {"$ref": "#/$defs/kind.shape"},
            {"type": "object", "required": ["shape"], "additionalProperties": False,
             "properties": {"shape": {"$ref": "#/$defs/kind.shape", "description": "the shape, batch excluded",
                                      "examples": [[1024]]},
                            "dtype": {"enum": ["float32", "float16", "bfloat16", "float64", "int64", "int32"],
                                      "default": "float32", "examples": ["int64"],
                                      "description": "element type; int64 for token ids"}}},
        ],
        "x-expected": "a shape list like [3, 32, 32] or {shape: [...], dtype: ...}",
        "examples": [[3, 32, 32], {"shape": [1024], "dtype": "int64"}],
    }


_OPTION_TYPES: Dict[str, Dict[str, Any]] = {
    "number": {"type": "number", "examples": [0.9]},
    "boolean": {"type": "boolean", "examples": [True]},
    "integer": {"type": "integer", "examples": [4096]},
    "flag": {"type": ["boolean", "null"], "x-expected": "true, false or null", "examples": [True, None]},
    "pair": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2,
             "x-expected": "a list of two numbers", "examples": [[0.9, 0.999]]},
    "eps2": {"type": "array", "prefixItems": [{"type": ["number", "null"]}, {"type": "number"}], "minItems": 2,
             "maxItems": 2, "x-expected": "a list of two numbers (the first may be null)",
             "examples": [[None, 0.001]]},
}


def _optimizer_options(name: str) -> Dict[str, Any]:
    """The arguments ``{type: NAME, ...}`` takes when NAME is ``name``: no others, each of its type."""
    properties: Dict[str, Any] = {"type": {}}
    properties.update({option: dict(_OPTION_TYPES[kind], description=f"{name}'s `{option}` argument")
                       for option, kind in OPTIMIZER_OPTIONS[name].items()})
    return {"if": {"properties": {"type": {"const": name}}, "required": ["type"]},
            "then": {"properties": properties, "additionalProperties": False}}


def training_schema() -> Dict[str, Any]:
    optimizer_names = sorted(OPTIMIZERS)
    return {
        "type": "object", "additionalProperties": False,
        "description": "how the model is trained: for optimizer-state and memory figures",
        "properties": {
            "batch_size": {"type": "integer", "minimum": 1, "description": "samples per device per step",
                           "examples": [256]},
            "optimizer": {
                "type": ["string", "object"],
                "if": {"type": "string"}, "then": {"enum": optimizer_names},
                "else": {"required": ["type"],
                         "properties": {"type": {"enum": optimizer_names, "description": "a torch.optim name",
                                                 "examples": ["SGD"]}},
                         "allOf": [_optimizer_options(name) for name in optimizer_names]},
                "x-expected": "an optimizer name (" + ", ".join(optimizer_names) + ") or {type: NAME, ...}",
                "description": "a torch.optim name, or {type: SGD, momentum: 0.9} with torch.optim's arguments",
                "examples": ["Adam", {"type": "SGD", "momentum": 0.9}],
            },
            "precision": {"enum": list(PRECISIONS), "default": "fp32", "examples": ["bf16-mixed"],
                          "description": "fp32; bf16-mixed / fp16-mixed (autocast, fp32 weights); bf16 / fp16"},
            "devices": {"type": "integer", "minimum": 1, "default": 1, "description": "data-parallel devices",
                        "examples": [8]},
            "sharding": {"enum": list(SHARDINGS), "default": "none", "description": "ZeRO stage",
                         "examples": ["zero2"]},
            "loss": {"enum": list(LOSSES), "description": "the loss after the model (default CrossEntropyLoss)",
                     "examples": ["CrossEntropyLoss"]},
            "sequence_length": {"type": "integer", "minimum": 1, "examples": [4096],
                                "description": "tokens per sample of a `huggingface:` model (default: "
                                               "max_position_embeddings, at most 4096)"},
            "gradient_checkpointing": {"type": "boolean", "default": False, "examples": [True],
                                       "description": "recompute every decoder/encoder layer of a `huggingface:` "
                                                      "model in backward, as transformers does"},
            "gradient_accumulation_steps": {"type": "integer", "minimum": 1, "default": 1, "examples": [8],
                                            "description": "micro-batches per optimizer step; batch_size is the "
                                                           "micro-batch that sets activation memory"},
            "base_dtype": {"enum": list(FLOAT_DTYPES), "examples": ["bfloat16"],
                           "description": "the dtype the frozen pretrained weights are loaded in (transformers' "
                                          "dtype); default: the precision's weight dtype"},
            "lora": lora_schema(),
            "quantization": quantization_schema(),
        },
        "examples": [{"batch_size": 256, "optimizer": "Adam", "precision": "bf16-mixed"}],
    }


FLOAT_DTYPES = ("float32", "bfloat16", "float16")


def lora_schema() -> Dict[str, Any]:
    names = {"type": "array", "items": {"type": "string"}, "x-expected": "a list of module names"}
    return {
        "type": "object", "additionalProperties": False, "required": ["target_modules"],
        "description": "peft's LoraConfig: adapters on the Linear, Conv and Embedding layers it names",
        "properties": {
            "r": {"type": "integer", "minimum": 1, "default": 8, "description": "the adapter rank"},
            "target_modules": {
                "anyOf": [{"type": "string"}, {"type": "array", "minItems": 1, "items": {"type": "string"}}],
                "x-expected": "a list of module names or layer types, a regular expression, or 'all-linear'",
                "description": "names as peft matches them (the name or a suffix after a dot; a string is a "
                               "regular expression of the whole name; 'all-linear'), or layer types",
                "examples": [["q_proj", "v_proj"], "all-linear"]},
            "lora_alpha": {"type": "number", "default": 8, "description": "scaling alpha / r (no effect on counts)"},
            "lora_dropout": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.0,
                             "description": "dropout before lora_A (its mask is kept for backward)"},
            "bias": {"enum": ["none", "all", "lora_only"], "default": "none",
                     "description": "which biases train: none, every bias, those of the adapted layers"},
            "use_dora": {"type": "boolean", "default": False, "description": "DoRA: a trained magnitude per output"},
            "modules_to_save": dict(names, description="modules trained in full, as a copy (peft's "
                                                       "ModulesToSaveWrapper); matched as a name suffix"),
            "exclude_modules": {"anyOf": [{"type": "string"}, names], "x-expected": "a list of module names or "
                                "a regular expression", "description": "names never adapted"},
            "ensure_weight_tying": {"type": "boolean", "default": False,
                                    "description": "a transformers model with tied embeddings: one trained copy "
                                                   "of the embedding and its tied head (modules_to_save), or the "
                                                   "head adapted with the embedding (target_modules)"},
            "use_rslora": {"type": "boolean", "description": "accepted; no effect on counts or memory"},
            "init_lora_weights": {"description": "accepted; no effect on counts or memory"},
            "task_type": {"type": "string", "description": "accepted; no effect on counts or memory"},
        },
        "examples": [{"r": 16, "target_modules": ["q_proj", "v_proj"], "lora_alpha": 32, "lora_dropout": 0.05}],
    }


def quantization_schema() -> Dict[str, Any]:
    return {
        "type": "object", "additionalProperties": False,
        "description": "transformers' BitsAndBytesConfig: the frozen Linear weights in 4 or 8 bits",
        "properties": {
            "load_in_4bit": {"type": "boolean", "default": False},
            "load_in_8bit": {"type": "boolean", "default": False},
            "bnb_4bit_quant_type": {"enum": ["nf4", "fp4"], "default": "fp4"},
            "bnb_4bit_use_double_quant": {"type": "boolean", "default": False,
                                          "description": "quantize the absmax statistics too (block 256)"},
            "bnb_4bit_compute_dtype": {"enum": list(FLOAT_DTYPES), "default": "float32",
                                       "description": "the dtype the weights are dequantized to for compute"},
            "bnb_4bit_quant_storage": {"enum": ["uint8", "float16", "bfloat16", "float32"], "default": "uint8"},
            "llm_int8_skip_modules": {"type": "array", "items": {"type": "string"},
                                      "description": "modules kept unquantized (default: tied layers, the last "
                                                     "parameter's module, the output embeddings)"},
        },
        "examples": [{"load_in_4bit": True, "bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": True,
                      "bnb_4bit_compute_dtype": "bfloat16"}],
    }


def budgets_schema() -> Dict[str, Any]:
    count = {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": COUNT_PATTERN}],
             "x-expected": "a count: an integer or a number with K, M, B or T",
             "examples": [30000, "30K", "1.5M", "7B"]}
    size = {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": BYTES_PATTERN}],
            "x-expected": "a size in bytes: an integer or a number with B, KB, MB, GB, TB, KiB, MiB, GiB or TiB",
            "examples": ["128 MiB", "16GB"]}
    docs = {
        "params": "all parameters (shared ones once)",
        "trainable_params": "parameters that receive gradients",
        "optimizer_state": "values the optimizer stores, as a count",
        "flops": "forward FLOPs for one sample, as torch.utils.flop_counter counts them",
    }
    properties: Dict[str, Any] = {k: dict(count, description=v) for k, v in docs.items()}
    properties["memory"] = dict(size, description="predicted peak training memory per device")
    properties["inference_memory"] = dict(size, description="predicted serving peak per device (the larger of "
                                                            "prefill and decode; needs `inference:`)")
    properties["kv_cache"] = dict(size, description="KV cache bytes at the end of generation (needs `inference:`)")
    return {"type": "object", "additionalProperties": False, "properties": properties,
            "description": "limits that fail the lint when exceeded",
            "examples": [{"params": "30M", "memory": "16 GiB"}]}


def build_schema() -> Dict[str, Any]:
    types = sorted(REGISTRY)
    defs: Dict[str, Any] = {
        "expr": EXPR,
        "ref": {"anyOf": [{"type": "string"}, {"type": "integer", "minimum": 0}],
                "x-expected": "a layer name, an input name or a layer position"},
        "input": _shape_or_input(),
        "layers": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/layer"},
                   "x-expected": "a non-empty list of layer entries",
                   "description": "layer entries, run in order: `type` plus torch's constructor arguments",
                   "examples": [[{"type": "Conv2d", "out_channels": 16, "kernel_size": 3}, {"type": "ReLU"}]]},
        "layer": {
            "type": "object", "required": ["type"],
            "x-expected": "a layer entry: a mapping with `type`",
            "properties": {"type": {"type": "string"}},
            "allOf": _layer_dispatch(types),
            "description": "a layer: `type` plus torch's constructor arguments, or a block use",
        },
        "block": {
            "type": "object", "required": ["layers"], "additionalProperties": False,
            "properties": {
                "args": {"type": "object", "description": "the block's arguments with defaults; null: required",
                         "examples": [{"planes": None, "stride": 1}]},
                "inputs": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                           "description": "names of the block's inputs (default: one, named `input`)",
                           "examples": [["x", "skip"]]},
                "layers": {"$ref": "#/$defs/layers"},
                "output": {"type": "string", "description": "the layer whose output is the block's (default: last)",
                           "examples": ["out"]},
            },
        },
    }
    defs.update({f"kind.{k}": v for k, v in KIND_SCHEMAS.items()})
    defs.update({f"reserved.{k}": v for k, v in RESERVED.items()})
    defs.update({f"layer.{t}": layer_schema(REGISTRY[t]) for t in types})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "paramlint model config, format 1",
        "description": "A neural-network architecture in PyTorch's vocabulary; see docs/format.md.",
        "type": "object",
        "required": ["paramlint"],
        "if": {"required": ["huggingface"]}, "else": {"required": ["layers"]},
        "additionalProperties": False,
        "properties": {
            "paramlint": {"type": "integer", "const": 1, "description": "format version: marks the file as a model config",
                          "examples": [1]},
            "name": {"type": "string", "description": "model name", "examples": ["cifar10-cnn"]},
            "input": dict(_shape_or_input(), description="the one input, batch excluded"),
            "inputs": {"type": "object", "minProperties": 1, "additionalProperties": {"$ref": "#/$defs/input"},
                       "description": "several named inputs instead of `input`",
                       "examples": [{"tokens": {"shape": [1024], "dtype": "int64"}, "image": [3, 224, 224]}]},
            "layers": {"$ref": "#/$defs/layers"},
            "blocks": {"type": "object", "additionalProperties": {"$ref": "#/$defs/block"},
                       "description": "reusable sub-networks", "examples": [{"BasicBlock": {
                           "args": {"planes": None}, "layers": [{"type": "Conv2d", "out_channels": "$planes",
                                                                   "kernel_size": 3}]}}]},
            "huggingface": {"anyOf": [{"type": "string", "minLength": 1}, {
                "type": "object", "required": ["model_type"], "properties": {"model_type": {"type": "string"}}}],
                "x-expected": "a path to a config.json, or its fields as a mapping with `model_type`",
                "description": "instead of `layers`: a Hugging Face config.json (a path relative to this file, or "
                               "its fields inline) that paramlint turns into the layers transformers builds",
                "examples": ["./config.json", {"model_type": "llama", "hidden_size": 4096}]},
            "transformers": {
                "type": "object", "additionalProperties": False, "required": ["model_type"],
                "properties": {"model_type": {"type": "string", "description": "transformers' model_type"},
                               "output_embeddings": {"type": ["string", "null"],
                                                     "description": "the top-level layer get_output_embeddings() "
                                                                    "returns (peft's all-linear and bitsandbytes "
                                                                    "leave it out)"}},
                "description": "the transformers model these layers are (the Hugging Face importer writes it): "
                               "peft and bitsandbytes treat such a model as they treat transformers' own",
                "examples": [{"model_type": "llama", "output_embeddings": "lm_head"}]},
            "training": training_schema(),
            "inference": dict(inference_schema()),
            "budgets": budgets_schema(),
        },
        "$defs": defs,
    }


def render() -> str:
    return json.dumps(build_schema(), indent=1, sort_keys=False) + "\n"
