"""paramlint's speed, as ratios measured in one run on one machine.

    python benchmarks/bench.py                 # the full run (a few minutes), a markdown report on stdout
    python benchmarks/bench.py --quick         # smaller inputs, fewer repetitions (CI: well under a minute)
    python benchmarks/bench.py --output report.md --json results.json

Every figure is the wall time of a fresh process (``python -m paramlint ...``
with the interpreter running this script, the working tree first on
PYTHONPATH), measured ``--reps`` times after a warm-up run, the commands
interleaved so that a change in the machine's load hits all of them alike;
the report gives the minimum and the median, and ratios of minima (medians in
brackets).  Bytecode is cached in a temporary folder (PYTHONPYCACHEPREFIX), as
an installed package has it, and nothing is written to the tree.

What is measured (see benchmarks/README.md for the targets and results):
1. the seed config (examples/cifar10_cnn.yaml, with training and budgets)
   against ``python -c "import yaml, jsonschema"``, the floor set by the two
   dependencies;
2. the same model summarised by torchinfo (torch import included; torch
   import + model build alone when torchinfo is missing; skipped by --quick);
3. deep networks written out layer by layer (2,000 and 20,000 layers; 200 and
   2,000 with --quick): command time, time inside the process, peak memory;
4. a batch of config files in one invocation (500; 50 with --quick);
5. import time (``-X importtime``) and the modules a run imports.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from generate import batch, deep_network  # noqa: E402  (a sibling script, not a package)

SEED = ROOT / "examples" / "cifar10_cnn.yaml"
QLORA_70B = ROOT / "examples" / "finetune" / "llama2_70b_qlora.yaml"
FLOOR_CODE = "import yaml, jsonschema"
# What pip writes for the `paramlint` console script (the command pre-commit runs): no runpy, unlike -m.
CONSOLE_SCRIPT = ("import re\nimport sys\nfrom paramlint.cli import main\nif __name__ == '__main__':\n"
                  "    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n    sys.exit(main())\n")
# Runs paramlint's command in-process, then lists the modules that were imported.
MODULES_CODE = ("import json, sys\nfrom paramlint.cli import main\ncode = main(sys.argv[1:])\n"
                "sys.stderr.write('\\nMODULES ' + json.dumps(sorted(sys.modules)) + '\\n')\nraise SystemExit(code)\n")
# Times Linter.lint_bytes inside one process (no start-up, no import), best of several runs, each with a
# new Linter (as one invocation has: the schema compiled, no layer validated yet).
INPROCESS_CODE = """
import json, sys, time
from paramlint.lint import Linter
result = {}
for path in sys.argv[2:]:
    data = open(path, 'rb').read()
    Linter().lint_bytes(data, path=path)
    times = []
    for _ in range(int(sys.argv[1])):
        linter = Linter()
        start = time.perf_counter()
        report = linter.lint_bytes(data, path=path)
        times.append(time.perf_counter() - start)
    result[path] = {'times': times, 'codes': sorted({d.code for d in report.diagnostics})}
