"""Hugging Face config.json files through paramlint: found by their marker, diagnostics at the field's
line and column, `huggingface:` in format-1 files, `paramlint convert`."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Tuple

import pytest
import yaml

from paramlint.api import lint_text
from paramlint.cli import main
from paramlint.importers.huggingface import is_huggingface_config

ROOT = Path(__file__).resolve().parent.parent
LLAMA = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64, "intermediate_size": 96,
         "num_attention_heads": 4, "num_hidden_layers": 2, "num_key_value_heads": 2, "vocab_size": 100,
         "max_position_embeddings": 32}


def _where(text: str, key: str) -> Tuple[int, int]:
    """Line and column (1-based) of the value of ``"key":`` in JSON text."""
    for number, line in enumerate(text.splitlines(), 1):
        marker = f'"{key}": '
        if marker in line:
            return number, line.index(marker) + len(marker) + 1
    raise AssertionError(key)


def _diagnostics(config: Dict[str, Any]) -> Tuple[str, list]:
    text = json.dumps(config, indent=2)
    report = lint_text(text, path="config.json")
    return text, [(d.line, d.column, d.code) for d in report.diagnostics]


def test_marker():
    assert is_huggingface_config(LLAMA)
    assert not is_huggingface_config({"model_type": 3})
    assert not is_huggingface_config({"paramlint": 1, "model_type": "llama"})
    assert not is_huggingface_config([LLAMA])


def test_any_file_name_is_linted(tmp_path, capsys):
    path = tmp_path / "weights_meta.json"
    path.write_text(json.dumps(LLAMA))
    assert main([str(path), "--format", "json"]) == 0
    model = json.loads(capsys.readouterr().out)["files"][0]["model"]
    assert model["params"] == 100 * 64 * 2 + 2 * (64 * 64 * 2 + 64 * 32 * 2 + 3 * 64 * 96 + 2 * 64) + 64


def test_unsupported_model_type_is_skipped_with_a_note(tmp_path, capsys):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "t5", "d_model": 512}))
    assert main([str(path)]) == 0
    out = capsys.readouterr().out
    assert "model_type 't5'" in out and "llama" in out and "vit" in out
    assert len([line for line in out.splitlines() if "t5" in line]) == 1


def test_a_hostile_model_type_is_shown_short(tmp_path, capsys):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "t5" * 100_000}))
    assert main([str(path)]) == 0
    out = capsys.readouterr().out
    assert "'t5t5" in out and "..." in out and len(out) < 500


def test_no_configs_names_every_front_door(tmp_path, capsys):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"editor": {"tabSize": 2}}))
    assert main([str(path)]) == 0
    out = capsys.readouterr().out
    assert "`paramlint: 1`" in out and "config.json" in out and "`backbone` and `head`" in out


@pytest.mark.parametrize("change,key,code", [
    ({"hidden_size": 66}, "hidden_size", "PL402"),                  # 66 / 4 heads, no head_dim
    ({"num_key_value_heads": 3}, "num_key_value_heads", "PL402"),  # 4 heads / 3
    ({"vocab_size": 0}, "vocab_size", "PL202"),
    ({"intermediate_size": -5}, "intermediate_size", "PL202"),
    ({"num_hidden_layers": "32"}, "num_hidden_layers", "PL202"),
    ({"architectures": ["LlamaForMultipleChoice"]}, "architectures", "PL205"),  # no such head in transformers
])
def test_config_mistakes_at_the_field(change, key, code):
    text, found = _diagnostics(dict(LLAMA, **change))
    line, column = _where(text, key)
    if key == "architectures":  # the class name, on the line after the bracket
        line, column = line + 1, 5
    assert found == [(line, column, code)]


def test_an_unsupported_class_lists_the_supported_ones():
    """BertForMultipleChoice is a transformers class of a supported family that paramlint does not build."""
    config = {"model_type": "bert", "architectures": ["BertForMultipleChoice"], "hidden_size": 8,
              "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2}
    text = json.dumps(config, indent=2)
    report = lint_text(text, path="config.json")
    (diagnostic,) = report.diagnostics
    assert (diagnostic.line, diagnostic.column, diagnostic.code) == (4, 5, "PL205")  # the class name
    assert diagnostic.message.endswith(
        "(supported classes: BertModel, BertForMaskedLM, BertForSequenceClassification, BertForTokenClassification, "
        "BertForQuestionAnswering, BertForPreTraining, BertForNextSentencePrediction, BertLMHeadModel)")
    gemma = json.dumps(dict(config, model_type="gemma", architectures=["GemmaForQuestionAnswering"], vocab_size=10))
    (diagnostic,) = lint_text(gemma, path="config.json").diagnostics
    assert diagnostic.code == "PL205" and "GemmaForTokenClassification)" in diagnostic.message


def test_bert_heads_lint_clean():
    """The embeddings' buffers, an untied MLM head's unused predictions.bias and BertForPreTraining's
    next-sentence logits are left unread on purpose: no PL455 for them (or for anything)."""
    base = {"model_type": "bert", "hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 1,
            "num_attention_heads": 2, "vocab_size": 20, "tie_word_embeddings": False}
    for cls in ("BertModel", "BertForPreTraining", "BertForMaskedLM", "BertForTokenClassification"):
        config = dict(base, architectures=[cls])
        assert lint_text(json.dumps(config), path="config.json").diagnostics == (), cls
        inline = json.dumps({"paramlint": 1, "huggingface": config, "training": {"sequence_length": 4}})
        assert lint_text(inline, path="model.json").diagnostics == (), cls


def test_bert_as_a_decoder():
    """is_decoder: BertLayer's self-attention is causal; cross-attention (an encoder-decoder's) is not built."""
    from paramlint.importers.huggingface import convert

    config = {"model_type": "bert", "architectures": ["BertLMHeadModel"], "hidden_size": 8,
              "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "vocab_size": 20}
    for is_decoder in (False, True):
        attention = convert(dict(config, is_decoder=is_decoder)).data["blocks"]["BertAttention"]["layers"]
        sdpa = [layer for layer in attention if layer["type"] == "ScaledDotProductAttention"]
        assert [layer.get("is_causal", False) for layer in sdpa] == [is_decoder]
    text = json.dumps(dict(config, is_decoder=True, add_cross_attention=True), indent=2)
    (diagnostic,) = lint_text(text, path="config.json").diagnostics
    assert (diagnostic.line, diagnostic.column, diagnostic.code) == _where(text, "add_cross_attention") + ("PL205",)


def test_only_the_layers_left_unread_on_purpose_are_quiet():
    from paramlint.importers.huggingface import convert

    config = {"model_type": "bert", "architectures": ["BertForPreTraining"], "hidden_size": 8,
              "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "vocab_size": 20}
    for tied, extra in ((True, set()), (False, {"predictions_bias"})):
        conversion = convert(dict(config, tie_word_embeddings=tied))
        names = {conversion.data["layers"][i]["name"] for _, i in conversion.unread}
        assert names == {"position_ids", "token_type_ids", "seq_relationship"} | extra
    assert convert(dict(config, model_type="llama", architectures=["LlamaForCausalLM"])).unread == frozenset()
    gpt2 = {"model_type": "gpt2", "architectures": ["GPT2DoubleHeadsModel"], "n_embd": 8, "n_layer": 1, "n_head": 2}
    for summary in ({}, {"summary_use_proj": False, "summary_first_dropout": 0}):
        conversion = convert(dict(gpt2, **summary))
        assert {conversion.data["layers"][i]["name"] for _, i in conversion.unread} == {"mc_logits"}
        assert lint_text(json.dumps(dict(gpt2, **summary)), path="config.json").diagnostics == ()


def test_gpt2_summary_type_attn_is_not_built():
    """transformers' GPT2SequenceSummary raises NotImplementedError for it."""
    config = {"model_type": "gpt2", "architectures": ["GPT2DoubleHeadsModel"], "n_embd": 8, "n_layer": 1,
              "n_head": 2, "summary_type": "attn"}
    text = json.dumps(config, indent=2)
    (diagnostic,) = lint_text(text, path="config.json").diagnostics
    assert (diagnostic.line, diagnostic.column, diagnostic.code) == _where(text, "summary_type") + ("PL205",)


