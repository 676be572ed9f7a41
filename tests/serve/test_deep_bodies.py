"""A body nested thousands of levels deep gets a one-line error, never a 500."""

from __future__ import annotations

import pytest

from chorus.protocol.nesting import too_deep
from tests.serve.conftest import served

DEEP = "[" * 5000 + "]" * 5000
FAIRLY_DEEP = '{"message": ' + "[" * 100 + "]" * 100 + "}"


def test_nesting_is_measured_without_recursion() -> None:
    value: list[object] = []
    for _ in range(100_000):
        value = [value]
    assert too_deep(value) and too_deep({"a": [{"b": 1}]}, limit=2)
    assert not too_deep({"a": [{"b": 1}]}, limit=3) and not too_deep("text")


@pytest.mark.parametrize("body", [DEEP, FAIRLY_DEEP])
async def test_deep_bodies_are_refused_on_every_face(body: str) -> None:
    async with served() as s:
        for path in ("/v1/agents/assistant/sessions/d/turns", "/v1/messages"):
            async with s.http.post(
                s.url + path, data=body, headers={"Content-Type": "application/json"}
            ) as r:
                assert r.status == 400, path
                assert "nests" in (await r.json())["error"]["message"]
        async with s.http.post(
            s.url + "/a2a/assistant", data=body, headers={"Content-Type": "application/json"}
        ) as r:
            assert r.status == 200  # JSON-RPC errors travel in a 200
            error = (await r.json())["error"]
            assert error["code"] in (-32700, -32600) and "nests" in error["message"]
