"""The published JSON Schema works in real clients: check-jsonschema and the YAML language server.

Also: every key a user writes carries a description and examples (editors show them on hover and
completion).  The clients are real programs: check-jsonschema comes with the test extra; the YAML
language server is installed with npm into a cache folder (PARAMLINT_TEST_CACHE, default
~/.cache/paramlint-tests), and the test skips with the reason when node or npm are missing.
"""
from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

from paramlint.api import lint_paths

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "schemas" / "format-1.json"
VALID = sorted([*ROOT.glob("examples/*.yaml"), *ROOT.glob("examples/*.json")])
INVALID = sorted((Path(__file__).parent / "schema_cases" / "invalid").iterdir())
BROKEN_ONLY_BEYOND_THE_SCHEMA = ("broken.yaml",)  # a shape error: valid for the schema, an error for paramlint
YLS_VERSION = "1.25.0"


# --- descriptions and examples -------------------------------------------------------------------------

def _resolve(schema: Dict[str, Any], node: Dict[str, Any]) -> Dict[str, Any]:
    while set(node) == {"$ref"} and node["$ref"].startswith("#/$defs/"):
        node = schema["$defs"][node["$ref"][len("#/$defs/"):]]
    return node


def _user_keys(schema: Dict[str, Any]) -> Iterator[Tuple[str, Dict[str, Any]]]:
    """(where, schema) of every key a config author writes."""
    defs = schema["$defs"]
    tables = {"": schema, "training": schema["properties"]["training"], "budgets": schema["properties"]["budgets"],
              "input{}": defs["input"]["anyOf"][1], "block": defs["block"],
              "optimizer{}": schema["properties"]["training"]["properties"]["optimizer"]["else"]}
    for rule in tables["optimizer{}"]["allOf"]:  # each optimizer's own arguments
        options = {k: v for k, v in rule["then"]["properties"].items() if k != "type"}
        tables["optimizer{" + rule["if"]["properties"]["type"]["const"] + "}"] = {"properties": options}
    tables.update({name: node for name, node in defs.items() if name.startswith("layer.")})
    for table, node in tables.items():
        for key, value in node["properties"].items():
            yield f"{table}.{key}", _resolve(schema, value)


def test_every_key_has_a_description_and_examples():
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    missing = [where for where, node in _user_keys(schema)
               if not node.get("description") or ("examples" not in node and "const" not in node)]
    assert missing == [], f"keys without description/examples: {missing[:10]} (extend paramlint/validation/generate.py)"
    assert len(list(_user_keys(schema))) > 200


def test_examples_are_valid_values():
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    registry = Registry().with_resource(schema["$id"], Resource.from_contents(schema))
    bad = []
    for where, node in _user_keys(schema):
        validator = Draft202012Validator(dict(node, **{"$defs": schema["$defs"]}), registry=registry)
        bad += [(where, example) for example in node.get("examples", []) if not validator.is_valid(example)]
    assert bad == []


def test_schema_is_current():
    from paramlint.validation.generate import render

    assert SCHEMA.read_text(encoding="utf-8") == render(), "run python -m paramlint.validation"


# --- check-jsonschema ----------------------------------------------------------------------------------

def _check_jsonschema() -> List[str]:
    found = shutil.which("check-jsonschema") or shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip("check-jsonschema is not installed (it comes with the test extra: pip install '.[test]')")
    return [found]


