"""schemathesis against a running ``chorus serve``: for generated requests across every
operation in ``/openapi.json``, no 5xx, and every response matches the schema."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings

from chorus.serve.openapi import openapi

ROOT = Path(__file__).resolve().parents[2]
CONFIG = """
agents:
  - name: assistant
    tools: ["chorus.serve.demo:get_weather", "chorus.serve.demo:calculate"]
  - name: coder
    capabilities: [{name: python, description: writes Python code}]
teams: [{name: crew, agents: [coder], bid_window: 0.05}]
store: {memory: true}
"""


KEY = "sk-schema-test"


def run_server(folder: Path, config: str) -> Iterator[str]:
    (folder / "serve.yaml").write_text(config)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    env["PYTHONPATH"] = str(ROOT)
    process = subprocess.Popen(
        [sys.executable, "-m", "chorus", "serve", "--config", "serve.yaml", "--port", str(port)],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if requests.get(url + "/readyz", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            time.sleep(0.05)
    else:
        process.kill()
        raise AssertionError(process.stderr.read().decode() if process.stderr else "")
    yield url
    process.terminate()
    process.wait(timeout=10)
    errors = process.stderr.read().decode() if process.stderr else ""
    assert "Traceback" not in errors, errors


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from run_server(tmp_path_factory.mktemp("open"), CONFIG)


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    keys = f"keys: [{{key: {KEY}, tenant: t, scopes: [turns, teams, admin]}}]\n"
    yield from run_server(tmp_path_factory.mktemp("keys"), CONFIG + keys)


schema = schemathesis.openapi.from_dict(openapi(secured=False))  # the server has no keys


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_within_its_schema(case: schemathesis.Case, server: str) -> None:
    case.call_and_validate(base_url=server, timeout=10)


secured_schema = schemathesis.openapi.from_dict(openapi(secured=True))


@secured_schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_with_keys_every_operation_checks_them(case: schemathesis.Case, secured: str) -> None:
    case.call_and_validate(base_url=secured, timeout=10, headers={"x-api-key": KEY})
