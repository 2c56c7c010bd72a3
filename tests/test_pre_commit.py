"""The pre-commit hook, run by the real pre-commit (`pre-commit try-repo`) on a temporary git repository.

The hook repository is a committed copy of this project (so the test does not depend on what is
committed here); pre-commit installs it into its own virtual environment, which needs the package
index.  The target repository has a [tool.paramlint] section, an inline suppression, an unmarked
YAML file and, in a second run, a broken config.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT_FILES = ("paramlint", "schemas", "pyproject.toml", "README.md", ".pre-commit-hooks.yaml", "LICENSE")

GOOD = """\
paramlint: 1
name: good
input: [3, 32, 32]
layers:
  - {type: Conv2d, out_channels: 8, kernel_size: 3, stride: 2}   # PL451, ignored in pyproject.toml
  - {type: Flatten}
  - {type: Linear, out_features: 10}
"""
SUPPRESSED = """\
paramlint: 1
name: suppressed
input: [16]
layers:
  - {type: Softmax}   # paramlint: ignore[PL453]
"""
UNMARKED = "# not a model config: skipped\nservices: [web, db]\nlayers: 3\n"
BROKEN = """\
paramlint: 1
name: broken
input: [3, 32, 32]
layers:
  - {type: Flatten}
  - {type: Linear, in_features: 100, out_features: 10}
"""
PYPROJECT = '[project]\nname = "target"\n\n[tool.paramlint]\nignore = ["PL451"]\nstrict = true\n'


def _git(cwd: Path, *args: str, env: Dict[str, str]) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def environment(tmp_path_factory) -> Dict[str, str]:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    try:
        import pre_commit  # noqa: F401
    except ImportError:
        pytest.skip("pre-commit is not installed (it comes with the test extra: pip install '.[test]')")
    home = tmp_path_factory.mktemp("pre-commit-home")
    env = dict(os.environ, PRE_COMMIT_HOME=str(home), GIT_AUTHOR_NAME="test", GIT_AUTHOR_EMAIL="test@example.com",
               GIT_COMMITTER_NAME="test", GIT_COMMITTER_EMAIL="test@example.com", GIT_CONFIG_NOSYSTEM="1",
               HOME=str(home), PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("GIT_DIR", None)
    env.pop("GIT_INDEX_FILE", None)
    return env


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory, environment) -> Path:
    repo = tmp_path_factory.mktemp("hook-repo")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in PROJECT_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, repo / name, ignore=ignore)
        elif source.is_file():
            shutil.copy2(source, repo / name)
    _git(repo, "init", "-q", env=environment)
    _git(repo, "add", "-A", env=environment)
    _git(repo, "commit", "-q", "-m", "paramlint", env=environment)
    return repo


def _try_repo(target: Path, hook_repo: Path, env: Dict[str, str]) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pre_commit", "try-repo", str(hook_repo), "paramlint", "--all-files",
               "--color", "never"]
    return subprocess.run(command, cwd=target, env=env, capture_output=True, text=True, timeout=540)


def test_pre_commit_hook(tmp_path, hook_repo, environment):
    target = tmp_path / "target"
    (target / "models").mkdir(parents=True)
    (target / "pyproject.toml").write_text(PYPROJECT)
    (target / "models" / "good.yaml").write_text(GOOD)
    (target / "models" / "suppressed.yaml").write_text(SUPPRESSED)
    (target / "docker-compose.yaml").write_text(UNMARKED)
    _git(target, "init", "-q", env=environment)
    _git(target, "add", "-A", env=environment)

    passing = _try_repo(target, hook_repo, environment)
    output = _output_or_skip(passing)
    assert passing.returncode == 0, output
    assert "Passed" in output

    (target / "models" / "broken.yaml").write_text(BROKEN)
    _git(target, "add", "-A", env=environment)
    failing = _try_repo(target, hook_repo, environment)
    output = failing.stdout + failing.stderr
    assert failing.returncode == 1, output
    assert "models/broken.yaml:6:33: PL401" in output
    # strict = true: the first run passing shows that PL451 (ignored) and PL453 (suppressed) were not reported
    assert "PL451" not in output and "PL453" not in output and "PL601" not in output
    assert "docker-compose.yaml" not in output


def _output_or_skip(done: "subprocess.CompletedProcess[str]") -> str:
    """What pre-commit printed; a skip when it could not install the hook's dependencies (no index reachable)."""
    output = done.stdout + done.stderr
    if done.returncode != 0 and ("Could not find a version" in output or "ConnectionError" in output
                                 or "Failed to establish a new connection" in output):
        pytest.skip(f"pre-commit could not install the hook's dependencies: {output.strip()[-400:]}")
    return output


def _readme_snippets() -> list:
    """The README's .pre-commit-config.yaml snippets: the yaml blocks that use the paramlint hook."""
    import re

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [block for block in re.findall(r"^```yaml\n(.*?)^```$", text, re.S | re.M) if "id: paramlint" in block]


def test_readme_snippets_pin_a_commit():
    import yaml

    snippets = _readme_snippets()
    assert len(snippets) == 2
    for snippet in snippets:
        [repo] = yaml.safe_load(snippet)["repos"]
        assert repo["repo"] == "https://github.com/paramlint/paramlint"
        assert repo["rev"] == "<sha>"  # no tag exists: the README says how to pin a commit
        assert [hook["id"] for hook in repo["hooks"]] == ["paramlint"]


@pytest.mark.parametrize("index", [0, 1])
def test_readme_snippet_works_as_written(index, tmp_path, hook_repo, environment):
    """The snippet, with the repository URL pointing at a copy of this project and `<sha>` at its commit,
    run by `pre-commit run` on a repository with a good and a broken config."""
    snippet = _readme_snippets()[index]
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=hook_repo, env=environment, check=True,
                         capture_output=True, text=True).stdout.strip()
    config = snippet.replace("https://github.com/paramlint/paramlint", str(hook_repo)).replace("<sha>", sha)
    target = tmp_path / "target"
    (target / "models").mkdir(parents=True)
    (target / ".pre-commit-config.yaml").write_text(config)
    (target / "models" / "good.yaml").write_text(GOOD.replace("stride: 2}", "stride: 2, padding: 1}"))
    (target / "models" / "broken.yaml").write_text(BROKEN)
    _git(target, "init", "-q", env=environment)
    _git(target, "add", "-A", env=environment)
    command = [sys.executable, "-m", "pre_commit", "run", "--all-files", "--color", "never"]
    done = subprocess.run(command, cwd=target, env=environment, capture_output=True, text=True, timeout=540)
    output = _output_or_skip(done)
    assert done.returncode == 1, output
    assert "models/broken.yaml:6:33: PL401" in output and "models/good.yaml: ok: 20,714 params" in output
    assert "PL451" not in output


def test_pre_commit_skips_a_repository_of_other_yaml_and_json(tmp_path, hook_repo, environment):
    """Kubernetes, CloudFormation, workflows, tsconfig, a 14 MB package-lock, OpenAPI, mkdocs...: all skipped."""
    import realistic_repo

    target = tmp_path / "target"
    target.mkdir()
    realistic_repo.write(target)
    _git(target, "init", "-q", env=environment)
    _git(target, "add", "-A", env=environment)
    done = _try_repo(target, hook_repo, environment)
    output = _output_or_skip(done)
    assert done.returncode == 0, output
    assert "Passed" in output and "PL1" not in output
