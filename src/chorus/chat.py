"""``chorus chat``: talk to an agent defined in a config file, in the terminal.

The config (YAML or JSON) names the model, the system prompt and the tools by
import path::

    model: claude-sonnet-4-5
    system: You are a concise assistant.
    tools: [myproject.tools:get_weather, myproject.tools:search]
    max_tokens: 1024
    context:                 # optional; every field of chorus.ContextPolicy but retriever
      max_input_tokens: 50000   # per call (default: the model's window)
      pinned: [The user's name is Ada.]

Replies stream as they are written; tool calls and their results show inline.
``--session ID`` keeps the conversation in a SQLite file (``--db``) and resumes
it next time. With no ``ANTHROPIC_API_KEY`` the built-in simulator answers, and
chat says so when it starts.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
import uuid
from typing import Any, TextIO

import msgspec

from chorus.config_files import read_data
from chorus.errors import ChorusError, ConfigError

__all__ = ["AgentConfig", "load_agent_config", "run_chat"]


class ContextConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The ``context:`` section: :class:`~chorus.context.ContextPolicy` as plain data."""

    max_input_tokens: int | None = None
    compact_at: float = 0.8
    chunk: float = 0.4
    summary_share: float = 0.25
    summary_words: int = 200
    summary_model: str | None = None
    recall: int = 3
    recall_share: float = 0.15
    tool_result_share: float = 0.25
    pinned: tuple[str, ...] = ()
    compaction: bool = True

    def policy(self) -> Any:
        from chorus.context import ContextPolicy

        return ContextPolicy(**msgspec.structs.asdict(self))


class AgentConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    model: str = "claude-sonnet-4-5"
    system: str | None = None
    tools: tuple[str, ...] = ()
    max_tokens: int = 1024
    max_steps: int = 20
    context: ContextConfig = ContextConfig()


def load_agent_config(path: str | None) -> AgentConfig:
    if path is None:
        return AgentConfig()
    raw = read_data(path, "agent config") or {}
    try:
        config = msgspec.convert(raw, AgentConfig)
        config.context.policy()  # checked now, not at the first message
    except (msgspec.ValidationError, ConfigError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return config


def import_tool(spec: str) -> Any:
    module, sep, attr = spec.partition(":")
    if not sep or not module or not attr:
        raise ConfigError(f"tool {spec!r}: write it as package.module:function")
    try:
        obj = getattr(importlib.import_module(module), attr)
    except ImportError as exc:
        raise ConfigError(f"tool {spec!r}: cannot import {module}: {exc}") from None
    except AttributeError:
        raise ConfigError(f"tool {spec!r}: {module} has no {attr}") from None
    return obj


async def run_chat(
    config: AgentConfig,
    *,
    session_id: str | None,
    db: str,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
) -> int:
    from chorus.agent import Agent, Limits, Session, TextChunk, ToolCallStarted, ToolResult
    from chorus.client import Claude
    from chorus.sim import simulated_client
    from chorus.store import MemoryStore, SQLiteStore

    def say(text: str = "", end: str = "\n") -> None:
        stdout.write(text + end)
        stdout.flush()

    tools = [import_tool(spec) for spec in config.tools]
    if os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_BASE_URL"):
        claude = Claude()
    else:
        claude = simulated_client()
        say("No ANTHROPIC_API_KEY set: answering from the built-in simulator.")
    store: Any = SQLiteStore(db) if session_id else MemoryStore()
    agent = Agent(
        model=config.model,
        system=config.system,
        tools=tools,
        client=claude,
        max_tokens=config.max_tokens,
        limits=Limits(max_steps=config.max_steps),
        context=config.context.policy(),
    )
    session = Session(agent, session_id or f"chat-{uuid.uuid4().hex[:8]}", store=store)
    history = await session.history()
    if history:
        say(f"Resumed session {session.id} ({len(history)} messages).")
    say(
        f"Chatting with {config.model}{' as session ' + session.id if session_id else ''}. "
        "Ctrl-D or 'exit' to leave."
    )
    try:
        while True:
            stdout.write("you> ")
            stdout.flush()
            line = await asyncio.to_thread(stdin.readline)
            if not line or line.strip() in ("exit", "quit"):
                say()
                return 0
            if not line.strip():
                continue
            stdout.write("claude> ")
            try:
                async for event in session.stream(line.strip()):
                    if isinstance(event, TextChunk):
                        stdout.write(event.text)
                        stdout.flush()
                    elif isinstance(event, ToolCallStarted):
                        say(f"\n  [calling {event.name}]")
                    elif isinstance(event, ToolResult):
                        shown = str(event.content)
                        shown = shown if len(shown) <= 200 else shown[:199] + "…"
                        verb = "failed" if event.is_error else "returned"
                        say(f"  [{event.name} {verb}: {shown}]")
                        stdout.write("claude> ")
                say()
            except ChorusError as exc:
                say(f"\n  [error: {exc}]")
    finally:
        await claude.aclose()
        await store.close()
