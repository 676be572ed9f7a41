"""The remote A2A agents a server's teams name, built from the config when it starts.

Each is a :class:`~chorus.team.remote.RemoteAgent`: its card is read before the teams
start (within the entry's ``card_timeout``), so its skills are capabilities by the time the
first task is assigned. Its key, if it needs one, is read from the environment variable
the entry names (``key_env``), here and only here.
"""

from __future__ import annotations

import asyncio
import os

from chorus.errors import ConfigError, RemoteAgentError
from chorus.serve.config import ServeConfig
from chorus.team.remote import RemoteAgent

__all__ = ["remote_members"]


async def remote_members(config: ServeConfig) -> dict[str, RemoteAgent]:
    """The remote agents the config's teams name, their cards read (each within its
    ``card_timeout``); a ConfigError naming the entry when one cannot be had. Keys are
    read from the environment here, when the server starts."""
    wanted = {name for team in config.teams for name in team.agents}
    members: dict[str, RemoteAgent] = {}
    waits: list[tuple[int, RemoteAgent, float]] = []
    for i, remote in enumerate(config.remote_agents):
        if remote.name not in wanted:
            continue
        key = None
        if remote.key_env:
            key = os.environ.get(remote.key_env)
            if not key:
                raise ConfigError(f"remote_agents[{i}].key_env: {remote.key_env} is not set")
        member = RemoteAgent(
            remote.name,
            remote.url,
            allow_hosts=config.a2a.allow_hosts,
            key=key,
            timeout=remote.timeout,
        )
        members[remote.name] = member
        waits.append((i, member, remote.card_timeout))
    outcomes = await asyncio.gather(
        *(m.connect(wait=wait) for _, m, wait in waits), return_exceptions=True
    )
    for (i, member, _), outcome in zip(waits, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            for m in members.values():
                await m.aclose()
            if not isinstance(outcome, RemoteAgentError):
                raise outcome
            said = str(outcome).removeprefix(f"{member.name}: ")
            raise ConfigError(f"remote_agents[{i}] ({member.name}): {said}")
    return members
