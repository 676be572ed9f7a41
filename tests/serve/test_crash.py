"""kill -9 under load, again and again: no acknowledged turn is lost, none is half there,
and a turn that was running when the process died shows as interrupted (or done, if its
commit made it) after the restart."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp

from chorus.sim import Simulator, config_from_dict

ROOT = Path(__file__).resolve().parents[2]
CONFIG = """
agents:
  - name: assistant
    system: Be brief.
    tools: ["chorus.serve.demo:get_weather"]
store: {{path: {db}}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start(config: Path, port: int, sim_url: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "ANTHROPIC_BASE_URL": sim_url, "ANTHROPIC_API_KEY": "sk-test"}
    env["PYTHONPATH"] = str(ROOT)
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "chorus", "serve", "--config", str(config), "--port", str(port)),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            try:
                async with http.get(f"http://127.0.0.1:{port}/readyz") as r:
                    if r.status == 200:
                        return process
            except aiohttp.ClientError:
                pass
            if process.returncode is not None:
                said = await process.stderr.read() if process.stderr else b""
                raise AssertionError(said.decode())
            await asyncio.sleep(0.05)
    raise AssertionError("chorus serve did not become ready")


async def chain(url: str, session: str, acked: dict[str, list[tuple[int, str]]]) -> None:
    """Turns one after another in one session, each with its own idempotency key."""
    async with aiohttp.ClientSession() as http:
        for n in range(1000):
            text = f"{session} message {n} weather in Lyon"
            try:
                async with http.post(
                    f"{url}/v1/agents/assistant/sessions/{session}/turns",
                    json={"message": text},
                    headers={"Idempotency-Key": f"{session}-{n}"},
                ) as r:
                    if r.status != 200:
                        return
                    body = await r.json()
            except (TimeoutError, aiohttp.ClientError):
                return  # the server died under us
            acked.setdefault(session, []).append((body["turn"], text))


async def test_kill_9_under_load_loses_no_acknowledged_turn(tmp_path: Path) -> None:
    rng = random.Random(3)
    config = tmp_path / "serve.yaml"
    config.write_text(CONFIG.format(db=tmp_path / "chorus.db"))
    sim_config = config_from_dict({"latency": {"ttft": 0.02, "tokens_per_second": 2000}})
    acked: dict[str, list[tuple[int, str]]] = {}
    async with Simulator(sim_config) as sim:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        for round in range(3):
            server = await start(config, port, sim.base_url)
            chains = [asyncio.create_task(chain(url, f"s{round}-{i}", acked)) for i in range(8)]
            await asyncio.sleep(rng.uniform(0.3, 0.8))
            server.send_signal(signal.SIGKILL)
            await server.wait()
            await asyncio.gather(*chains)
        server = await start(config, port, sim.base_url)
        try:
            await check(url, acked)
        finally:
            server.send_signal(signal.SIGTERM)
            await asyncio.wait_for(server.wait(), 10)
    assert sum(len(v) for v in acked.values()) > 20  # the load was real


async def check(url: str, acked: dict[str, list[tuple[int, str]]]) -> None:
    async with aiohttp.ClientSession() as http:
        for session, turns in acked.items():
            async with http.get(f"{url}/v1/agents/assistant/sessions/{session}?limit=1000") as r:
                assert r.status == 200
                page: dict[str, Any] = await r.json()
            said = [m["content"] for m in page["messages"] if isinstance(m["content"], str)]
            for number, text in turns:
                assert text in said, (session, number)  # acknowledged: committed
            roles = [m["role"] for m in page["messages"]]
            assert roles[0] == "user" and roles[-1] == "assistant"  # never half a turn
            for number in range(1, page["turns"] + 1):
                async with http.get(
                    f"{url}/v1/agents/assistant/sessions/{session}/turns/{number}"
                ) as r:
                    status = (await r.json())["status"]
                assert status in ("done", "interrupted"), (session, number, status)
                if any(n == number for n, _ in turns):
                    assert status == "done"
