"""``chorus sim`` as a user runs it: a real process, bad arguments get one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chorus", *args], capture_output=True, text=True, timeout=30
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sim", "--port", "99999"], "port must be within 0..65535"),
        (["sim", "--port", "eighty"], "port must be a number"),
        (["sim", "--ttft", "-1"], "must not be negative"),
        (["sim", "--faults", "explode"], "unknown fault 'explode'"),
        (["sim", "--config", "/nonexistent/sim.yaml"], "cannot read simulator config"),
        (["sim", "--behaviour", "psychic"], "is not one of auto, echo"),
        (["launch"], "invalid choice"),
    ],
)
def test_bad_arguments_get_one_line(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_bad_config_file(tmp_path: Path) -> None:
    path = tmp_path / "sim.yaml"
    path.write_text("latency:\n  ttft: soon\n")
    result = run("sim", "--config", str(path))
    assert result.returncode == 2
    assert "$.latency.ttft" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_serves_and_prints_how_to_use_it() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chorus",
            "sim",
            "--port",
            "0",
            "--behaviour",
            "echo",
            "--seed",
            "5",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        assert first.startswith("chorus sim listening on http://127.0.0.1:")
        base = first.rsplit(" ", 1)[1]
        usage = "".join(proc.stdout.readline() for _ in range(6))
        assert f"ANTHROPIC_BASE_URL={base}" in usage
        payload = {
            "model": "claude-haiku-4-5",
            "max_tokens": 20,
            "messages": [{"role": "user", "content": "ping"}],
        }
        request = urllib.request.Request(
            base + "/v1/messages",
            data=json.dumps(payload).encode(),
            headers={
                "x-api-key": "k",
                "anthropic-version": "2023-06-01",
                "content-type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            body = json.load(resp)
        assert body["content"][0]["text"] == "ping"
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_the_help_names_every_registered_behaviour() -> None:
    from chorus.sim import registry

    shown = " ".join(run("sim", "--help").stdout.split())
    for name in registry.names():
        assert name in shown
