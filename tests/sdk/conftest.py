"""A real `chorus sim` process on loopback, shared by the SDK compatibility tests."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

API_KEY = "sk-compat-test"


class SimProcess:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def ledger(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(self.base_url + "/_chorus/ledger", timeout=10) as resp:
            return json.load(resp)  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def sim() -> Iterator[SimProcess]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chorus",
            "sim",
            "--port",
            "0",
            "--quiet",
            "--api-key",
            API_KEY,
            "--seed",
            "3",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line.startswith("chorus sim listening on http://127.0.0.1:"), line
    try:
        yield SimProcess(line.rsplit(" ", 1)[1])
    finally:
        proc.terminate()
        proc.wait(timeout=10)