print(json.dumps(result))
"""


@dataclass
class Timing:
    """Repeated runs of one command: wall seconds, peak resident memory, exit status."""

    command: List[str]
    seconds: List[float] = field(default_factory=list)
    peak_rss: int = 0  # bytes, the largest over the runs; 0 where the platform does not tell
    exit_codes: List[int] = field(default_factory=list)

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def child_environment(extra_path: Optional[str] = None, pycache: Optional[str] = None) -> Dict[str, str]:
    env = dict(os.environ)
    paths = [str(ROOT)] + ([extra_path] if extra_path else []) + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if pycache:
        env["PYTHONPYCACHEPREFIX"] = pycache
    for name in ("GITHUB_ACTIONS", "PARAMLINT_CONFIG", "NO_COLOR"):
        env.pop(name, None)
    return env


def run_once(command: Sequence[str], env: Dict[str, str], cwd: Path) -> tuple:
    """(seconds, peak RSS in bytes or 0, exit status) of one fresh process."""
    start = time.perf_counter()
    process = subprocess.Popen(list(command), env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if hasattr(os, "wait4"):
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        # ru_maxrss: kilobytes on Linux, bytes on macOS
        rss = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
        return seconds, rss, process.returncode
    code = process.wait()
    return time.perf_counter() - start, 0, code


def measure(commands: Dict[str, List[str]], reps: int, envs: Dict[str, Dict[str, str]], cwd: Path) -> Dict[str, Timing]:
    """Each command once to warm up, then ``reps`` rounds, the commands interleaved within a round."""
    timings = {name: Timing(command) for name, command in commands.items()}
    for name, command in commands.items():
        run_once(command, envs[name], cwd)
    for _ in range(reps):
        for name, command in commands.items():
            seconds, rss, code = run_once(command, envs[name], cwd)
            timing = timings[name]
            timing.seconds.append(seconds)
            timing.peak_rss = max(timing.peak_rss, rss)
            timing.exit_codes.append(code)
    return timings


def capture(command: Sequence[str], env: Dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(list(command), env=env, cwd=cwd, capture_output=True, text=True, timeout=600)


def import_times(python: str, env: Dict[str, str], cwd: Path, args: Sequence[str], reps: int) -> Dict[str, float]:
    """Best cumulative -X importtime (ms) of each top-level module a ``paramlint ARGS`` run imports."""
    best: Dict[str, float] = {}
    for _ in range(reps):
        stderr = capture([python, "-X", "importtime", "-m", "paramlint", *args], env, cwd).stderr
        for line in stderr.splitlines():
            match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)", line)
            if match and not match.group(3):  # top level only: its cumulative time includes its imports
                name, cumulative = match.group(4), int(match.group(2)) / 1000
                best[name] = min(best.get(name, cumulative), cumulative)
    return best


def imported_modules(python: str, env: Dict[str, str], cwd: Path, args: Sequence[str]) -> List[str]:
    stderr = capture([python, "-c", MODULES_CODE, *args], env, cwd).stderr
    match = re.search(r"^MODULES (.*)$", stderr, re.MULTILINE)
    return json.loads(match.group(1)) if match else []


def floor_modules(python: str, env: Dict[str, str], cwd: Path) -> List[str]:
    code = FLOOR_CODE + "\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    return json.loads(capture([python, "-c", code], env, cwd).stdout)


def machine() -> Dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            names = [line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    info = {"platform": platform.platform(), "cpu": cpu, "cores available": str(cores),
            "python": platform.python_version(), "interpreter": sys.executable}
    try:
        import importlib.metadata as metadata

        for package in ("PyYAML", "jsonschema", "torch"):
            try:
                info[package] = metadata.version(package)
            except metadata.PackageNotFoundError:
                info[package] = "not installed"
    except ImportError:  # pragma: no cover
        pass
    return info


def load_average() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def ratio(a: Timing, b: Timing) -> str:
    return f"{a.best / b.best:.2f}x ({a.median / b.median:.2f}x)"


def mib(value: int) -> str:
    return f"{value / 2**20:,.0f} MiB" if value else "n/a"


def run(options: argparse.Namespace) -> Dict[str, object]:
    python = options.python
    quick = options.quick
    reps = options.reps or (3 if quick else 7)
    small, large = (200, 2000) if quick else (2000, 20000)
    files = 50 if quick else 500
    results: Dict[str, object] = {"quick": quick, "reps": reps, "machine": machine(), "load_before": load_average()}
    work = Path(tempfile.mkdtemp(prefix="paramlint-bench-"))
    try:
        pycache = str(work / "pycache")
        env = child_environment(pycache=pycache)
        envs_for = lambda names, e=env: {name: e for name in names}  # noqa: E731
        (work / "small.yaml").write_text(deep_network(small), encoding="utf-8")
        (work / "large.yaml").write_text(deep_network(large), encoding="utf-8")
        batch(work / "batch", files)
        console = work / "paramlint"
        console.write_text(CONSOLE_SCRIPT, encoding="utf-8")

        # 1. the seed config against the floor of the two dependencies (and Python's own start-up)
        commands = {"python": [python, "-c", "pass"], "floor": [python, "-c", FLOOR_CODE],
                    "seed": [python, "-m", "paramlint", str(SEED)], "console": [python, str(console), str(SEED)],
                    "qlora70b": [python, "-m", "paramlint", str(QLORA_70B)]}
        seed = measure(commands, reps, envs_for(commands), work)
        results["seed"] = seed

        # 2. torchinfo on the same model
        if not quick:
            torch_env = child_environment(extra_path=options.torchinfo_path, pycache=pycache)
            probe = capture([python, str(HERE / "torchinfo_seed.py")], torch_env, work)
            commands = {"torchinfo": [python, str(HERE / "torchinfo_seed.py")],
                        "seed": [python, "-m", "paramlint", str(SEED)]}
            results["torchinfo"] = measure(commands, reps, {"torchinfo": torch_env, "seed": env}, work)
            results["torchinfo_mode"] = (probe.stdout.splitlines() or [f"failed: {probe.stderr[-300:]}"])[0]
            results["machine"]["torchinfo"] = results["torchinfo_mode"]

        # 3. deep networks
        commands = {f"{small} layers": [python, "-m", "paramlint", str(work / "small.yaml")],
                    f"{large} layers": [python, "-m", "paramlint", str(work / "large.yaml")]}
        results["layers"] = measure(commands, reps, envs_for(commands), work)
        inner = capture([python, "-c", INPROCESS_CODE, str(max(2, reps // 2)), str(work / "small.yaml"),
                         str(work / "large.yaml")], env, work)
        results["layers_inprocess"] = json.loads(inner.stdout) if inner.returncode == 0 else {"error": inner.stderr}
        results["layer_counts"] = (small, large)

        # 4. a batch of files in one invocation
        commands = {f"{files} files": [python, "-m", "paramlint", str(work / "batch")]}
        results["batch"] = measure(commands, reps, envs_for(commands), work)
        results["files"] = files

        # 5. imports
        results["import_ms"] = import_times(python, env, work, [str(SEED)], reps)
        floor = set(floor_modules(python, env, work))
        run_modules = imported_modules(python, env, work, [str(SEED)])
        version_modules = imported_modules(python, env, work, ["--version"])
        results["modules_beyond_floor"] = sorted(set(run_modules) - floor)
        results["modules_not_imported"] = sorted(floor - set(run_modules))
        results["version_imports_deps"] = sorted(m for m in version_modules
                                                 if m.split(".")[0] in ("yaml", "jsonschema", "referencing"))
        results["load_after"] = load_average()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


def report(results: Dict[str, object]) -> str:
    out: List[str] = []
    quick = results["quick"]
    out.append(f"# paramlint benchmarks{' (quick mode: smaller inputs, no torchinfo)' if quick else ''}\n")
    out.append("## Machine\n")
    out += [f"- {key}: {value}" for key, value in results["machine"].items()]
    out.append(f"- load average (1, 5, 15 min) before: {results['load_before']}; after: {results['load_after']}")
    out.append(f"- {results['reps']} timed runs per command after a warm-up; min (median)\n")

    seed = results["seed"]
    out.append("## 1. Seed config vs the dependency floor (target: at most 1.25x)\n")
    out.append("| command | min | median |\n|---|---|---|")
    labels = {"python": "`python -c pass`", "floor": '`python -c "import yaml, jsonschema"`',
              "seed": "`python -m paramlint examples/cifar10_cnn.yaml`",
              "console": "`paramlint examples/cifar10_cnn.yaml` (the console script)",
              "qlora70b": "`python -m paramlint examples/finetune/llama2_70b_qlora.yaml` (QLoRA, target 1.5x)"}
    for name, timing in seed.items():
        out.append(f"| {labels[name]} | {ms(timing.best)} | {ms(timing.median)} |")
    for name in ("console", "seed", "qlora70b"):
        out.append(f"\n{labels[name]} / floor: **{ratio(seed[name], seed['floor'])}**; time paramlint adds to the "
                   f"floor: {ms(seed[name].best - seed['floor'].best)} (median "
                   f"{ms(seed[name].median - seed['floor'].median)}); exit status {seed[name].exit_codes[0]}")
    out.append("")

    out.append("## 2. Seed config vs torchinfo (target: at least 10x faster)\n")
    if "torchinfo" in results:
        timing = results["torchinfo"]
        out.append(f"torchinfo script ({results['torchinfo_mode']}): {ms(timing['torchinfo'].best)} "
                   f"(median {ms(timing['torchinfo'].median)}); paramlint {ms(timing['seed'].best)}: "
                   f"**{ratio(timing['torchinfo'], timing['seed'])} faster**\n")
    else:
        out.append("skipped in quick mode\n")

    small, large = results["layer_counts"]
    layers = results["layers"]
    big, little = layers[f"{large} layers"], layers[f"{small} layers"]
    out.append(f"## 3. Deep networks: {small:,} vs {large:,} layers (targets: {large:,} in under 2 s, "
               f"growth at most 11x)\n")
    out.append("| config | command min | command median | peak RSS | lint_bytes in-process (min) |")
    out.append("|---|---|---|---|---|")
    inner = results["layers_inprocess"]
    inner_times = {}
    for count, timing in ((small, little), (large, big)):
        entry = next((v for k, v in inner.items() if k.endswith(("small.yaml" if count == small else "large.yaml"))),
                     None) if "error" not in inner else None
        inner_times[count] = min(entry["times"]) if entry else float("nan")
        out.append(f"| {count:,} layers | {ms(timing.best)} | {ms(timing.median)} | {mib(timing.peak_rss)} | "
                   f"{ms(inner_times[count])} |")
    out.append(f"\ngrowth {small:,} -> {large:,} layers: command **{ratio(big, little)}**, in-process "
               f"**{inner_times[large] / inner_times[small]:.2f}x**; exit status {big.exit_codes[0]}\n")

    files = results["files"]
    timing = results["batch"][f"{files} files"]
    startup = results["seed"]["seed"].best
    out.append(f"## 4. {files} config files in one invocation\n")
    out.append(f"{ms(timing.best)} (median {ms(timing.median)}): **{files / timing.best:,.0f} files/s** "
               f"({files / max(timing.best - startup, 1e-9):,.0f} files/s after start-up); peak RSS "
               f"{mib(timing.peak_rss)}; exit status {timing.exit_codes[0]} (the batch includes broken.yaml)\n")

    out.append("## 5. Imports\n")
    imports = results["import_ms"]
    ours = {name: value for name, value in imports.items() if name.split(".")[0] in ("paramlint", "runpy")}
    deps = {name: value for name, value in imports.items() if name.split(".")[0] in ("yaml", "jsonschema")}
    out.append("`-X importtime`, best cumulative per top-level import of a seed run (ms): "
               + ", ".join(f"{name} {value:.1f}" for name, value in sorted(ours.items(), key=lambda i: -i[1]))
               + "; dependencies: " + (", ".join(f"{n} {v:.1f}" for n, v in deps.items()) or "imported by paramlint"))
    beyond = [m for m in results["modules_beyond_floor"] if not m.startswith("paramlint")]
    ours_loaded = [m for m in results["modules_beyond_floor"] if m.startswith("paramlint")]
    out.append(f"\nModules a seed run imports beyond `import yaml, jsonschema`: {len(ours_loaded)} of paramlint's "
               f"own, and {len(beyond)} others: {', '.join(beyond) or 'none'}.")
    version_deps = ", ".join(results["version_imports_deps"]) or "none"
    skipped = [m for m in results.get("modules_not_imported", []) if m.split(".")[0] in ("jsonschema", "referencing")]
    out.append(f"Modules of the floor a seed run does not import: {len(skipped)} of jsonschema and referencing "
               f"(jsonschema itself {'among them' if 'jsonschema' in skipped else 'not among them'}): a valid "
               "config is checked by paramlint's interpreter of the schema's keywords, and jsonschema words the "
               "findings of an invalid one.")
    out.append(f"`paramlint --version` imports of yaml/jsonschema: {version_deps}.\n")
    return "\n".join(out) + "\n"


def to_json(results: Dict[str, object]) -> str:
    def plain(value: object) -> object:
        if isinstance(value, Timing):
            return {"command": value.command, "seconds": value.seconds, "min": value.best, "median": value.median,
                    "peak_rss": value.peak_rss, "exit_codes": value.exit_codes}
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    return json.dumps(plain(results), indent=2)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small inputs, 3 repetitions, no torchinfo (for CI)")
    parser.add_argument("--reps", type=int, default=0, help="timed runs per command (default 7, quick 3)")
    parser.add_argument("--python", default=sys.executable, help="interpreter to measure (default: this one)")
    parser.add_argument("--torchinfo-path", default=None,
                        help="a folder added to PYTHONPATH for the torchinfo script only (pip install --target)")
    parser.add_argument("--output", help="write the markdown report here instead of stdout")
    parser.add_argument("--json", help="also write the raw results as JSON")
    options = parser.parse_args(argv)
    results = run(options)
    text = report(results)
    if options.output:
        Path(options.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    if options.json:
        Path(options.json).write_text(to_json(results), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