def test_check_jsonschema_accepts_every_example():
    command = _check_jsonschema() + ["--schemafile", str(SCHEMA), *map(str, VALID)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert all(r.errors == 0 or r.path.endswith(BROKEN_ONLY_BEYOND_THE_SCHEMA) for r in lint_paths(VALID))


def test_check_jsonschema_rejects_the_broken_ones():
    command = _check_jsonschema() + ["--schemafile", str(SCHEMA), "--output-format", "json", *map(str, INVALID)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    rejected = {Path(error["filename"]).name for error in json.loads(done.stdout)["errors"]}
    assert rejected == {path.name for path in INVALID}
    # paramlint rejects them too, as schema errors (PL2xx; an unknown optimizer is PL502 bad-training)
    for report in lint_paths(INVALID, isolated=True):
        assert report.diagnostics and all(d.code.startswith("PL2") or d.code == "PL502"
                                          for d in report.diagnostics), report


# --- the YAML language server over stdio -----------------------------------------------------------------

def _cache() -> Path:
    return Path(os.environ.get("PARAMLINT_TEST_CACHE") or Path.home() / ".cache" / "paramlint-tests")


@pytest.fixture(scope="module")
def yaml_language_server() -> List[str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed to run the YAML language server")
    folder = _cache() / f"yaml-language-server-{YLS_VERSION}"
    server = folder / "node_modules" / "yaml-language-server" / "bin" / "yaml-language-server"
    if not server.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        done = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(folder),
                               f"yaml-language-server@{YLS_VERSION}"], capture_output=True, text=True, timeout=600)
        if done.returncode != 0 or not server.is_file():
            pytest.skip(f"npm could not install yaml-language-server: {done.stderr.strip()[-300:]}")
    return [node, str(server), "--stdio"]


class LanguageServer:
    """A minimal LSP client: Content-Length framed JSON-RPC over the server's stdin/stdout."""

    def __init__(self, command: List[str], settings: Dict[str, Any]) -> None:
        self.settings = settings
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL)
        self.messages: "queue.Queue[Optional[Dict[str, Any]]]" = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        stream = self.process.stdout
        assert stream is not None
        while True:
            length = None
            while True:
                line = stream.readline()
                if not line:
                    self.messages.put(None)
                    return
                if not line.strip():
                    break
                name, _, value = line.decode("ascii").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            self.messages.put(json.loads(stream.read(length or 0)))

    def send(self, message: Dict[str, Any]) -> None:
        body = json.dumps(dict(message, jsonrpc="2.0")).encode("utf-8")
        assert self.process.stdin is not None
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        self.process.stdin.flush()

    def _answer(self, request: Dict[str, Any]) -> None:
        result: Any = None
        if request["method"] == "workspace/configuration":
            result = [self.settings["yaml"] if item.get("section") == "yaml" else None
                      for item in request["params"]["items"]]
        self.send({"id": request["id"], "result": result})

    def diagnostics(self, root: Path, uri: str, text: str, timeout: float = 60) -> List[Dict[str, Any]]:
        """Open the document and wait for its first non-empty diagnostics."""
        self.send({"id": 1, "method": "initialize", "params": {
            "processId": os.getpid(), "rootUri": root.as_uri(),
            "capabilities": {"workspace": {"configuration": True}, "textDocument": {"publishDiagnostics": {}}}}})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                message = self.messages.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                break
            if message is None:
                raise AssertionError("the language server exited")
            if message.get("id") == 1 and "result" in message:
                self.send({"method": "initialized", "params": {}})
                self.send({"method": "workspace/didChangeConfiguration", "params": {"settings": self.settings}})
                self.send({"method": "textDocument/didOpen", "params": {"textDocument": {
                    "uri": uri, "languageId": "yaml", "version": 1, "text": text}}})
            elif "method" in message and "id" in message:
                self._answer(message)
            elif (message.get("method") == "textDocument/publishDiagnostics"
                  and message["params"]["uri"] == uri and message["params"]["diagnostics"]):
                return message["params"]["diagnostics"]
        raise AssertionError("no diagnostics from the language server in time")

    def close(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)


MISSPELT = """\
paramlint: 1
input: [3, 32, 32]
layers:
  - type: Conv2d
    out_channels: 8
    kernel_size: 3
    strid: 2
  - {type: ReLU}
"""


@pytest.mark.parametrize("association", ["modeline", "settings"])
def test_yaml_language_server_reports_a_misspelt_key(yaml_language_server, tmp_path, association):
    schema_uri = SCHEMA.resolve().as_uri()
    settings: Dict[str, Any] = {"yaml": {"validate": True, "hover": True, "completion": True,
                                         "schemaStore": {"enable": False}, "schemas": {}}}
    text = MISSPELT
    if association == "modeline":  # a path relative to the document, as the README shows
        text = f"# yaml-language-server: $schema={os.path.relpath(SCHEMA.resolve(), tmp_path.resolve())}\n" + text
    else:  # what the README's VS Code settings do
        settings["yaml"]["schemas"] = {schema_uri: ["*.model.yaml"]}
    document = tmp_path / "net.model.yaml"
    document.write_text(text, encoding="utf-8")
    server = LanguageServer(yaml_language_server, settings)
    try:
        found = server.diagnostics(tmp_path, document.as_uri(), text)
    finally:
        server.close()
    line = text.splitlines().index("    strid: 2")  # LSP lines are 0-based
    at_key = [d for d in found if d["range"]["start"]["line"] == line]
    assert at_key, found
    assert "strid" in at_key[0]["message"]
    assert at_key[0]["range"]["start"]["character"] == 4