def test_divisibility_message_has_the_arithmetic():
    report = lint_text(json.dumps(dict(LLAMA, hidden_size=66)), path="config.json")
    assert "66 / 4 = 16.5" in report.diagnostics[0].message


def test_missing_required_field_points_at_the_config():
    config = {k: v for k, v in LLAMA.items() if k != "hidden_size"}
    _, found = _diagnostics(config)
    assert found == [(1, 1, "PL203")]


def test_sequence_length_above_max_positions(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(LLAMA, indent=2))
    text = "paramlint: 1\nhuggingface: ./config.json\ntraining:\n  batch_size: 2\n  sequence_length: 64\n"
    (tmp_path / "train.yaml").write_text(text)
    report = lint_text(text, path=str(tmp_path / "train.yaml"))
    assert [(d.line, d.column, d.code) for d in report.diagnostics] == [(5, 20, "PL402")]
    assert "max_position_embeddings 32" in report.diagnostics[0].message


@pytest.mark.parametrize("inference, field, positions", [
    ("{prompt_tokens: 40}", "prompt_tokens", 40),
    ("{prompt_tokens: 20, new_tokens: 14}", "new_tokens", 33),
    ("{prompt_tokens: 8, context_length: 33}", "context_length", 33),
])
def test_serving_context_above_max_positions(inference, field, positions):
    text = yaml.safe_dump({"paramlint": 1, "huggingface": LLAMA}, sort_keys=False) + f"inference: {inference}\n"
    report = lint_text(text, path="serve.yaml")
    (diagnostic,) = report.diagnostics
    assert (diagnostic.line, diagnostic.code) == (len(text.splitlines()), "PL402")
    assert text.splitlines()[-1][diagnostic.column - 1:].startswith(str(positions if field != "new_tokens" else 14))
    assert f"{positions:,} positions is more than the model's max_position_embeddings 32" in diagnostic.message


