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
import sys
import uuid
from typing import Any, TextIO

from chorus.declare import AgentConfig, build_agent, client_from_environment, load_agent_config
from chorus.errors import ChorusError

__all__ = ["AgentConfig", "load_agent_config", "run_chat"]


async def run_chat(
    config: AgentConfig,
    *,
    session_id: str | None,
    db: str,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
) -> int:
    from chorus.agent import Session, TextChunk, ToolCallStarted, ToolResult
    from chorus.store import MemoryStore, SQLiteStore

    def say(text: str = "", end: str = "\n") -> None:
        stdout.write(text + end)
        stdout.flush()

    claude, simulated = client_from_environment()
    if simulated:
        say("No ANTHROPIC_API_KEY set: answering from the built-in simulator.")
    store: Any = SQLiteStore(db) if session_id else MemoryStore()
    agent = build_agent(config, claude)
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
