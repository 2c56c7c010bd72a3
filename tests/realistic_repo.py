"""YAML and JSON files a repository holds that are not paramlint's, written as users write them.

Each must be skipped (no diagnostic, exit 0), including the ones that would
not load: several documents, CloudFormation and mkdocs tags, JSON with
comments and trailing commas, repeated keys, Latin-1, a syntax error, a
UTF-16 export and a 14 MB package-lock.json that depends on a package named
paramlint.  Used by tests/test_hostile_round2.py (in-process) and
tests/test_pre_commit.py (through the real pre-commit).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Union

FILES: Dict[str, Union[str, bytes]] = {
    "k8s/deployment.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: trainer
  labels: {app: trainer}
spec:
  replicas: 2
  template:
    spec:
      containers:
        - name: trainer
          image: ghcr.io/example/trainer:1.4
          args: ["--config", "models/net.yaml"]
---
apiVersion: v1
kind: Service
metadata:
  name: trainer
spec:
  ports:
    - port: 80
      targetPort: 8080
""",
    "cloudformation/template.yaml": """\
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  Env: {Type: String, Default: dev}
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Sub "models-${Env}"
  Role:
    Type: AWS::IAM::Role
    Properties:
      RoleName: !Join ["-", [trainer, !Ref Env]]
Outputs:
  Arn:
    Value: !GetAtt Bucket.Arn
""",
    ".github/workflows/ci.yml": """\
name: ci
on: [push, pull_request]
jobs:
  paramlint:            # a job named like the tool: not a top-level key
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: pip install paramlint && paramlint models/
  test:
    runs-on: ubuntu-latest
    steps:
      - run: pytest
""",
    "tsconfig.json": """\
{
  // TypeScript settings for the dashboard
  "compilerOptions": {
    "target": "ES2020",
    "strict": true, /* keep it strict */
    "paths": {"@/*": ["src/*"]},
  },
  "include": ["src/**/*.ts"],
}
""",
    "api/openapi.yaml": """\
openapi: 3.0.3
info: {title: Model registry, version: "1.0"}
paths:
  /models/{id}:
    get:
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
      responses:
        "200":
          description: a model
          content:
            application/json:
              schema:
                type: object
                properties:
                  paramlint: {type: integer, description: the format version}
""",
    "mkdocs.yml": """\
site_name: Example
theme:
  name: material
markdown_extensions:
  - pymdownx.emoji:
      emoji_index: !!python/name:material.extensions.emoji.twemoji
      emoji_generator: !!python/name:material.extensions.emoji.to_svg
""",
    ".pre-commit-config.yaml": """\
repos:
  - repo: https://github.com/paramlint/paramlint
    rev: v0.1.0
    hooks:
      - id: paramlint
""",
    "docker-compose.yml": """\
services:
  web:
    image: nginx
    environment:
      MODE: prod
      MODE: debug
""",
    "locale/fr.yaml": "greeting: caf\xe9 cr\xe8me\n".encode("latin-1"),
    "data/broken.json": '{"name": "x", "values": [1, 2,, 3]\n',
    "data/export.json": '{"model_type_hint": "paramlint-free", "rows": [1, 2]}\n'.encode("utf-16"),
    "config/anchors.yaml": "base: &base {a: 1}\nderived:\n  <<: *base\n  <<: *base\n",
    "empty.yaml": "",
}


def package_lock(size: int = 14 * 2**20) -> bytes:
    """A package-lock.json of about ``size`` bytes that depends on a package named paramlint."""
    packages: Dict[str, object] = {"": {"name": "dashboard", "dependencies": {"paramlint": "^1.0.0"}},
                                   "node_modules/paramlint": {"version": "1.0.0", "resolved": "https://x/p.tgz"}}
    entry_size = 260
    for i in range(size // entry_size):
        packages[f"node_modules/pkg-{i}"] = {"version": "1.0.0", "resolved": f"https://registry.npmjs.org/pkg-{i}",
                                             "integrity": "sha512-" + "A" * 88, "dependencies": {"left-pad": "^1"}}
    return json.dumps({"name": "dashboard", "lockfileVersion": 3, "packages": packages}, indent=2).encode()


def write(root: Path, *, with_lock: bool = True) -> None:
    for name, content in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    if with_lock:
        (root / "package-lock.json").write_bytes(package_lock())
