"""paramlint never writes: linted files and folders are byte-identical and untouched afterwards.

The command runs as a subprocess on a copy of examples/ plus broken files,
in every output format, from inside the tree and from outside it, with
failures (exit 1 and 2) among the results.  Contents, modification times,
modes and the listing of every folder (a folder's mtime changes when a file
is created in it, even if the file is deleted again) must be as before.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, Tuple

import pytest

ROOT = Path(__file__).resolve().parent.parent

Snapshot = Dict[str, Tuple]


def snapshot(root: Path) -> Snapshot:
    """Every entry under ``root`` (itself included): kind, mode, size, mtime and a content hash."""
    entries: Snapshot = {}
    for folder, subfolders, files in os.walk(root):
        subfolders.sort()
        for name in [".", *sorted(subfolders), *sorted(files)]:
            path = Path(folder) / name
            info = os.lstat(path)
            relative = str(path.relative_to(root))
            if os.path.islink(path):
                entries[relative] = ("link", os.readlink(path), info.st_mtime_ns)
            elif path.is_file():
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                entries[relative] = ("file", info.st_mode, info.st_size, info.st_mtime_ns, digest)
            else:
                entries[relative] = ("dir", info.st_mode, info.st_mtime_ns, tuple(sorted(os.listdir(path))))
    return entries


@pytest.fixture
def tree(tmp_path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(ROOT / "examples", root / "examples")
    broken = root / "broken"
    broken.mkdir()
    (broken / "syntax.yaml").write_text("paramlint: 1\nlayers: [{type: ReLU\n", encoding="utf-8")
    (broken / "binary.yaml").write_bytes(b"\x00\xff\xfe" * 50)
    (broken / "latin1.yml").write_bytes(b"paramlint: 1\nname: caf\xe9\n")
    (broken / "bomb.yaml").write_text("paramlint: 1\n" + "".join(
        f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}" if i else "x"] * 10) + "]\n" for i in range(10)), encoding="utf-8")
    (broken / "shapes.json").write_text('{"paramlint": 1, "input": [3, 8, 8], "layers": [{"type": "Flatten"}, '
                                        '{"type": "Linear", "in_features": 7, "out_features": 2}]}', encoding="utf-8")
    (broken / "huge.yaml").write_text("paramlint: 1\ninput: [1000000000000]\nlayers:\n"
                                      "  - {type: Linear, out_features: 1000000000000}\n", encoding="utf-8")
    (broken / "not_a_config.yaml").write_text("key: value\n", encoding="utf-8")
    (broken / "empty.yaml").write_text("", encoding="utf-8")
    (broken / "dangling.yaml").symlink_to("missing.yaml")  # unreadable: exit 2
    (broken / "loop").symlink_to(".", target_is_directory=True)
    suppressed = root / "project"
    suppressed.mkdir()
    (suppressed / ".paramlint.toml").write_text('ignore = ["PL451"]\n[budgets]\nparams = "1K"\n', encoding="utf-8")
    (suppressed / "model.yaml").write_text((ROOT / "examples" / "cifar10_cnn.yaml").read_text(encoding="utf-8"),
                                           encoding="utf-8")
    bad_config = root / "bad_config"
    bad_config.mkdir()
    (bad_config / ".paramlint.toml").write_text("ignore = [\n", encoding="utf-8")  # PL602: exit 2
    (bad_config / "model.yaml").write_text("paramlint: 1\ninput: [3]\nlayers: [{type: ReLU}]\n", encoding="utf-8")
    # old timestamps make any rewrite visible even on filesystems with coarse mtimes
    for folder, subfolders, files in os.walk(root):
        for name in files + subfolders:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                os.utime(path, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    os.utime(root, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    return root


def _run(args, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
               PYTHONDONTWRITEBYTECODE="1")
    env.pop("GITHUB_ACTIONS", None)
    return subprocess.run([sys.executable, "-m", "paramlint", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=300)


def test_linting_leaves_every_file_and_folder_untouched(tree, tmp_path):
    before = snapshot(tree)
    outcomes = set()
    runs = [
        ([str(tree)], tmp_path),
        (["."], tree),
        (["examples", "broken", "project", "bad_config", "--summary"], tree),
        ([str(tree), "--format", "json"], tmp_path),
        ([str(tree), "--format", "sarif", "--strict"], tmp_path),
        ([str(tree), "--format", "markdown", "--summary"], tmp_path),
        ([str(tree), "--format", "github", "--exit-zero"], tmp_path),
        ([str(tree / "broken" / "syntax.yaml"), str(tree / "examples" / "cifar10_cnn.yaml")], tree / "broken"),
        ([str(tree / "examples"), "--config", str(tree / "project" / ".paramlint.toml")], tmp_path),
        ([str(tree / "examples" / "broken.yaml")], tree / "examples"),
    ]
    for args, cwd in runs:
        result = _run(args, cwd)
        assert result.returncode in (0, 1, 2), (args, result.stderr)
        assert "Traceback" not in result.stderr, (args, result.stderr)
        outcomes.add(result.returncode)
        assert snapshot(tree) == before, f"paramlint {' '.join(args)} changed the tree"
    assert {1, 2} <= outcomes  # failures were among the runs


def test_output_file_is_the_only_thing_written(tree, tmp_path):
    before = snapshot(tree)
    report = tmp_path / "report.json"
    result = _run([str(tree), "--format", "json", "-o", str(report)], tmp_path)
    assert result.returncode == 2, result.stderr  # the dangling link and the broken tool config
    assert report.is_file() and report.stat().st_size > 0
    assert snapshot(tree) == before
