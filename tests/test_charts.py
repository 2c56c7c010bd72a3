"""The charts: the memory timeline is the simulation's own walk, the marks
equal the JSON figures, the SVG is well-formed and accessible, the HTML
renders in Chromium (scripts on and off) with the charts on screen, and the
README's chart is what its command writes."""
from __future__ import annotations

import io
import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from contextlib import redirect_stdout
from pathlib import Path
from typing import List, Optional, Tuple

import pytest

from paramlint.api import lint_paths, lint_text
from paramlint.cli import main as cli_main
from paramlint.core.units import format_bytes
from paramlint.lint import Linter
from paramlint.memory.model import MemoryModel
from paramlint.memory.plan import CATEGORIES
from paramlint.memory.simulation import sizes
from paramlint.report import render
from paramlint.report.charts import STACK, breakdown, low_point, parameter_groups, sparkline, timeline

ROOT = Path(__file__).resolve().parent.parent
SVG = "{http://www.w3.org/2000/svg}"
README_CHART = ROOT / "docs" / "img" / "cifar10_memory.svg"
README_CHART_COMMAND = ["--format", "svg", "-o", "docs/img/cifar10_memory.svg", "examples/cifar10_cnn.yaml"]


def _report(name: str):
    report = Linter().lint_file(str(ROOT / "examples" / f"{name}.yaml"))
    assert report.analysis is not None, report.diagnostics
    return report


def _model(report) -> MemoryModel:
    from paramlint.model.graph import build_graph
    from paramlint.source.loader import load_document

    data = load_document((ROOT / "examples" / Path(report.path).name).read_bytes(), path=report.path).data
    graph, _ = build_graph(data)
    analysis = report.analysis
    return MemoryModel(analysis.shapes, analysis.training, output=graph.output)


def _walk(model: MemoryModel, batch: int) -> List[Tuple[int, str, str, int, Tuple[int, ...]]]:
    """The timeline walked here, independently of the simulator: (step, moment, phase, layer, live)."""
    timeline_ = model.training
    size = sizes(timeline_, batch, model.device.rounding)
    category = timeline_.storages.category
    live = [0] * len(CATEGORIES)
    for storage in timeline_.persistent:
        live[category[storage]] += size[storage]
    out = [(-1, "start", "start", -1, tuple(live))]
    for index, (before, allocs, frees, phase, layer) in enumerate(timeline_.steps):
        for storage in before:
            live[category[storage]] -= size[storage]
        for storage in allocs:
            live[category[storage]] += size[storage]
        out.append((index, "alloc", phase, layer, tuple(live)))
        for storage in frees:
            live[category[storage]] -= size[storage]
        if frees:
            out.append((index, "free", phase, layer, tuple(live)))
    return out


@pytest.mark.parametrize("name", ["cifar10_cnn", "cifar10_cnn_batchnorm", "resnet18", "gpt2_small"])
def test_the_timeline_is_the_simulation_point_by_point(name):
    report = _report(name)
    model = _model(report)
    batch = report.analysis.training.batch_size
    trace = model.trace(batch)
    assert [(p.step, p.moment, p.phase, p.layer, p.live) for p in trace.points] == _walk(model, batch)
    estimate = report.analysis.memory
    assert trace.peak == estimate.peak == max(p.total for p in trace.points) + trace.overhead
    assert (trace.phase, trace.layer) == (estimate.phase, estimate.peak_layer)
    # what the report draws comes from the same trace
    assert estimate.trace is not None and estimate.trace() == trace


def test_chart_columns_are_trace_points_and_keep_the_peak():
    report = _report("resnet50")
    chart = timeline(report.analysis, max_columns=200)
    trace = report.analysis.memory.trace()
    assert len(chart.columns) <= 200 < len(trace.points) == chart.thinned_from
    points = set(trace.points)
    assert all(c.point in points for c in chart.columns)
    assert chart.columns[chart.peak_column].total == chart.peak == report.analysis.memory.peak
    for column in chart.columns:  # the overhead is the one constant kind; the rest are the point's categories
        by_name = dict(zip(STACK, column.values))
        assert by_name.pop("overhead") == trace.overhead
        assert sorted(by_name.values()) == sorted(column.point.live)
    steps = [c.point.step for c in chart.columns]
    assert steps == sorted(steps)


def test_breakdown_and_parameter_groups_add_up():
    report = _report("resnet18")
    analysis = report.analysis
    assert sum(v for _, v in breakdown(analysis)) == analysis.memory.peak
    groups = parameter_groups(analysis)
    assert sum(g.params for g in groups) == analysis.params
    blocks = [g for g in groups if g.members]
    assert [g.label for g in blocks][:2] == ["layer1", "layer1"] and all(g.params == sum(m[2] for m in g.members)
                                                                        for g in blocks)
    assert sum(len(g.members) or 1 for g in groups) == len(analysis.shapes.layers)


def _svg_document(args: List[str]) -> Tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        code = cli_main(args)
    return code, out.getvalue()


