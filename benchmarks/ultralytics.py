"""paramlint on an Ultralytics model YAML against ``YOLO("yolov8n.yaml").info()``: one run of each, as fresh
processes, on one machine; the ratio is the result.

    python benchmarks/ultralytics.py --yolo-python /path/to/venv-yolo/bin/python [--json results.json]

The Ultralytics side runs in the environment that has ultralytics (``--yolo-python``, default this
interpreter): its import, the model built from the packaged YAML and ``info()`` (which profiles the GFLOPs).
The paramlint side lints that same packaged ``yolov8.yaml`` at scale n with this interpreter and the working
tree first on ``PYTHONPATH``.  Target: paramlint at least 10x faster.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parent.parent
YOLO_INFO = ("import os; os.environ.setdefault('YOLO_OFFLINE', '1'); from ultralytics import YOLO; "
             "YOLO('yolov8n.yaml').info()")
PACKAGED = ("import os; os.environ.setdefault('YOLO_OFFLINE', '1'); from pathlib import Path; import ultralytics; "
            "print(Path(ultralytics.__file__).parent / 'cfg' / 'models' / 'v8' / 'yolov8.yaml')")


def timed(command: Sequence[str], env: Dict[str, str]) -> Tuple[float, float]:
    """Wall time and CPU time (user + system, of the process and its children) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--yolo-python", default=os.environ.get("PARAMLINT_YOLO_PYTHON", sys.executable))
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    yolo_env = dict(os.environ, YOLO_OFFLINE="1")
    yaml_path = subprocess.run([args.yolo_python, "-c", PACKAGED], env=yolo_env, capture_output=True, text=True,
                               check=True).stdout.strip()
    paramlint_s, paramlint_cpu = timed([sys.executable, "-m", "paramlint", "--scale", "n", yaml_path], env)
    ultralytics_s, ultralytics_cpu = timed([args.yolo_python, "-c", YOLO_INFO], yolo_env)
    ratio, cpu_ratio = ultralytics_s / paramlint_s, ultralytics_cpu / paramlint_cpu
    print("| command | wall time | CPU time |\n|---|---|---|")
    print(f"| `paramlint --scale n yolov8.yaml` | {paramlint_s:.2f} s | {paramlint_cpu:.2f} s |")
    print(f"| `YOLO(\"yolov8n.yaml\").info()` (import included) | {ultralytics_s:.2f} s | {ultralytics_cpu:.2f} s |")
    print(f"\nparamlint is **{ratio:.1f}x** faster in wall time ({cpu_ratio:.1f}x in CPU time; target: at least 10x). "
          f"On a loaded machine the wall times include waiting for a core; the CPU times do not.")
    if args.json:
        Path(args.json).write_text(json.dumps({"paramlint_s": paramlint_s, "ultralytics_s": ultralytics_s,
                                               "ratio": ratio, "paramlint_cpu_s": paramlint_cpu,
                                               "ultralytics_cpu_s": ultralytics_cpu, "cpu_ratio": cpu_ratio}),
                                    encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
