"""Starting and stopping ``chorus serve``: the config (or the demo), the client, the store,
the address it may bind, and a clean stop on SIGINT or SIGTERM.

With no API keys configured the server answers anyone who can reach it, so it binds only
to a loopback address and refuses any other. With no ``ANTHROPIC_API_KEY`` (or
``ANTHROPIC_BASE_URL``) the agents are answered by the in-process simulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import signal
import sys
from collections.abc import Callable
from typing import Any

from aiohttp import web

from chorus.errors import ConfigError
from chorus.heap import settle as settle_heap
from chorus.serve.config import ServeConfig, load_serve_config

__all__ = ["SERVER_CLIENT", "build", "serve"]

# The server's model client. A streamed turn's reader has seen its text as it came, so a
# model stream cut mid-text is continued (the text so far sent back as a prefill and the
# rest stitched on) rather than failing the turn; a JSON turn's calls are asked for whole
# and retried whole, as ever.
SERVER_CLIENT: dict[str, Any] = {"continue_interrupted": True}


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def build(config: ServeConfig, *, client: Any = None) -> tuple[Any, web.Application]:
    """The service (opened) and its HTTP app."""
    from chorus.declare import client_from_environment
    from chorus.observe.serve_metrics import ServeMetrics
    from chorus.serve.app import make_app
    from chorus.serve.journal import MemoryJournal, SQLiteJournal
    from chorus.serve.service import Service
    from chorus.store import MemoryStore, SQLiteStore

    if client is None:
        client, _ = client_from_environment(**SERVER_CLIENT)
    store: Any
    journal: Any
    if config.store.memory:
        store, journal = MemoryStore(), MemoryJournal()
    else:
        store = SQLiteStore(config.store.path)
        journal = SQLiteJournal(store)
    metrics = ServeMetrics()
    if isinstance(store, SQLiteStore):  # (the disk's share of a turn, on /metrics)
        store.on_commit = metrics.store_commit
    from chorus.observe import Metrics, TeamMetrics

    observers = getattr(client, "observers", None)
    if isinstance(observers, list):  # the model calls' metrics on the same /metrics
        observers.append(Metrics(metrics.registry))
    service = Service(
        config,
        client=client,
        store=store,
        journal=journal,
        metrics=metrics,
        team_metrics=TeamMetrics(metrics.registry),
    )
    await service.open()
    return service, make_app(service, metrics=metrics)


async def serve(
    config_path: str | None,
    host: str,
    port: int,
    *,
    say: Callable[[str], None] = print,
    ready: Callable[[int], None] | None = None,
) -> None:
    from chorus.declare import client_from_environment

    if config_path is None:
        from chorus.serve.demo import demo_config

        config = demo_config()
        say("No --config: serving the demo (agents assistant, coder, writer; team crew).")
    else:
        config = load_serve_config(config_path)
    if not config.keys and not _loopback(host):
        raise ConfigError(
            f"no API keys are configured, so chorus serve binds only to loopback; "
            f"refusing {host} (add keys: to the config)"
        )
    client, simulated = client_from_environment(**SERVER_CLIENT)
    if simulated:
        say("No ANTHROPIC_API_KEY set: agents are answered by the built-in simulator.")
    store = "in memory" if config.store.memory else f"in {config.store.path}"
    say(f"Sessions are kept {store}.")
    service, app = await build(config, client=client)
    settle_heap()
    runner = web.AppRunner(
        app,
        handle_signals=False,
        access_log=None,
        max_field_size=config.limits.max_header_bytes,
        max_line_size=config.limits.max_header_bytes,
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024, reuse_address=True)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        await service.close()
        raise
    bound = runner.addresses[0][1] if runner.addresses else port
    base = f"http://{host}:{bound}"
    say(f"chorus serve listening on {base}")
    say(f"  console: {base}/")
    say(f"  A2A:     {base}/.well-known/agent-card.json")
    say(f"  agents:  {base}/v1/agents")
    say(
        f"  a turn:  curl -s {base}/v1/agents/assistant/sessions/demo/turns "
        "-H 'content-type: application/json' -d '{\"message\": \"What is the weather in Lyon?\"}'"
    )
    say(f"  API:     {base}/openapi.json   metrics: {base}/metrics   health: {base}/healthz")
    if ready is not None:
        ready(bound)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        say("stopping: running turns end as interrupted")
        await runner.cleanup()
        await service.close()
        await service.store.close()
        with contextlib.suppress(Exception):
            await client.aclose()
        sys.stdout.flush()
