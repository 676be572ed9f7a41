"""A real ``chorus serve`` process on a free loopback port, for tests that talk to it from
outside (schemathesis, the official SDKs): its config written to ``folder``, no
``ANTHROPIC_*`` variables (so the built-in simulator answers), stopped at the end with a
check that it logged no traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def chorus_serve(
    folder: Path, config: str, *, port: int | None = None, env: dict[str, str] | None = None
) -> Iterator[str]:
    """``env``: variables the server gets besides the test's own (an API key to read)."""
    (folder / "serve.yaml").write_text(config)
    port = port or free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")} | (env or {})
    env["PYTHONPATH"] = f"{ROOT / 'src'}{os.pathsep}{ROOT}"  # (tests' own tools import too)
    process = subprocess.Popen(
        [sys.executable, "-m", "chorus", "serve", "--config", "serve.yaml", "--port", str(port)],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(400):
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=1) as r:
                if r.status == 200:
                    break
        except (urllib.error.URLError, ConnectionError):
            if process.poll() is not None:
                break
            time.sleep(0.05)
    else:
        process.kill()
    if process.poll() is not None:
        raise AssertionError(process.stderr.read().decode() if process.stderr else "")
    yield url
    process.terminate()
    process.wait(timeout=10)
    errors = process.stderr.read().decode() if process.stderr else ""
    assert "Traceback" not in errors, errors