def _json_peak(path: str) -> int:
    code, text = _svg_document(["--format", "json", "--isolated", path])
    document = json.loads(text)
    return document["files"][0]["model"]["memory"]["peak"]


@pytest.mark.parametrize("name", ["cifar10_cnn", "resnet50"])
def test_svg_peak_marker_and_label_equal_the_json_peak(name):
    path = str(ROOT / "examples" / f"{name}.yaml")
    code, text = _svg_document(["--format", "svg", "--isolated", path])
    assert code in (0, 1)
    root = ET.fromstring(text)
    peak = _json_peak(path)
    markers = [e for e in root.iter(f"{SVG}circle") if e.get("class") == "peak-marker"]
    assert [int(m.get("data-peak")) for m in markers] == [peak]
    labels = ["".join(e.itertext()) for e in root.iter(f"{SVG}text") if e.get("class") == "peak-label"]
    assert len(labels) == 1 and labels[0].startswith(f"peak {format_bytes(peak)}: ")


def test_every_chart_is_labelled_for_screen_readers():
    code, text = _svg_document(["--format", "svg", "--isolated", str(ROOT / "examples" / "resnet18.yaml")])
    root = ET.fromstring(text)
    charts = [e for e in root.iter(f"{SVG}svg") if e.get("role") == "img"]
    assert len(charts) == 4  # the document and its three charts
    ids = {e.get("id") for e in root.iter() if e.get("id")}
    for chart in charts:
        assert chart.find(f"{SVG}title") is not None and "".join(chart.find(f"{SVG}title").itertext()).strip()
        assert all(ref in ids for ref in chart.get("aria-labelledby").split())
    assert len(ids) == len([e for e in root.iter() if e.get("id")]), "ids must be unique"


HOSTILE = """\
paramlint: 1
name: "<script>alert(1)</script> & \\u001b[31m"
input: [8]
blocks:
  "B<i>":
    layers:
      - {type: Linear, out_features: 8}
layers:
  - {type: "B<i>"}
  - {type: Linear, out_features: 2}
"""


def test_names_are_escaped_in_svg_and_html():
    report = lint_text(HOSTILE.encode(), path="hostile.yaml")
    assert report.analysis is not None, report.diagnostics
    svg = render("svg", [report])
    ET.fromstring(svg)  # well-formed
    assert "<script>" not in svg and "<i>" not in svg and "\x1b" not in svg
    html = render("html", [report])
    assert "<script>" not in html and "<i>" not in html


def test_sparkline_peaks_where_the_timeline_does():
    report = _report("resnet50")
    chart = timeline(report.analysis, max_columns=480)
    line = sparkline(chart, width=60)
    assert 0 < len(line) <= 60 and set(line) <= set("▁▂▃▄▅▆▇█") and "█" in line and "▁" in line
    ascii_line = sparkline(chart, width=60, unicode=False)
    assert ascii_line.isascii() and len(ascii_line) == len(line)
    assert line.index("█") == ascii_line.index("#")
    assert low_point(chart) == min(c.total for c in chart.columns)


def test_summary_shows_the_sparkline_and_falls_back_to_ascii():
    report = _report("cifar10_cnn")
    text = render("text", [report], summary=True)
    assert "over the step: " in text and any(ch in text for ch in "▁▂▃▄▅▆▇█")
    plain = render("text", [report], summary=True, unicode=False)
    line = next(l for l in plain.splitlines() if "over the step" in l)
    assert line.isascii()


def test_diff_html_shows_both_sides_and_highlights_changes():
    out = io.StringIO()
    with redirect_stdout(out):
        code = cli_main(["diff", "--format", "html", str(ROOT / "examples" / "cifar10_cnn.yaml"),
                         str(ROOT / "examples" / "cifar10_cnn_batchnorm.yaml")])
    assert code == 0
    page = out.getvalue()
    assert page.count('class="timeline"') == 2 and page.count('class="breakdown"') == 2
    assert page.count('<tr class="changed">') == 4  # params, trainable, optimizer state, memory; FLOPs equal
    assert page.count('<li class="added">') == 4
    assert "<script" not in page


# --- Chromium --------------------------------------------------------------------------------------------

def _chromium() -> Optional[str]:
    return next((found for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
                 if (found := shutil.which(name))), None)


def _browser(tmp_path: Path, *extra: str) -> List[str]:
    browser = _chromium()
    if browser is None:
        pytest.skip("no Chromium to render the HTML report (CI installs it with apt)")
    return [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update", "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}", *extra]


# A script that would blank the page if it ran: the report's Content-Security-Policy must stop it.
SABOTAGE = "<script>document.body.innerHTML = '';</script>"


