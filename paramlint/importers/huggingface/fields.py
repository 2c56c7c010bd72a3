"""Reading a config.json's fields: transformers' defaults, kinds, and the
arithmetic transformers relies on, each mistake a finding at the field."""
from __future__ import annotations

from typing import Any, List, Mapping, Optional

from ...core.diagnostics import ConfigPath, Finding
from .defaults import DEFAULTS, REQUIRED


# Families whose config class rejects hidden_size % num_attention_heads != 0 even when head_dim is given.
_HIDDEN_DIVISIBLE = ("llama", "gemma2")
# Families whose config reads `num_key_value_heads: null` as one key/value head per query head.
_KV_NULL_MEANS_HEADS = ("llama", "qwen2", "phi3")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class Fields:
    """The fields of one config (``data``, found at ``prefix`` of the document), with defaults.

    Every getter returns a usable value even after a mistake (the default,
    or 1), recording a finding; the caller converts only when ``findings``
    stays empty.
    """

    def __init__(self, data: Mapping[str, Any], family: str, prefix: ConfigPath = ()) -> None:
        self.data = data
        self.family = family
        self.prefix = prefix
        self.defaults = DEFAULTS[family]
        self.findings: List[Finding] = []
        for name in REQUIRED[family]:
            if data.get(name) is None:
                self.error("PL203", f"`{name}` is missing: {family} configs must state it (transformers would "
                                    f"silently use its default)", ())

    def path(self, name: str) -> ConfigPath:
        return self.prefix + (name,)

    def error(self, code: str, message: str, path: ConfigPath) -> None:
        self.findings.append(Finding(code, message, self.prefix + tuple(path)))

    def given(self, name: str) -> bool:
        return self.data.get(name) is not None

    def raw(self, name: str, default: Any = None) -> Any:
        value = self.data.get(name)
        if value is None:
            value = self.defaults.get(name)
        return default if value is None else value

    def size(self, name: str, default: Optional[int] = None, *, minimum: int = 1) -> int:
        """A positive (or ``minimum``) integer field."""
        value = self.raw(name, default)
        if value is None:
            return 1  # required and missing: reported above
        if not _is_int(value):
            self.error("PL202", f"`{name}` must be an integer, got {value!r}", (name,))
            return 1
        if value < minimum:
            what = "positive" if minimum == 1 else f"at least {minimum}"
            self.error("PL202", f"`{name}` must be {what}, got {value}", (name,))
            return max(minimum, 1)
        return value

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.raw(name, default)
        if not isinstance(value, bool):
            self.error("PL202", f"`{name}` must be true or false, got {value!r}", (name,))
            return default
        return value

    def number(self, name: str, default: float = 0.0) -> float:
        value = self.raw(name, default)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            self.error("PL202", f"`{name}` must be a number, got {value!r}", (name,))
            return default
        return float(value)

    def text(self, name: str, default: str = "") -> str:
        value = self.raw(name, default)
        if not isinstance(value, str):
            self.error("PL202", f"`{name}` must be a string, got {value!r}", (name,))
            return default
        return value

    def probability(self, name: str, default: float = 0.0) -> float:
        value = self.number(name, default)
        if not 0.0 <= value <= 1.0:
            self.error("PL202", f"`{name}` must be a probability between 0 and 1, got {value}", (name,))
            return 0.0
        return value

    def heads(self, hidden: int, heads_name: str, hidden_name: str, *, head_dim_name: Optional[str] = None) -> int:
        """The width of one attention head: ``head_dim`` when the config (or its family's default) gives
        one, else ``hidden // heads``, which transformers needs to divide evenly."""
        heads = self.size(heads_name)
        if head_dim_name is not None and self.raw(head_dim_name) is not None:
            if self.family in _HIDDEN_DIVISIBLE and hidden % heads:  # their configs' validate_architecture
                self.error("PL402", f"`{hidden_name}` {hidden} is not divisible by `{heads_name}` {heads} "
                                    f"({hidden} / {heads} = {hidden / heads:g}), which transformers requires of "
                                    f"{self.family} configs even with `{head_dim_name}`",
                           (hidden_name if self.given(hidden_name) else heads_name,))
            return self.size(head_dim_name)
        if hidden % heads:
            where = hidden_name if self.given(hidden_name) or not self.given(heads_name) else heads_name
            self.error("PL402", f"`{hidden_name}` {hidden} is not divisible by `{heads_name}` {heads}: "
                                f"{hidden} / {heads} = {hidden / heads:g} features per head"
                                + (f" (state `{head_dim_name}` to choose another width)" if head_dim_name else ""),
                       (where,))
            return 1
        return hidden // heads

    def kv_heads(self, heads: int) -> int:
        """``num_key_value_heads`` (default: one per query head), which must divide the query heads."""
        if "num_key_value_heads" in self.data and self.data["num_key_value_heads"] is None \
                and self.family not in _KV_NULL_MEANS_HEADS:
            self.error("PL202", "`num_key_value_heads` must be an integer, got null", ("num_key_value_heads",))
            return heads
        if self.family in _KV_NULL_MEANS_HEADS and "num_key_value_heads" in self.data:
            kv = self.size("num_key_value_heads", heads) if self.data["num_key_value_heads"] is not None else heads
        else:
            kv = self.size("num_key_value_heads", heads)
        if heads % kv:
            self.error("PL402", f"`num_attention_heads` {heads} is not divisible by `num_key_value_heads` {kv}: "
                                f"{heads} / {kv} = {heads / kv:g} query heads per key/value head",
                       ("num_key_value_heads" if self.given("num_key_value_heads") else "num_attention_heads",))
            return heads
        return kv

    def num_labels(self) -> int:
        """``len(id2label)`` when the config has the map, else ``num_labels``, else 2 (as transformers)."""
        id2label = self.data.get("id2label")
        if isinstance(id2label, Mapping) and id2label:
            return len(id2label)
        return self.size("num_labels", 2)
