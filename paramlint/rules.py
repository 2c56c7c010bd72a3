"""The rule catalogue: every diagnostic code, its name, severity and docs.

Codes are grouped like ruff's: PL1xx reading the file, PL2xx the schema,
PL3xx the graph, PL4xx shapes and layer arguments, PL5xx budgets and
training, PL6xx tool configuration and suppressions, PL9xx I/O and internal.
``paramlint --explain CODE`` prints a rule's documentation.
"""
from __future__ import annotations

from typing import Dict

from .core.diagnostics import ERROR, WARNING
from .core.record import Record


class Rule(Record):
    __slots__ = ("code", "name", "severity", "summary", "why", "example", "fix")

    def __init__(self, code: str, name: str, severity: str, summary: str, why: str = "", example: str = "",
                 fix: str = "") -> None:
        self.code = code
        self.name = name
        self.severity = severity
        self.summary = summary
        self.why = why
        self.example = example
        self.fix = fix


def _rules(*rules: Rule) -> Dict[str, Rule]:
    return {rule.code: rule for rule in rules}


RULES: Dict[str, Rule] = _rules(
    # --- reading -----------------------------------------------------------
    Rule("PL101", "syntax-error", ERROR, "The file is not valid YAML or JSON.",
         "Nothing can be checked in a file that does not parse.",
         "layers:\n  - {type: Conv2d, kernel_size: 3", "Close the brace: `- {type: Conv2d, kernel_size: 3}`."),
    Rule("PL102", "duplicate-key", ERROR, "A mapping has the same key twice.",
         "YAML and JSON loaders silently keep the last value, so the first one is dead and misleading.",
         "- {type: Linear, out_features: 10, out_features: 20}", "Keep one of the two keys."),
    Rule("PL103", "input-limit", ERROR,
         "The file exceeds a safety limit: size, node count after aliases, nesting depth, or expanded graph size.",
         "A pre-commit hook must stay fast and bounded on any input, including alias bombs and generated files.",
         "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n# ... nine more levels",
         "Write the config out plainly; real model configs are far below the limits."),
    Rule("PL104", "unsafe-tag", ERROR, "A YAML tag that would build an object (`!!python/...`) or any unknown tag.",
         "Configs are data; paramlint loads YAML safely and never constructs objects.",
         "layers: !!python/object/apply:os.system [echo hi]", "Remove the tag."),
    Rule("PL105", "encoding", ERROR, "The file is not UTF-8 text.",
         "YAML and JSON configs are UTF-8; a binary or mis-encoded file is a mistake.",
         "(a file saved as UTF-16 or a binary blob named model.yaml)", "Save the file as UTF-8."),
    # --- schema ------------------------------------------------------------
    Rule("PL201", "unknown-key", ERROR, "A key that the format or the layer type does not have.",
         "A misspelt argument would otherwise be ignored and the layer built with the default.",
         "- {type: Conv2d, out_channels: 8, kernal_size: 3}", "Use the torch argument name: `kernel_size`."),
    Rule("PL202", "wrong-type", ERROR, "A value of the wrong type or out of its range.",
         "torch would raise at construction, or worse, silently accept a float.",
         "- {type: Linear, out_features: 12.5}", "Give an integer: `out_features: 12`."),
    Rule("PL203", "missing-key", ERROR, "A required key is missing.",
         "A layer cannot be built without its required arguments.",
         "- {type: Conv2d, kernel_size: 3}", "Add `out_channels`."),
    Rule("PL204", "unknown-layer", ERROR, "A layer `type` that is neither a supported torch.nn layer nor a block.",
         "The network cannot be analysed past an unknown layer.",
         "- {type: Conv2D, out_channels: 8, kernel_size: 3}", "Use the torch class name: `Conv2d`."),
    Rule("PL205", "bad-value", ERROR, "A value that has the right type but cannot be used (a unit, a format version).",
         "Budgets and versions must be unambiguous.",
         "budgets: {params: 30 MiB}", "A count takes K, M, B or T: `params: 30M`."),
    # --- graph -------------------------------------------------------------
    Rule("PL301", "unknown-reference", ERROR, "`from` or `shares` names a layer or input that does not exist.",
         "The graph cannot be built with a dangling edge.",
         "- {type: Add, from: [conv1, cnov2]}", "Fix the name: `conv2`."),
    Rule("PL302", "forward-reference", ERROR,
         "`from` refers to the layer itself or to a layer defined later (this would be a cycle).",
         "Layers run in the order written; a later output does not exist yet.",
         "- {type: Add, name: a, from: [a, b]}", "Refer only to earlier layers."),
    Rule("PL303", "duplicate-name", ERROR, "Two layers or inputs share a name.",
         "References by name would be ambiguous.",
         "- {type: ReLU, name: act}\n- {type: ReLU, name: act}", "Give each layer its own name."),
    Rule("PL304", "wrong-arity", ERROR, "A layer gets the wrong number of inputs.",
         "A merge needs at least two inputs; an ordinary layer takes one.",
         "- {type: Add, from: conv1}", "List all inputs: `from: [conv1, conv2]`."),
    Rule("PL305", "bad-block", ERROR, "A block use or definition is wrong: missing or unknown argument, bad "
         "expression, recursion.", "Blocks are expanded before anything else can be checked.",
         "- {type: BasicBlock}  # planes is required", "Pass every required argument: `planes: 64`."),
    Rule("PL306", "bad-sharing", ERROR, "`shares` ties layers whose parameters do not match.",
         "Tied weights must have the same torch attribute name and shape.",
         "- {type: Linear, out_features: 100, shares: embed}  # embed is Embedding(50000, 768)",
         "Share with a layer whose weight has the same shape."),
    # --- shapes and layer arguments ------------------------------------------
    Rule("PL401", "shape-mismatch", ERROR, "A layer's input does not have the shape it expects.",
         "torch would raise at the first forward pass, after the job was scheduled.",
         "- {type: Flatten}            # produces 192\n- {type: Linear, in_features: 200, out_features: 10}",
         "Make the sizes agree, or omit `in_features` to infer it."),
    Rule("PL402", "invalid-argument", ERROR, "An argument combination that torch rejects.",
         "torch raises at construction or at forward.",
         "- {type: Conv2d, out_channels: 10, kernel_size: 3, groups: 4}", "Make channels divisible by groups."),
    Rule("PL403", "empty-output", ERROR, "An output size that is zero or negative.",
         "The input is too small for the kernel, or the padding too large.",
         "input: [3, 8, 8]\nlayers:\n  - {type: Conv2d, out_channels: 8, kernel_size: 11}",
         "Use a smaller kernel, add padding, or a larger input."),
    Rule("PL404", "wrong-dtype", ERROR, "A layer gets a tensor of the wrong kind (integer ids vs floats).",
         "Embedding needs integer indices; convolutions need floating-point input.",
         "input: {shape: [128], dtype: float32}\nlayers:\n  - {type: Embedding, num_embeddings: 100, embedding_dim: 16}",
         "Declare the input `dtype: int64`."),
    Rule("PL405", "size-overflow", ERROR,
         "A size torch cannot represent: an integer above 2^63-1 (int64), or a tensor of more than 2^63-1 bytes.",
         "torch stores sizes as int64: it refuses a larger argument (\"Overflow when unpacking long\") and cannot "
         "allocate a tensor whose storage (elements x bytes per element) exceeds 2^63-1 bytes (\"Storage size "
         "calculation overflowed\"), so the model can never be built or run. Every layer argument, input size, "
         "output, parameter and buffer is checked, and each activation times the training batch size. paramlint "
         "reports the size instead of computing counts, FLOPs and memory no machine can hold.",
         "input: [1000000000000]\nlayers:\n  - {type: Linear, out_features: 1000000000000}  # weight: 10^24 elements",
         "Check the sizes for a typo (an extra zero, a product written where a factor was meant)."),
    Rule("PL451", "unread-input", WARNING,
         "A stride/kernel combination never reads the last rows or columns of its input.",
         "Those pixels silently do not influence the output; usually a padding or stride mistake.",
         "input: [3, 32, 32]\nlayers:\n  - {type: Conv2d, out_channels: 8, kernel_size: 3, stride: 2}",
         "Add `padding: 1` or choose sizes so that (size + 2*padding - kernel) is divisible by the stride."),
    Rule("PL452", "ineffective-dropout", WARNING,
         "A recurrent layer's `dropout` with `num_layers: 1`: it applies dropout between stacked layers only.",
         "The dropout does nothing, so the regularisation the config asks for never happens (torch only warns).",
         "- {type: LSTM, hidden_size: 128, dropout: 0.2}",
         "Stack layers (`num_layers: 2`), or drop `dropout` and add a `Dropout` layer after the LSTM."),
    Rule("PL453", "ambiguous-dim", WARNING,
         "torch picks a dimension implicitly (deprecated), or reads the batch as the channel dimension, or a "
         "LayerNorm/RMSNorm without `normalized_shape` after a [C, H, W] image normalizes only its width.",
         "Softmax without `dim`, channel-wise dropout on an unexpected rank and a LayerNorm whose shape is inferred "
         "as the last dim work, but on a dimension that is probably not the one meant (torch only warns, or stays "
         "silent). The LayerNorm case is judged from the shape: the last two sizes equal (a square image) and the "
         "first different.",
         "input: [10]\nlayers:\n  - {type: Softmax}",
         "Write the dimension: `{type: Softmax, dim: -1}`; use the dropout that matches the rank."),
    Rule("PL454", "ignored-argument", WARNING,
         "A written size that torch does not use: `num_features` / `num_channels` of a norm without weights or "
         "running statistics that disagrees with the input's channels.",
         "torch accepts the layer (InstanceNorm only warns), so the config says one thing and the model does another; "
         "turning on `affine` later would make it fail.",
         "input: [3, 32, 32]\nlayers:\n  - {type: InstanceNorm2d, num_features: 64}",
         "Omit the size to infer it, or write the input's channels: `num_features: 3`."),
    Rule("PL455", "unread-output", WARNING,
         "A layer whose output nothing reads: not the model's output, not in any layer's `from`.",
         "Its parameters are counted and kept in memory but never influence the output (and get no gradient); "
         "usually a wrong `from` or a branch that was never merged back.",
         "input: [16]\nlayers:\n  - {type: Linear, name: main, out_features: 8}\n"
         "  - {type: Linear, name: aux, from: input, out_features: 8}\n  - {type: ReLU, from: main}",
         "Merge the branch (`{type: Add, from: [main, aux]}`), fix the `from`, or remove the layer."),
    # --- budgets and training ----------------------------------------------
    Rule("PL501", "budget-exceeded", ERROR, "A figure exceeds its budget.",
         "Budgets keep a model within what the team decided it may cost. `flops` is forward FLOPs per sample "
         "as torch's FlopCounterMode counts them on the `meta` device in training mode: attention's full score "
         "matrix (causal or not) and recurrent layers step by step. FlopCounterMode on the CPU counts less, "
         "because the CPU's fused flash-attention and LSTM kernels have no FLOP formula and count 0 there, "
         "although they do that work.",
         "budgets: {params: 20K}  # the model has 26,926", "Shrink the model or raise the budget deliberately."),
    Rule("PL502", "bad-training", ERROR, "An unknown optimizer, precision or sharding setting.",
         "Optimizer state and memory cannot be predicted for it.",
         "training: {optimizer: Adamm}", "Use a torch.optim name: `Adam`."),
    Rule("PL503", "bad-inference", ERROR,
         "The `inference:` section cannot be applied to the graph: no causal attention to cache, a graph that "
         "does not accept the prompt length, both new_tokens and context_length, or an inference budget "
         "without the section.",
         "The KV cache and the serving peaks are computed from the graph at the prompt length and at one token; "
         "a graph with a fixed sequence length (learned positions as a Parameter of that length) cannot be "
         "run at another.",
         "inference: {batch_size: 8, prompt_tokens: 512}  # a model without causal attention: nothing to cache",
         "Serve a decoder (ScaledDotProductAttention with is_causal: true); give the prompt length as the "
         "input's sequence length when the graph has a fixed one (learned positions as a Parameter)."),
    # --- Ultralytics YOLO model YAML (backbone/head rows) ---------------------
    Rule("PL701", "ultralytics-unknown-module", ERROR,
         "A row names a module paramlint does not know (or does not expand yet).",
         "Ultralytics raises KeyError or builds something else; counts cannot be exact for it.",
         "backbone:\n  - [-1, 1, Cnov, [64, 3, 2]]\nhead: []", "Use the Ultralytics module name: `Conv`."),
    Rule("PL702", "ultralytics-bad-from", ERROR,
         "A row's `from` index is out of range or points at itself or a later row.",
         "Ultralytics reads the channels of rows already built; a wrong index raises IndexError or wires the "
         "wrong feature map.",
         "backbone:\n  - [-1, 1, Conv, [64, 3, 2]]\nhead:\n  - [[-1, 4], 1, Concat, [1]]  # there is no row 4 yet",
         "Point at an earlier row: `[-1, 0]`."),
    Rule("PL703", "ultralytics-bad-args", ERROR,
         "A row's argument list has the wrong length or an argument of the wrong type.",
         "Ultralytics passes the list positionally to the module's constructor, which raises or misreads it.",
         "backbone:\n  - [-1, 1, Conv, [64, 3, 2, null, 1, 1, true, 5]]\nhead: []", "Give at most `[c2, k, s, p, g, d, act]`."),
    Rule("PL704", "ultralytics-concat-size", ERROR,
         "A Concat joins feature maps of different spatial sizes.",
         "torch.cat raises 'Sizes of tensors must match' when the model first runs.",
         "backbone:\n  - [-1, 1, Conv, [16, 3, 2]]\n  - [-1, 1, Conv, [32, 3, 2]]\n"
         "head:\n  - [[-1, 0], 1, Concat, [1]]  # 160 x 160 with 320 x 320",
         "Upsample first, or concatenate the row of the same stride."),
    Rule("PL705", "ultralytics-image-stride", WARNING,
         "The image size is not a multiple of the model's largest stride.",
         "Ultralytics rounds the size up (check_imgsz), so the model runs at another size than the one written.",
         "imgsz: 600\nbackbone:\n  - [-1, 1, Conv, [16, 3, 2]]\nhead: []", "Use a multiple of the stride: `imgsz: 608` or `640`."),
    Rule("PL706", "ultralytics-scale", WARNING,
         "No scale was given (the first of `scales` is used), or the scale is not in `scales`.",
         "The scale decides depth and width: n and x differ by 20 times in parameters.",
         "scales:\n  n: [0.33, 0.25, 1024]\nbackbone:\n  - [-1, 1, Conv, [64, 3, 2]]\nhead: []  # no scale: `n` assumed",
         "Add `scale: n`, name the file yolov8n.yaml, or pass `--scale n`."),
    Rule("PL521", "bad-adapter", ERROR,
         "`training.lora` that peft's get_peft_model would refuse: target_modules that match no layer, a target "
         "peft cannot adapt (not Linear, Conv1d/2d/3d or Embedding), a grouped conv whose groups do not divide r, "
         "a head that ensure_weight_tying both adapts and ties as a copy, or ties to an embedding that is not "
         "adapted; or a quantized model without adapters.",
         "peft raises at get_peft_model, so the run never starts; the adapter counts and memory cannot be known.",
         "training: {lora: {r: 8, target_modules: [q_proj]}}  # the model has no layer named q_proj",
         "Use names as the model registers them (`layers.0.self_attn.q_proj` matches `q_proj`), a layer type, "
         "or `all-linear`."),
    Rule("PL522", "unmatched-modules-to-save", WARNING,
         "A `training.lora.modules_to_save` entry that names no module of the model; or `ensure_weight_tying` "
         "on a format-1 model whose head shares an embedding (peft finds tied weights only in a transformers "
         "model, so nothing is tied).",
         "peft ignores it (without a word, or with a warning), so the layer meant to be trained stays frozen, "
         "or the head and the embedding are trained apart.",
         "training: {lora: {r: 8, target_modules: [q_proj], modules_to_save: [lm_haed]}}",
         "Use a module name as the model registers it (`lm_head`, `embed_tokens`, `classifier`)."),
    # --- tool configuration and suppressions -----------------------------------
    Rule("PL601", "unused-suppression", WARNING,
         "A `# paramlint: ignore[...]` comment that suppresses nothing (judged only when the whole analysis ran).",
         "A stale suppression would silently hide the next real problem on that line or layer.",
         "input: [3, 32, 32]\nlayers:\n  - {type: Flatten}\n  - {type: Linear, out_features: 10}  # paramlint: ignore[PL401]",
         "Remove the comment, or the codes in it that no longer occur."),
    Rule("PL602", "config-syntax", ERROR, "The tool configuration (pyproject.toml, .paramlint.toml) is not valid TOML.",
         "paramlint cannot know which rules and defaults apply, so it lints nothing under it (exit 2).",
         "[tool.paramlint]\nignore = [\"PL451\"", "Close the list: `ignore = [\"PL451\"]`."),
    Rule("PL603", "config-invalid", ERROR,
         "The tool configuration does not match its schema (schemas/tool-config.json): unknown key, wrong type.",
         "A misspelt setting would otherwise be ignored; paramlint lints nothing under it (exit 2).",
         "[tool.paramlint]\nignor = [\"PL451\"]", "Use the documented key: `ignore`."),
    Rule("PL604", "unknown-code", WARNING,
         "A rule code or prefix in the tool configuration or in a suppression comment that matches no rule.",
         "Selecting, ignoring or suppressing a code that does not exist does nothing; usually a typo.",
         "[tool.paramlint]\nignore = [\"PL499\"]", "Use a code listed by `paramlint rules`."),
    # --- I/O and internal ------------------------------------------------------
    Rule("PL901", "unreadable-file", ERROR, "A file or folder that cannot be read.",
         "paramlint reports it and goes on with the other files (exit 2).",
         "paramlint missing.yaml", "Check the path."),
    Rule("PL902", "internal-error", ERROR, "paramlint itself failed on this file (a bug).",
         "The other files are still linted; please report it.",
         "(any config on which paramlint itself crashes)", "Run with --debug and file a bug report with the traceback."),
)


def severity_of(code: str) -> str:
    return RULES[code].severity
