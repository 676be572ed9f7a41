"""Agents and teams declared as data: what a YAML or JSON config file says, checked at load.

One shape for every command that reads a config (``chorus chat``, ``chorus team``): an
agent is its model, system prompt, tools by import path, limits, context policy and the
capabilities it offers a team; a team is its agents and how it allocates work. Unknown
keys are errors, and every error names the file and the field.

    agents:
      - name: coder
        model: claude-sonnet-4-5
        system: You write and fix Python.
        tools: [myproject.tools:run_tests]
        capabilities:
          - {name: python, description: writes and fixes Python code}
      - name: writer
        capabilities: [{name: docs, description: writes documentation}]
    team: {bid_window: 0.2, max_hops: 3, delegate: true}
"""

from __future__ import annotations

import importlib
from typing import Any

import msgspec

from chorus.config_files import read_data
from chorus.errors import ConfigError

__all__ = [
    "AgentConfig",
    "CapabilityConfig",
    "ContextConfig",
    "MCPConfig",
    "TeamConfig",
    "build_agent",
    "build_team",
    "client_from_environment",
    "import_tool",
    "load_agent_config",
    "load_team_config",
]


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


class CapabilityConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    description: str = ""
    input_schema: dict[str, Any] | None = None


class MCPConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An MCP server whose tools the agent gets: ``command`` (stdio) or ``url`` (HTTP)."""

    command: tuple[str, ...] | None = None
    url: str | None = None
    env: dict[str, str] | None = None
    headers: dict[str, str] | None = None


class AgentConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str = "agent"
    description: str = ""  # what it does, in a sentence (its A2A card shows it)
    model: str = "claude-sonnet-4-5"
    system: str | None = None
    tools: tuple[str, ...] = ()
    mcp: tuple[MCPConfig, ...] = ()
    max_tokens: int = 1024
    max_steps: int = 20
    max_cost: float | None = None  # US dollars per run
    max_tokens_total: int | None = None  # input + output tokens per run
    context: ContextConfig = ContextConfig()
    capabilities: tuple[CapabilityConfig, ...] = ()


class TeamOptions(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    bid_window: float = 0.5
    task_timeout: float = 120.0
    max_awards: int = 3
    max_hops: int = 3
    heartbeat_ttl: float = 30.0
    delegate: bool = False  # give every member the delegate tool


class TeamConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    agents: tuple[AgentConfig, ...]
    team: TeamOptions = TeamOptions()


def _convert(raw: Any, kind: type[Any], path: str) -> Any:
    try:
        return msgspec.convert(raw, kind)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def load_agent_config(path: str | None) -> AgentConfig:
    if path is None:
        return AgentConfig()
    config: AgentConfig = _convert(read_data(path, "agent config") or {}, AgentConfig, path)
    check_agent(config, path)
    return config


def load_team_config(path: str) -> TeamConfig:
    raw = read_data(path, "team config")
    if not isinstance(raw, dict) or not raw.get("agents"):
        raise ConfigError(f"{path}: a team config needs `agents:`, a list of agents")
    config: TeamConfig = _convert(raw, TeamConfig, path)
    names = [a.name for a in config.agents]
    for i, agent in enumerate(config.agents):
        check_agent(agent, f"{path}: agents[{i}]")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"{path}: agents need distinct names; {', '.join(twice)} repeat")
    options = config.team
    if options.delegate:
        for i, agent in enumerate(config.agents):
            if any(spec.rpartition(":")[2] == "delegate" for spec in agent.tools):
                raise ConfigError(
                    f"{path}: agents[{i}]: a tool named delegate clashes with team.delegate"
                )
    if options.bid_window <= 0 or options.task_timeout <= 0 or options.heartbeat_ttl <= 0:
        raise ConfigError(f"{path}: team.bid_window, task_timeout and heartbeat_ttl must be > 0")
    if options.max_awards < 1 or options.max_hops < 0:
        raise ConfigError(f"{path}: team.max_awards must be >= 1 and team.max_hops >= 0")
    return config


def check_agent(config: AgentConfig, where: str) -> None:
    """Checked now, not at the first message: the context policy and the tools."""
    if not config.model.strip():
        raise ConfigError(f"{where}: model is empty")
    try:
        config.context.policy()
    except ConfigError as exc:
        raise ConfigError(f"{where}: context: {exc}") from None
    for spec in config.tools:
        try:
            import_tool(spec)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    if config.max_tokens < 1 or config.max_steps < 1:
        raise ConfigError(f"{where}: max_tokens and max_steps must be at least 1")
    if (config.max_cost is not None and config.max_cost <= 0) or (
        config.max_tokens_total is not None and config.max_tokens_total < 1
    ):
        raise ConfigError(f"{where}: max_cost and max_tokens_total must be positive")
    if not config.name.strip() or len(config.name) > 64 or "/" in config.name:
        raise ConfigError(f"{where}: name must be 1-64 characters without '/'")
    for i, server in enumerate(config.mcp):
        if (server.command is None) == (server.url is None):
            raise ConfigError(f"{where}: mcp[{i}] needs exactly one of command or url")
    caps = [c.name for c in config.capabilities]
    if any(not c.strip() for c in caps) or len(set(caps)) != len(caps):
        raise ConfigError(f"{where}: capabilities need distinct, non-empty names")


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


def build_agent(config: AgentConfig, client: Any, *, extra_tools: tuple[Any, ...] = ()) -> Any:
    from chorus.agent import Agent, Limits
    from chorus.agent.capability import Capability
    from chorus.agent.mcp import MCPServer

    servers = [
        MCPServer(
            command=list(m.command) if m.command else None,
            url=m.url,
            env=m.env,
            headers=m.headers,
        )
        for m in config.mcp
    ]
    return Agent(
        model=config.model,
        system=config.system,
        tools=[*(import_tool(spec) for spec in config.tools), *servers, *extra_tools],
        client=client,
        name=config.name,
        max_tokens=config.max_tokens,
        limits=Limits(
            max_steps=config.max_steps,
            max_cost=config.max_cost,
            max_tokens_total=config.max_tokens_total,
        ),
        context=config.context.policy(),
        capabilities=[
            Capability(c.name, c.description, c.input_schema) for c in config.capabilities
        ],
    )


def build_team(config: TeamConfig, client: Any) -> Any:
    from chorus.team import Team, delegate_tool

    extra = (delegate_tool,) if config.team.delegate else ()
    options = msgspec.structs.asdict(config.team)
    options.pop("delegate")
    return Team([build_agent(a, client, extra_tools=extra) for a in config.agents], **options)


def client_from_environment(**options: Any) -> tuple[Any, bool]:
    """A client for the real API when ``ANTHROPIC_API_KEY`` (or ``ANTHROPIC_BASE_URL``) is
    set, else one answered by the built-in simulator; and whether it is simulated.
    ``options``: client settings (``ClientSettings`` fields)."""
    import os

    if os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_BASE_URL"):
        from chorus.client import Claude

        return Claude(**options), False
    from chorus.sim import simulated_client

    return simulated_client(**options), True
