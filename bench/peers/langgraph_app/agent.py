"""The bench's one-tool agent as a LangGraph prebuilt ReAct graph, served by ``langgraph dev``.

ChatAnthropic talks to the simulator at ``SIM_URL`` (or ``ANTHROPIC_BASE_URL``); the
server's own checkpointer keeps each thread's messages, so a run on a thread sees its
history. ``langgraph.json`` beside this file names the graph ``agent``.
"""

from __future__ import annotations

import os

from langchain_anthropic import ChatAnthropic
from langchain_core.tools import tool
from langgraph.prebuilt import create_react_agent


@tool
def get_weather(city: str) -> str:
    """The current weather in a city."""
    return f"12 C and clear in {city}"


model = ChatAnthropic(
    model="claude-sonnet-4-5",
    max_tokens=64,
    base_url=os.environ.get("SIM_URL") or os.environ.get("ANTHROPIC_BASE_URL"),
    api_key=os.environ.get("ANTHROPIC_API_KEY", "sk-x"),
)

# No checkpointer here: the API server supplies its own (in memory under `langgraph dev`).
graph = create_react_agent(model, [get_weather], prompt="Use the tools when they help.")
