"""The bench's one-tool agent in FastAPI + Pydantic AI, a peer of ``chorus serve``.

    SIM_URL=http://127.0.0.1:SIMPORT ANTHROPIC_API_KEY=sk-x \\
        .venv-peers/bin/python bench/peers/pydantic_ai_app.py --port PORT

``POST /v1/agents/assistant/sessions/{session}/turns`` with ``{"message": str}`` answers
``{"turn": n, "output": str}``. Each session's history (Pydantic AI's ``message_history``)
is kept in memory; turns of one session run one at a time. The first stdout line,
printed once uvicorn accepts connections, names ``http://127.0.0.1:PORT``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from dataclasses import dataclass, field

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel
from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage
from pydantic_ai.models.anthropic import AnthropicModel
from pydantic_ai.providers.anthropic import AnthropicProvider


def get_weather(city: str) -> str:
    """The current weather in a city."""
    return f"12 C and clear in {city}"


def make_agent() -> Agent[None, str]:
    base_url = os.environ.get("SIM_URL") or os.environ.get("ANTHROPIC_BASE_URL")
    provider = AnthropicProvider(
        api_key=os.environ.get("ANTHROPIC_API_KEY", "sk-x"), base_url=base_url
    )
    model = AnthropicModel("claude-sonnet-4-5", provider=provider)
    return Agent(
        model,
        system_prompt="Use the tools when they help.",
        tools=[get_weather],
        model_settings={"max_tokens": 64},
    )


@dataclass
class Session:
    history: list[ModelMessage] = field(default_factory=list)
    turns: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class TurnIn(BaseModel):
    message: str


class TurnOut(BaseModel):
    turn: int
    output: str


agent = make_agent()
sessions: dict[str, Session] = {}
app = FastAPI()


@app.post("/v1/agents/assistant/sessions/{session}/turns", response_model=TurnOut)
async def turn(session: str, body: TurnIn) -> TurnOut:
    state = sessions.get(session)
    if state is None:
        state = sessions[session] = Session()
    async with state.lock:
        result = await agent.run(body.message, message_history=state.history)
        state.history = result.all_messages()
        state.turns += 1
        return TurnOut(turn=state.turns, output=result.output)


async def main(port: int) -> None:
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    serving = asyncio.ensure_future(server.serve())
    while not server.started:
        if serving.done():  # failed to bind, say
            await serving
            sys.exit(1)
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]  # (the bound one, if 0 was asked)
    print(f"pydantic-ai peer listening on http://127.0.0.1:{port}", flush=True)
    await serving


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    try:
        import uvloop  # as uvicorn's "auto" loop would pick (langgraph-api brings it)
    except ImportError:
        asyncio.run(main(args.port))
    else:
        uvloop.run(main(args.port))
