"""schemathesis against a running ``chorus serve``: for generated requests across every
operation in ``/openapi.json``, no 5xx, and every response matches the schema."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from chorus.serve.openapi import openapi
from tests.serve.process import chorus_serve

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


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from chorus_serve(tmp_path_factory.mktemp("open"), CONFIG)


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    keys = f"keys: [{{key: {KEY}, tenant: t, scopes: [turns, teams, admin]}}]\n"
    yield from chorus_serve(tmp_path_factory.mktemp("keys"), CONFIG + keys)


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