@pytest.mark.parametrize("name", ["cifar10_cnn", "resnet50"])
@pytest.mark.parametrize("scripts", ["none", "blocked"])
def test_the_report_renders_its_charts_in_chromium(name, scripts, tmp_path):
    """The page needs no script: as written, and with a script injected that the page's policy refuses (headless
    Chromium cannot take a screenshot with scripting switched off, so the page switches it off itself)."""
    Image = pytest.importorskip("PIL.Image")
    page = tmp_path / f"{name}.html"
    document = render("html", lint_paths([str(ROOT / "examples" / f"{name}.yaml")], isolated=True))
    assert "script-src" not in document and "default-src 'none'" in document and "<script" not in document
    if scripts == "blocked":
        document = document.replace("</body>", SABOTAGE + "</body>")
    page.write_text(document, encoding="utf-8")
    command = _browser(tmp_path, "--enable-logging=stderr", "--v=0")
    dom = subprocess.run(command + ["--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-500:]
    assert dom.stdout.count('class="timeline"') == 1 and 'class="peak-marker"' in dom.stdout
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    if scripts == "none":
        assert not console, console
    else:
        assert any("Content Security Policy" in line for line in console), console
    shot = tmp_path / f"{name}.png"
    subprocess.run(command + [f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri()],
                   capture_output=True, text=True, timeout=120)
    image = Image.open(shot).convert("RGB")
    pixels = list(image.get_flattened_data() if hasattr(image, 'get_flattened_data') else image.getdata())
    # the chart is on screen: the saved-activations area (green), the peak marker (red), the parameters' bars (blue)
    green = sum(1 for r, g, b in pixels if g > r + 50 and g > b + 30)
    red = sum(1 for r, g, b in pixels if r > 180 and g < 80 and b < 90)
    blue = sum(1 for r, g, b in pixels if b > 180 and r < 40 and 80 < g < 140)
    assert green > 2000 and red > 20 and blue > 200, (green, red, blue)


def test_the_readme_chart_is_what_its_command_writes(tmp_path, monkeypatch):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/img/cifar10_memory.svg" in readme and "paramlint " + " ".join(README_CHART_COMMAND) in readme
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs" / "img").mkdir(parents=True)
    (tmp_path / "examples").mkdir()
    shutil.copy(ROOT / "examples" / "cifar10_cnn.yaml", tmp_path / "examples")
    assert cli_main(README_CHART_COMMAND + ["--isolated"]) == 0
    written = (tmp_path / "docs" / "img" / "cifar10_memory.svg").read_text(encoding="utf-8")
    assert written == README_CHART.read_text(encoding="utf-8"), \
        "docs/img/cifar10_memory.svg is stale: run paramlint " + " ".join(README_CHART_COMMAND)


def _capacity_lines(text: str) -> List[str]:
    root = ET.fromstring(text)
    return ["".join(e.itertext()) for e in root.iter(f"{SVG}text")
            if e.get("fill") == "#cf222e" and e.get("class") != "peak-label"]


def test_the_capacity_line_is_the_named_gpu_or_the_memory_budget():
    seed = str(ROOT / "examples" / "cifar10_cnn.yaml")  # declares a memory budget of 128 MiB
    code, text = _svg_document(["--format", "svg", "--isolated", seed])
    assert _capacity_lines(text) == ["memory budget: 128.0 MiB"]
    root = ET.fromstring(text)
    assert len([e for e in root.iter(f"{SVG}line") if e.get("class") == "capacity"]) == 1
    code, text = _svg_document(["--format", "svg", "--isolated", "--gpu", "t4", seed])
    assert _capacity_lines(text) == ["T4: 14.7 GiB (off scale)"]  # 4x the peak or more is not drawn to scale
    assert not [e for e in ET.fromstring(text).iter(f"{SVG}line") if e.get("class") == "capacity"]


def test_an_unknown_gpu_is_a_usage_error_with_a_suggestion(capsys):
    assert cli_main(["--format", "html", "--gpu", "a100", str(ROOT / "examples" / "cifar10_cnn.yaml")]) == 2
    assert "did you mean `A100-40GB` or `A100-80GB`?" in capsys.readouterr().err
    assert cli_main(["--format", "svg", "--gpu", "H100-80gb", "--isolated",
                     str(ROOT / "examples" / "cifar10_cnn.yaml")]) == 0


def test_the_serving_chart_is_the_prefill_then_decode_simulation():
    path = str(ROOT / "examples" / "serving" / "llama3_8b.yaml")
    report = Linter().lint_file(path)
    serving = report.analysis.inference
    prefill, decode = serving.trace()
    assert prefill.peak == serving.prefill_peak and decode.peak == serving.decode_peak
    from paramlint.report.charts import serving_timeline

    chart = serving_timeline(report.analysis, max_columns=10**9)  # unthinned: every point drawn
    assert [c.point.live for c in chart.columns] == [p.live for p in prefill.points + decode.points]
    assert [phase for phase, _, _ in chart.phases] == ["prefill", "decode"]
    code, text = _svg_document(["--format", "svg", "--isolated", path])
    root = ET.fromstring(text)
    peaks = {e.get("class"): int(e.get("data-peak")) for e in root.iter(f"{SVG}svg") if e.get("data-peak")}
    document = json.loads(_svg_document(["--format", "json", "--isolated", path])[1])["files"][0]["model"]
    assert peaks == {"timeline": document["memory"]["peak"], "serving": document["inference"]["peak"]}
