"""A real `chorus sim` process on loopback, shared by the SDK compatibility tests.

The process is started once per session with ``--port 0`` and a fixed API key; its
first stdout line names the port. Tests talk to it only over HTTP: the official SDK
(whichever line is installed), langchain-anthropic, and the attempt ledger at
``/_chorus/ledger``, which tells what the simulator saw (statuses, attempts, timing).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

API_KEY = "sk-compat-test"
HOST = "127.0.0.1"
_BANNER = f"chorus sim listening on http://{HOST}:"
_START_TIMEOUT = 30.0
_DIGITS_TO_LETTERS = str.maketrans("0123456789", "ghijklmnop")


def unique(text: str) -> str:
    """``text`` with a letters-only tag, so each request body (and its fault plan) is unique.

    Letters only: digits would leak into tool inputs the simulator draws from the user's words.
    """
    tag = uuid.uuid4().hex[:12].translate(_DIGITS_TO_LETTERS)
    return f"{text} (ref {tag})"


class SimProcess:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def ledger(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(self.base_url + "/_chorus/ledger", timeout=10) as resp:
            return json.load(resp)  # type: ignore[no-any-return]

    def mark(self) -> int:
        """The sequence number of the newest attempt so far (0 if none)."""
        return max((e["seq"] for e in self.ledger()), default=0)

    def since(self, mark: int, path: str = "/v1/messages") -> list[dict[str, Any]]:
        """Attempts on ``path`` after ``mark``, oldest first (tests run one at a time)."""
        found = [e for e in self.ledger() if e["seq"] > mark and e["path"] == path]
        return sorted(found, key=lambda e: e["seq"])


def _first_line(proc: subprocess.Popen[str]) -> str:
    """The process's first stdout line, or a failure if it does not come in time."""
    lines: queue.Queue[str] = queue.Queue()
    stdout = proc.stdout
    assert stdout is not None
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    try:
        return lines.get(timeout=_START_TIMEOUT).strip()
    except queue.Empty:
        proc.kill()
        pytest.fail(f"chorus sim printed nothing within {_START_TIMEOUT:.0f} s")


@pytest.fixture(scope="session")
def sim() -> Iterator[SimProcess]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chorus",
            "sim",
            "--host",
            HOST,
            "--port",
            "0",
            "--quiet",
            "--api-key",
            API_KEY,
            "--seed",
            "3",
        ],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        line = _first_line(proc)
        if not line.startswith(_BANNER):
            pytest.fail(f"unexpected first line from chorus sim: {line!r} (exit {proc.poll()})")
        yield SimProcess(line.rsplit(" ", 1)[1])
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ambient ANTHROPIC_* settings or proxies: every client is configured explicitly.

    An ``ANTHROPIC_AUTH_TOKEN`` in the environment, for one, would add a Bearer header.
    """
    for name in list(os.environ):
        if name.startswith("ANTHROPIC_") or name.lower() in (
            "http_proxy",
            "https_proxy",
            "all_proxy",
        ):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", f"{HOST},localhost")
    monkeypatch.setenv("no_proxy", f"{HOST},localhost")
