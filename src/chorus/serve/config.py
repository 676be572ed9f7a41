"""What ``chorus serve`` is configured with: agents, teams, the store, keys, tenants, limits.

One YAML or JSON file, checked whole at load: unknown keys are errors, and each error is
one line naming the file and the field. Keys are kept as SHA-256 hashes (``key_sha256``);
a plain ``key`` in the file is hashed at load and never kept. A key belongs to a tenant
and has scopes (``turns``: agents and sessions, ``teams``: team runs, ``admin``: metrics).

    agents: [...]                 # as chorus.declare.AgentConfig
    teams:
      - {name: crew, agents: [coder, writer], bid_window: 0.2}
    store: {path: chorus.db}      # or {memory: true}
    keys:
      - {key_sha256: 9f86d0..., tenant: acme, scopes: [turns, teams]}
    tenants:
      acme: {max_concurrent_turns: 8, tokens_per_minute: 200000, cost_per_day: 50}
    limits: {max_body_bytes: 1048576, turn_timeout: 120, max_queued_turns: 256}
    a2a:
      allow_hosts: [agents.example.com]   # the only hosts chorus sends A2A requests to
      public_url: https://chorus.example.com   # what cards advertise (default: the Host asked)
    remote_agents:                # A2A agents served elsewhere, team members by name
      - {name: translator, url: "https://agents.example.com/a2a/translator",
         key_env: TRANSLATOR_KEY}

A remote agent's ``url`` is where its card is (``{url}/.well-known/agent-card.json``, or
``url`` itself when it ends in ``.json``); its host must be on ``a2a.allow_hosts``, or the
config is refused at load, before any request is made.
"""

from __future__ import annotations

import hashlib

import msgspec

from chorus.config_files import read_data
from chorus.declare import AgentConfig, check_agent
from chorus.errors import ConfigError
from chorus.protocol.a2a_card import card_url, host_refusal

__all__ = [
    "SCOPES",
    "A2AConfig",
    "KeyConfig",
    "LimitsConfig",
    "RemoteAgentConfig",
    "ServeConfig",
    "StoreConfig",
    "TeamDeclared",
    "TenantConfig",
    "hash_key",
    "load_serve_config",
]

