"""LoRA name matching (model/finetune.py, model/name_patterns.py): exact to peft's rules, linear in the
model's size, and bounded on a hostile regular expression."""
from __future__ import annotations

import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paramlint.model.finetune import _Names
from paramlint.model.name_patterns import MAX_STEPS, pattern_problem
from test_hostile_round2 import CPU_SECONDS, lint

HEAD = "paramlint: 1\ninput: [8]\nlayers:\n"


def _peft_list_match(target, path, layer_type):
    """peft 0.21's check for a list (``check_target_module_exists``), plus a format-1 layer type."""
    return any(path == t or path.endswith("." + t) or t == layer_type for t in target)


_PART = st.sampled_from(["q_proj", "v_proj", "proj", "layers", "0", "1", "12", "mlp", "attn", "a.b", "Linear"])
_PATH = st.lists(_PART, min_size=1, max_size=5).map(".".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(_PATH, max_size=6), _PATH, st.sampled_from(["Linear", "Conv2d", None]))
def test_list_targets_match_as_peft_does(target, path, layer_type):
    assert _Names(target).match(path, layer_type) == (bool(target) and _peft_list_match(target, path, layer_type))


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([r".*\.(q|v)_proj", r"layers\.\d+\.attn\..*", "q_proj", r".*proj", "(layers|mlp).*"]),
       _PATH)
def test_a_string_target_is_a_full_match(pattern, path):
    assert pattern_problem(pattern, len(path)) == ""
    assert _Names(pattern).match(path) == (re.fullmatch(pattern, path) is not None)


def test_all_linear_is_linear_in_the_model_size():
    """"all-linear" lists every Linear; matching each layer against that list was quadratic (a 70B model:
    200 ms in matching alone; 20,000 Linears: minutes).  Now 20,000 names against 20,000 targets are a
    set lookup per dotted suffix, and a 2,000-Linear model lints in a fraction of the guard."""
    paths = [f"blocks.{i}.fc" for i in range(20000)]
    names = _Names(paths)
    start = time.process_time()
    assert all(names.match(p, "Linear") for p in paths) and not names.match("fc", "Linear")
    assert time.process_time() - start < CPU_SECONDS  # a hang guard: the quadratic scan was 4 x 10^8 comparisons
    text = HEAD + "".join(f"- {{type: Linear, out_features: 8, name: fc{i}}}\n" for i in range(2000))
    report = lint(text + "training:\n  lora: {r: 2, target_modules: all-linear}\n")
    assert report.analysis is not None and len(report.analysis.finetune.finetune.adapted) == 2000


@pytest.mark.parametrize("field", ["target_modules", "exclude_modules"])
@pytest.mark.parametrize("pattern, code", [
    ("fc(", "PL202"), ("((", "PL202"), ("[z-a]", "PL202"), ("a{3,1}", "PL202"),
    ("(a+)+b", "PL103"), ("(a*)*b", "PL103"), ("(a|aa)+b", "PL103"), ("(.*a){20}", "PL103"),
    (".*.*.*.*.*.*.*.*x", "PL103"),
])
def test_a_bad_or_explosive_regex_is_a_finding_not_a_hang(field, pattern, code):
    """peft runs re.fullmatch on every module name; a config is untrusted, and ``(a+)+b`` against a long
    name of ``a`` backtracks for hours."""
    name = "a" * 60
    lora = f"target_modules: fc\n    {field}: {pattern!r}" if field == "exclude_modules" else \
        f"target_modules: {pattern!r}"
    text = (HEAD + f"- {{type: Linear, out_features: 4, name: {name}}}\n- {{type: Linear, out_features: 4, name: fc}}\n"
            f"training:\n  lora:\n    r: 2\n    {lora}\n")
    found = [d for d in lint(text).diagnostics if d.code == code]
    assert found and field in found[0].message, lint(text).diagnostics


def test_a_modules_to_save_pattern_is_checked_inside_peft_pattern():
    text = HEAD + "- {type: Linear, out_features: 4, name: fc}\ntraining:\n  lora: {r: 2, target_modules: [fc], " \
                  "modules_to_save: ['(x+)+']}\n"
    assert "PL103" in [d.code for d in lint(text).diagnostics]


def test_unbounded_repetitions_are_weighed_against_the_longest_name():
    assert pattern_problem(".*a.*b", 100) == ""  # 100^2 steps
    assert pattern_problem(".*a.*b.*c.*d", 1000) != ""  # 1000^4 > MAX_STEPS
    assert 1000 ** 4 > MAX_STEPS > 100 ** 2