def test_serving_within_max_positions_is_fine():
    text = yaml.safe_dump({"paramlint": 1, "huggingface": LLAMA}, sort_keys=False)
    report = lint_text(text + "inference: {prompt_tokens: 20, new_tokens: 13}\n", path="serve.yaml")
    assert not report.diagnostics and report.analysis.inference.cached_tokens == 32


def test_serving_beyond_what_torch_can_allocate_is_pl405():
    text = yaml.safe_dump({"paramlint": 1, "huggingface": LLAMA}, sort_keys=False)
    report = lint_text(text + "inference: {batch_size: 100000000000000000, prompt_tokens: 32}\n", path="serve.yaml")
    assert [d.code for d in report.diagnostics] == ["PL405"]
    assert "more than torch can allocate" in report.diagnostics[0].message


def test_referenced_config_errors_are_reported_in_that_file(tmp_path):
    text = json.dumps(dict(LLAMA, num_key_value_heads=3), indent=2)
    (tmp_path / "config.json").write_text(text)
    report = lint_text("paramlint: 1\nhuggingface: ./config.json\n", path=str(tmp_path / "model.yaml"))
    (diagnostic,) = report.diagnostics
    assert diagnostic.path == str(tmp_path / "config.json")
    assert (diagnostic.line, diagnostic.column) == _where(text, "num_key_value_heads")


def test_missing_referenced_file(tmp_path):
    report = lint_text("paramlint: 1\nhuggingface: ./nope.json\n", path=str(tmp_path / "model.yaml"))
    assert [(d.line, d.column, d.code) for d in report.diagnostics] == [(2, 14, "PL901")]


def test_inline_mapping_with_training_and_budgets():
    text = yaml.safe_dump({"paramlint": 1, "huggingface": LLAMA,
                           "training": {"batch_size": 4, "sequence_length": 16, "optimizer": "AdamW",
                                        "gradient_checkpointing": True},
                           "budgets": {"params": "10K"}}, sort_keys=False)
    report = lint_text(text, path="model.yaml")
    assert [d.code for d in report.diagnostics] == ["PL501"]
    assert report.analysis.optimizer_state == 2 * report.analysis.params
    checkpointed = {i.node.frames[0].label for i in report.analysis.shapes.layers
                    if any(frame.checkpoint for frame in i.node.frames)}
    assert checkpointed == {"layers DecoderLayer #1", "layers DecoderLayer #2"}