SCOPES = ("turns", "teams", "admin")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class TeamDeclared(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    agents: tuple[str, ...]
    bid_window: float = 0.5
    task_timeout: float = 120.0
    max_awards: int = 3
    max_hops: int = 3


class StoreConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    path: str = "chorus.db"
    memory: bool = False  # sessions in memory only: lost when the server stops
    keep_days: float | None = None  # sessions idle this long, and turns that ended this
    # long ago (team tasks' too), are deleted; None: kept until deleted


class KeyConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    tenant: str
    key_sha256: str | None = None
    key: str | None = None  # hashed at load; prefer key_sha256 in files
    scopes: tuple[str, ...] = ("turns", "teams")


class TenantConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    max_concurrent_turns: int | None = None  # None: only the server's max_running_turns
    tokens_per_minute: int | None = None  # input + max output tokens reserved per minute
    cost_per_day: float | None = None  # US dollars reserved per UTC day


class LimitsConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    max_body_bytes: int = 1 << 20
    max_message_chars: int = 200_000
    max_header_bytes: int = 16_384
    turn_timeout: float = 120.0  # a turn's deadline; its model calls share it
    max_running_turns: int = 8192  # turns running at once, all tenants (a turn waits on
    # its model most of the time: thousands can run on one core)
    max_queued_turns: int = 1024  # waiting for a slot; past this, or past the deadline: 503
    shed_lag: float = 0.025  # seconds the event loop runs late before new turns are shed
    shed_busy: float = 0.9  # share of time the loop's thread needs the CPU (serve.demand)
    shed_wait: float = 0.1  # full, a new turn waits this long at most for a place, else 503
    sse_buffer_bytes: int = 1 << 20  # a slow reader's backlog: past it, writing waits...
    sse_stall: float = 10.0  # ... this long at most, then the reader is disconnected
    live_sessions: int = 2048  # sessions whose transcripts stay in memory between turns
    recent_turns: int = 4096  # finished turns whose events stay in memory for resumption


class A2AConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    allow_hosts: tuple[str, ...] = ()  # hosts (or host:port) chorus may send A2A requests to
    public_url: str | None = None  # the base URL cards name (default: the request's Host)


class RemoteAgentConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    url: str  # its card: {url}/.well-known/agent-card.json, or url itself if it is a .json
    key_env: str | None = None  # an environment variable holding the key it wants
    timeout: float = 120.0  # how long a task there may take
    card_timeout: float = 10.0  # how long the server waits for the card when it starts


class ServeConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    agents: tuple[AgentConfig, ...] = ()
    teams: tuple[TeamDeclared, ...] = ()
    store: StoreConfig = StoreConfig()
    keys: tuple[KeyConfig, ...] = ()
    tenants: dict[str, TenantConfig] = {}
    limits: LimitsConfig = LimitsConfig()
    a2a: A2AConfig = A2AConfig()
    remote_agents: tuple[RemoteAgentConfig, ...] = ()


def load_serve_config(path: str) -> ServeConfig:
    raw = read_data(path, "server config")
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the server config is a mapping (agents:, teams:, ...)")
    try:
        config = msgspec.convert(raw, ServeConfig)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return check_serve_config(config, path)


def check_serve_config(config: ServeConfig, where: str) -> ServeConfig:
    """Every rule the types cannot say; returns the config with plain keys hashed."""
    if not config.agents:
        raise ConfigError(f"{where}: agents: at least one agent")
    names = [a.name for a in config.agents]
    for i, agent in enumerate(config.agents):
        check_agent(agent, f"{where}: agents[{i}]")
        if agent.name.startswith("team:"):  # (the journal keeps team tasks under that name)
            raise ConfigError(f"{where}: agents[{i}].name may not begin with 'team:'")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"{where}: agents need distinct names; {', '.join(twice)} repeat")
    keep = config.store.keep_days
    if keep is not None and not 0 < keep <= 100_000:
        raise ConfigError(f"{where}: store.keep_days is a number of days, more than 0")
    members = set(names) | _check_remote(config, where)
    for i, team in enumerate(config.teams):
        unknown = [a for a in team.agents if a not in members]
        if not team.agents or unknown:
            raise ConfigError(f"{where}: teams[{i}].agents names no agent: {unknown}")
        if team.bid_window <= 0 or team.task_timeout <= 0 or team.max_awards < 1:
            raise ConfigError(f"{where}: teams[{i}]: bid_window and task_timeout > 0, awards >= 1")
    keys = []
    for i, key in enumerate(config.keys):
        if (key.key is None) == (key.key_sha256 is None):
            raise ConfigError(f"{where}: keys[{i}] needs exactly one of key_sha256 or key")
        digest = key.key_sha256 or hash_key(key.key or "")
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest.lower()):
            raise ConfigError(f"{where}: keys[{i}].key_sha256 is 64 hex digits")
        bad = [s for s in key.scopes if s not in SCOPES]
        if bad or not key.scopes:
            raise ConfigError(f"{where}: keys[{i}].scopes are some of {', '.join(SCOPES)}")
        if not key.tenant or "/" in key.tenant or len(key.tenant) > 64:
            raise ConfigError(f"{where}: keys[{i}].tenant is 1-64 characters without '/'")
        keys.append(KeyConfig(key.tenant, digest.lower(), None, key.scopes))
    for name, tenant in config.tenants.items():
        if tenant.max_concurrent_turns is not None and tenant.max_concurrent_turns < 1:
            raise ConfigError(f"{where}: tenants.{name}.max_concurrent_turns must be >= 1")
        if tenant.tokens_per_minute is not None and tenant.tokens_per_minute < 1:
            raise ConfigError(f"{where}: tenants.{name}.tokens_per_minute must be >= 1")
        if tenant.cost_per_day is not None and tenant.cost_per_day <= 0:
            raise ConfigError(f"{where}: tenants.{name}.cost_per_day must be > 0")
    limits = msgspec.structs.asdict(config.limits)
    for field, value in limits.items():
        if value <= 0:
            raise ConfigError(f"{where}: limits.{field} must be > 0")
    if config.limits.shed_busy > 1:
        raise ConfigError(f"{where}: limits.shed_busy is a share of the time, at most 1")
    return msgspec.structs.replace(config, keys=tuple(keys))


def _check_remote(config: ServeConfig, where: str) -> set[str]:
    """The A2A section and the remote agents; returns the remote agents' names. Every URL
    is checked against the allow-list here, before anything could send a request."""
    for i, host in enumerate(config.a2a.allow_hosts):
        if not host.strip() or "/" in host:
            raise ConfigError(f"{where}: a2a.allow_hosts[{i}] is a host name or address")
    public = config.a2a.public_url
    if public is not None and not public.startswith(("http://", "https://")):
        raise ConfigError(f"{where}: a2a.public_url is an http(s) URL")
    local = {a.name for a in config.agents}
    seen: set[str] = set()
    for i, remote in enumerate(config.remote_agents):
        field = f"{where}: remote_agents[{i}]"
        if not remote.name.strip() or len(remote.name) > 64 or "/" in remote.name:
            raise ConfigError(f"{field}.name must be 1-64 characters without '/'")
        if remote.name in local or remote.name in seen:
            raise ConfigError(f"{field}.name {remote.name!r} is already an agent's name")
        seen.add(remote.name)
        refusal = host_refusal(card_url(remote.url), config.a2a.allow_hosts)
        if refusal is not None:
            raise ConfigError(f"{field}.url: {refusal}")
        if remote.timeout <= 0 or remote.card_timeout <= 0:
            raise ConfigError(f"{field}: timeout and card_timeout must be > 0")
    return seen