def test_inline_mapping_mistake_points_into_the_mapping():
    text = "paramlint: 1\nhuggingface:\n  model_type: llama\n  hidden_size: 64\n  intermediate_size: 8\n" \
           "  num_attention_heads: 4\n  num_key_value_heads: 3\n  num_hidden_layers: 1\n  vocab_size: 10\n"
    report = lint_text(text, path="model.yaml")
    assert [(d.line, d.column, d.code) for d in report.diagnostics] == [(7, 24, "PL402")]


def test_graph_keys_beside_huggingface_are_rejected():
    text = yaml.safe_dump({"paramlint": 1, "huggingface": LLAMA, "layers": [{"type": "ReLU"}]}, sort_keys=False)
    report = lint_text(text, path="model.yaml")
    assert "PL201" in [d.code for d in report.diagnostics]


@pytest.mark.parametrize("path", sorted((ROOT / "examples" / "huggingface").glob("*/config.json")),
                         ids=lambda p: p.parent.name)
def test_convert_round_trips(path, tmp_path, capsys):
    assert main(["convert", str(path)]) == 0
    converted = tmp_path / "converted.yaml"
    converted.write_text(capsys.readouterr().out)
    original, again = lint_text(path.read_text(), path=str(path)), lint_text(converted.read_text(),
                                                                             path=str(converted))
    assert original.analysis.params == again.analysis.params
    assert original.analysis.flops == again.analysis.flops
    assert original.analysis.shapes.buffers == again.analysis.shapes.buffers
    assert original.diagnostics == () and again.diagnostics == ()  # what is unread on purpose stays quiet


def test_examples_count_as_published():
    report = lint_text((ROOT / "examples/huggingface/llama-2-7b/config.json").read_text(), path="config.json")
    assert report.analysis.params == 6_738_415_616
    report = lint_text((ROOT / "examples/huggingface/bert-base-ner/config.json").read_text(), path="config.json")
    assert report.analysis.params == 107_726_601
    assert report.analysis.shapes.output.shape == (512, 9)  # a label per token


# -- paramlint fit on Hugging Face models ------------------------------------------------------------

def _fit(argv):
    import io

    from paramlint.commands.fit import main as fit_main

    out, err = io.StringIO(), io.StringIO()
    return fit_main(list(argv), stdout=out, stderr=err), out.getvalue(), err.getvalue()


@pytest.mark.parametrize("wrapped", [False, True])
def test_fit_searches_the_batch_of_a_huggingface_model(tmp_path, wrapped):
    (tmp_path / "config.json").write_text(json.dumps(LLAMA))
    path = tmp_path / "config.json"
    if wrapped:
        path = tmp_path / "train.yaml"
        path.write_text("paramlint: 1\nhuggingface: ./config.json\ntraining: {sequence_length: 16, optimizer: AdamW}\n")
    status, out, err = _fit([str(path), "--memory", "80 MiB", "--format", "json"])
    assert status == 0, err
    found = json.loads(out)
    assert found["batch_size"] >= 1 and found["peak"] <= found["budget"] < found["peak_at_next_batch"]


def test_fit_searches_the_sequence_length_up_to_max_positions(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(LLAMA))
    path = tmp_path / "train.yaml"
    path.write_text("paramlint: 1\nhuggingface: ./config.json\ntraining: {batch_size: 2, optimizer: AdamW}\n")
    status, out, err = _fit([str(path), "--memory", "100 GiB", "--sequence-length", "--format", "json"])
    assert status == 0, err
    assert json.loads(out)["sequence_length"] == LLAMA["max_position_embeddings"]  # everything fits: capped

    def peak(length: int) -> int:
        text = path.read_text().replace("batch_size: 2", f"batch_size: 2, sequence_length: {length}")
        return lint_text(text, path=str(path)).analysis.memory.peak

    budget = (peak(8) + peak(24)) // 2
    status, out, err = _fit([str(path), "--memory", f"{budget} B", "--sequence-length", "--format", "json"])
    found = json.loads(out)
    assert status == 0 and 8 <= found["sequence_length"] < 24, (out, err)
    assert peak(found["sequence_length"]) == found["peak"] <= budget < peak(found["sequence_length"] + 1)
