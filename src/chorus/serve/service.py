"""What ``chorus serve`` does, apart from HTTP: turns of sessions, team runs, their limits.

Each session belongs to one tenant and one agent: its store key is
``tenant/agent/session``, so a tenant can only ever name its own sessions (another
tenant's are not found, not forbidden). A turn:

1. is admitted or refused at once: the session already runs one (409, or it waits in line
   with ``if_busy="enqueue"``), the server is past its capacity or the wait would pass the
   turn's deadline (503 with ``Retry-After``), or the tenant's limits say no (429): a slot
   of its concurrent turns, and its tokens per minute and cost per day, *reserved* for
   the most the turn can use before it runs and settled to what it used after;
2. is entered in the journal as running, then runs (its model calls share its deadline),
   its events numbered and kept for any reader (:class:`~chorus.serve.turns.LiveTurn`);
3. is acknowledged (its ``done`` event, or the JSON reply) only once the session's commit
   is durable; cancelled, it is never half committed and the session stays usable.

A retried request with the same ``Idempotency-Key`` gets the same turn, running or done,
and never runs it twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import logging
import re
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from chorus.agent.agent import Agent
from chorus.agent.events import (
    Done,
    RunResult,
    TextChunk,
    ThinkingChunk,
    ToolCallStarted,
    UsageUpdate,
)
from chorus.agent.session import Session
from chorus.context.compaction import ContextState
from chorus.context.recall import terms
from chorus.declare import build_agent
from chorus.errors import (
    ChorusError,
    LimitExceeded,
    SessionBusyError,
    SessionError,
    ToolInputError,
)
from chorus.protocol.models import lookup, prices
from chorus.serve.auth import Keyring, Principal
from chorus.serve.budget import (
    Allowance,
    Refused,
    Reservation,
    fit_to_what_is_left,
    most_a_turn_uses,
)
from chorus.serve.config import ServeConfig, TenantConfig
from chorus.serve.demand import DemandClock
from chorus.serve.journal import Journal, TurnRow, finishing, wait_durable
from chorus.serve.pacing import commit_window
from chorus.serve.shedding import Shedding, Verdict
from chorus.serve.turns import LiveTurn, result_json, wire
from chorus.team.events import Decided, TaskCompleted

__all__ = ["ServeError", "Service", "check_session_id"]

_log = logging.getLogger("chorus.serve")
_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_PAST_END = 2**62
SEARCHED = 500  # the most recent sessions a session search reads the word index of
OWNER = "chorus-serve"  # one lease owner for the server, across restarts (see Service.open)


class ServeError(Exception):
    """A request the server refuses: an HTTP status, an error type and one line."""

    def __init__(
        self, status: int, kind: str, message: str, *, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.kind, self.message, self.retry_after = status, kind, message, retry_after


def check_session_id(session: str) -> None:
    """A session id (or an A2A contextId, which names one) is a short plain name: it
    goes into keys, paths and logs as it is."""
    if not _ID.fullmatch(session):
        raise ServeError(
            400,
            "invalid_request_error",
            "a session id is 1-128 letters, digits, '.', '_', ':' or '-'",
        )


@dataclass(slots=True)
class _Live:
    """A session the server holds in memory between turns."""

    session: Session
    next_turn: int
    input_tokens: int = 0  # what the last model call of the last turn sent
    used: float = 0.0  # when a turn last began (time.monotonic())


@dataclass(slots=True)
class TeamHold:
    """What a team run reserved of its tenant's limits, until it is settled (once)."""

    allowance: Allowance
    reservation: Reservation
    used: int | None = None  # tokens the run reported, when it did
    settled: bool = False
    on_cost: Callable[[float], None] | None = None  # told what the run cost, once settled

    def settle(self) -> None:
        """Give back what the run did not use: it reports tokens only, so its cost is
        settled in the same proportion. A run that reported nothing keeps its reservation."""
        if self.settled:
            return
        self.settled = True
        r = self.reservation
        tokens = r.tokens if self.used is None else self.used
        cost = r.cost * tokens / max(1, r.tokens)
        self.allowance.settle(r, tokens, cost)
        if self.on_cost is not None and self.used is not None:
            self.on_cost(cost)


class Service:
    """Agents, sessions and teams, served."""

    def __init__(
        self,
        config: ServeConfig,
        *,
        client: Any,
        store: Any,
        journal: Journal,
        metrics: Any = None,
        team_metrics: Any = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.team_metrics = team_metrics
        self.limits = config.limits
        self.client, self.store, self.journal, self.metrics = client, store, journal, metrics
        self._clock = clock
        self.agents: dict[str, Agent] = {a.name: build_agent(a, client) for a in config.agents}
        self.agent_configs = {a.name: a for a in config.agents}
        self.teams: dict[str, Any] = {}
        self.remote_agents: dict[str, Any] = {}  # team members served elsewhere, over A2A
        self.keyring = Keyring([(k.key_sha256 or "", k.tenant, k.scopes) for k in config.keys])
        self._allowances: dict[str, Allowance] = {}
        self._live: OrderedDict[str, _Live] = OrderedDict()
        self._running: dict[str, LiveTurn] = {}  # session key -> its running turn
        self._recent: OrderedDict[tuple[str, int], LiveTurn] = OrderedDict()
        self._queues: dict[str, list[Any]] = {}  # session -> [admission lock, its users]
        self._waiting = 0
        self._stateless = 0  # Messages-API runs without a session, running now
        self._team_runs = 0  # team runs (HTTP, Messages API, A2A), running now
        self._turn_seconds = 1.0  # a running average: how long a turn takes here
        self.ready = False
        self._stack = contextlib.AsyncExitStack()
        self._closing: set[asyncio.Future[None]] = set()  # leases being given back
        self._held: set[asyncio.Task[Any]] = set()  # other runs (team tasks) to end at close
        # what else keeps finished runs in memory: told by prune what ended before when
        self.pruners: list[Callable[[float], None]] = []
        self.lag = 0.0  # how late the event loop runs (a running average), in seconds
        self.busy = 0.0  # the share of its time the event loop's thread needs the CPU
        most_wait = min(config.limits.shed_wait, config.limits.turn_timeout)
        self._shedding = Shedding(most_wait=most_wait)  # what a full server takes in
        # A store with a group window has it set by how busy the server is (serve.pacing),
        # up to the window it came with, which it gets back at close.
        self._store_window = getattr(store, "group_window", None)
        self._line: deque[asyncio.Future[None]] = deque()  # runs waiting for a place
        self._watcher: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        """Settle what a previous process left running, enter the agents' MCP servers,
        start the teams."""
        opener = getattr(self.journal, "open", None)
        if opener is not None:
            await opener(prunable=self.config.store.keep_days is not None)
        closing = []
        for row in await self.journal.running():
            head = await self.store.load(row.session, since=_PAST_END)
            if head.seq > row.seq_before:  # its commit made it: the turn happened
                messages = await self.store.page(row.session, row.seq_before, 10_000)
                row.status, row.result = (
                    "done",
                    {"turn": row.turn, "recovered": True, "messages": messages},
                )
            else:
                row.status, row.result = "interrupted", {"turn": row.turn}
            row.events = [
                [
                    row.turn * 1_000_000 + 1,
                    "error" if row.status != "done" else "done",
                    {"type": row.status, **(row.result or {})},
                ]
            ]
            row.finished = self._clock()
            closing.append(self.journal.finish(row))  # (queued: one transaction for all)
        await asyncio.gather(*closing)
        for agent in self.agents.values():
            for toolset in agent.toolsets:
                if hasattr(toolset, "__aenter__"):
                    await self._stack.enter_async_context(toolset)  # type: ignore[arg-type]
        from chorus.serve.remote import remote_members
        from chorus.team import Team

        self.remote_agents = await remote_members(self.config)  # their cards read now
        for declared in self.config.teams:
            team = Team(
                [self.agents.get(name) or self.remote_agents[name] for name in declared.agents],
                bid_window=declared.bid_window,
                task_timeout=declared.task_timeout,
                max_awards=declared.max_awards,
                max_hops=declared.max_hops,
                metrics=self.team_metrics,
            )
            team.start()
            self.teams[declared.name] = team
        self._watcher = asyncio.create_task(self._watch_lag())
        if self.config.store.keep_days is not None:
            self._held.add(asyncio.create_task(self._keep(self.config.store.keep_days)))
        self.ready = True

    async def _watch_lag(self) -> None:
        """How busy the event loop's thread is, and how late it wakes: the server's own
        measure of being at its capacity (CPU-bound: a new turn would only wait, and make
        every other one wait), whatever the model's latency. Busy counts the time the
        thread waited for the CPU too (serve.demand): a core shared with the store's
        thread is full before the loop's own CPU time says so. Running averages over
        about a quarter second: a pause (a collection, a slow write) is not overload."""
        loop = asyncio.get_running_loop()
        tick = 0.01
        clock = DemandClock()
        try:
            cpu, wall = clock(), loop.time()
            while True:
                await asyncio.sleep(tick)
                now_cpu, now = clock(), loop.time()
                late = max(0.0, now - wall - tick)
                busy = (now_cpu - cpu) / max(now - wall, 1e-6)
                cpu, wall = now_cpu, now
                self.lag += (late - self.lag) * 0.04
                self.busy += (min(1.0, busy) - self.busy) * 0.04
                if self._store_window is not None:
                    self.store.group_window = commit_window(self.busy, self._store_window)
                full = self.busy > self.limits.shed_busy or self.lag > self.limits.shed_lag
                self._shedding.tick(full, self._running_now(), tick + late)
                if not full:
                    self._let_in(len(self._line))
        finally:
            clock.close()

    async def _keep(self, days: float) -> None:
        """Retention: now, then every hour (or every 24th of ``days``, if sooner)."""
        every = min(3600.0, days * 86400 / 24)
        while True:
            try:
                await self.prune(days * 86400)
            except Exception:  # (a failed prune is tried again next time; turns go on)
                _log.exception("pruning sessions and turns older than %g days failed", days)
            await asyncio.sleep(every)

    async def prune(self, older_than: float) -> tuple[int, int]:
        """Delete sessions idle for ``older_than`` seconds and the journal's turns that
        ended that long ago (team tasks' too); returns how many of each. Sessions held in
        memory that long are let go first, their leases with them, so the store may
        delete them and a new turn of the same id starts a new session."""
        idle_since = time.monotonic() - older_than
        for key, live in list(self._live.items()):
            taken = self._live.get(key) is not live  # (meanwhile, by a turn)
            if live.used < idle_since and key not in self._running and not taken:
                del self._live[key]
                with contextlib.suppress(Exception):
                    await live.session.close()
        for at, turn in list(self._recent.items()):  # (what the journal will not have)
            if turn.ended_at is not None and turn.ended_at < idle_since:
                del self._recent[at]
        for pruner in self.pruners:
            pruner(idle_since)
        sessions = await self.store.prune(older_than)
        turns = await self.journal.prune(self._clock() - older_than)
        if sessions or turns:
            _log.info("pruned %d sessions and %d turns idle %g s", sessions, turns, older_than)
        return sessions, turns

    def _running_now(self) -> int:
        """Runs under way: turns, Messages-API runs without a session, and team runs."""
        return len(self._running) + self._stateless + self._team_runs

    def shed(self, asker: str | None = None) -> Verdict:
        """Refuse a new run at once when the server will not take it: as many turns running
        as it may run, or the server full with runs asked for faster than they end (else
        the run may take a place left, or wait in line: :mod:`chorus.serve.shedding`).
        ``asker``: the session it is for, so a client retrying counts once. Cheap: the
        HTTP handlers ask before reading a body."""
        running = self._running_now()
        if running >= self.limits.max_running_turns:
            raise ServeError(
                503,
                "overloaded_error",
                f"the server is running {running} turns, its limit",
                retry_after=max(1.0, round(self._turn_seconds, 1)),
            )
        verdict = self._shedding.verdict(running, len(self._line))
        if verdict is not Verdict.REFUSE:
            return verdict
        self._shedding.refused_by(asker)
        if self.lag > self.limits.shed_lag:
            why = f"the server is past its capacity (running {self.lag * 1000:.0f} ms late)"
        else:
            why = f"the server is at its capacity ({self.busy:.0%} busy)"
        raise ServeError(503, "overloaded_error", why, retry_after=1.0)

    async def admission(self, asker: str | None = None) -> None:
        """Let a new run start, now or after a short wait in line for the place of a run
        that ends, or refuse it (:meth:`shed`). A caller let in that then does not start
        its run gives the place on (:meth:`_let_in`)."""
        if self.shed(asker) is Verdict.START:
            self._shedding.admitted_by(asker)
            return
        place = asyncio.get_running_loop().create_future()
        self._line.append(place)
        going = False
        try:
            async with asyncio.timeout(self._shedding.most_wait):
                await place
            going = True
            self._shedding.admitted_by(asker)
        except TimeoutError:
            self._shedding.refused_by(asker)
            raise ServeError(
                503,
                "overloaded_error",
                "the server stayed full: no place came free in time",
                retry_after=1.0,
            ) from None
        finally:
            with contextlib.suppress(ValueError):
                self._line.remove(place)  # (timed out or cancelled: out of the line)
            given = place.done() and not place.cancelled()
            if given and not going:  # (given a place in the same moment it gave up)
                self._let_in(1)

    def _let_in(self, count: int) -> None:
        """The next ``count`` runs in line go, in order."""
        while self._line and count > 0:
            place = self._line.popleft()
            if not place.done():
                place.set_result(None)
                count -= 1

    def _ended(self) -> None:
        """A run ended: its place goes to the next in line."""
        self._shedding.ended()
        self._let_in(1)

    async def close(self) -> None:
        self.ready = False
        if self._watcher is not None:
            self._watcher.cancel()
        if self._store_window is not None:
            self.store.group_window = self._store_window
        running = [t.task for t in self._running.values() if t.task is not None]
        running += [t for t in self._held if not t.done()]
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        for team in self.teams.values():
            await team.close()
        for remote in self.remote_agents.values():
            await remote.aclose()
        await asyncio.gather(*self._closing, return_exceptions=True)
        for live in self._live.values():
            with contextlib.suppress(Exception):
                await live.session.close()
        await self._stack.aclose()

    # ------------------------------------------------------------------ who and what

    def principal(self, key: str | None) -> Principal:
        if not self.keyring:
            return Principal("default", frozenset({"turns", "teams", "admin"}))
        found = self.keyring.identify(key)
        if found is None:
            raise ServeError(401, "authentication_error", "invalid or missing API key")
        return found

    def agent(self, name: str) -> Agent:
        agent = self.agents.get(name)
        if agent is None:
            raise ServeError(404, "not_found_error", f"no agent named {name!r}")
        return agent

    def _key(self, principal: Principal, agent: str, session: str) -> str:
        self.agent(agent)
        check_session_id(session)
        return f"{principal.tenant}/{agent}/{session}"

    def _allowance(self, tenant: str) -> Allowance:
        found = self._allowances.get(tenant)
        if found is None:
            limits = self.config.tenants.get(tenant, TenantConfig())
            found = Allowance(
                limits.max_concurrent_turns, limits.tokens_per_minute, limits.cost_per_day
            )
            self._allowances[tenant] = found
        return found

    async def _session(self, key: str, agent: Agent) -> _Live:
        live = self._live.pop(key, None)
        if live is None:
            session = Session(
                agent,
                key,
                store=self.store,
                owner=OWNER,
                lease_ttl=3600.0,
                hold_lease=True,
                keep_warm=True,
            )
            live = _Live(session, await self.journal.last_turn(key) + 1)
        live.used = time.monotonic()
        self._live[key] = live
        while len(self._live) > self.limits.live_sessions:
            old_key, _ = next(iter(self._live.items()))
            if old_key in self._running:  # (never evict a session mid-turn)
                self._live.move_to_end(old_key)
                break
            _, evicted = self._live.popitem(last=False)
            self._closing.add(asyncio.ensure_future(evicted.session.close()))
            self._closing = {t for t in self._closing if not t.done()}
        return live

    # ------------------------------------------------------------------ turns

    async def start_turn(
        self,
        principal: Principal,
        agent_name: str,
        session_id: str,
        message: Any,
        *,
        idempotency_key: str | None = None,
        if_busy: str = "reject",
        resume: dict[str, bool] | None = None,
        live: bool = True,
        told: bool = False,
    ) -> LiveTurn:
        """Admit a turn and start it; returns it running (or, for a retried key, the turn
        that key started). ``live``: someone reads its text as it comes; else each model
        reply is asked for whole, so an upstream failure anywhere in it is retried whole.
        ``told``: its number is told before it ends, though it is not streamed (an A2A send
        that returns at once), so its start is made durable with the next group commit
        rather than waiting for company, as a streamed turn's is.

        Admission to one session is one at a time (a lock per session, held for the few
        reads admission makes, never for the turn): two requests cannot both see the
        session free, and a retried key always finds the turn its first copy started."""
        key = self._key(principal, agent_name, session_id)
        agent = self.agent(agent_name)
        waited = False
        deadline = asyncio.get_running_loop().time() + self.limits.turn_timeout
        while True:
            async with self._admitting(key):
                if idempotency_key is not None:
                    again = await self._by_key(key, idempotency_key)
                    if again is not None:
                        return again
                running = self._running.get(key)
                if running is None:
                    return await self._admit(
                        principal,
                        key,
                        agent,
                        message,
                        idempotency_key,
                        resume=resume,
                        watched=live,
                        soon=live or told,
                    )
                if if_busy != "enqueue":
                    raise ServeError(
                        409,
                        "conflict_error",
                        f"session {session_id!r} is running turn {running.turn}; "
                        'retry when it ends, or send "if_busy": "enqueue"',
                    )
            if not waited:  # in line: only if the line is short and moves in time
                wait = self._turn_seconds * (self._waiting + 1)
                if self._waiting >= self.limits.max_queued_turns or wait > self.limits.turn_timeout:
                    raise ServeError(
                        503,
                        "overloaded_error",
                        "too many turns are waiting; try again shortly",
                        retry_after=max(1.0, self._turn_seconds),
                    )
            waited = True
            self._waiting += 1
            try:
                left = deadline - asyncio.get_running_loop().time()
                async with asyncio.timeout(max(0.0, left)):
                    await running.wait()
            except TimeoutError:
                raise ServeError(
                    503, "overloaded_error", "the turns ahead did not end in time", retry_after=1.0
                ) from None
            finally:
                self._waiting -= 1

    @contextlib.asynccontextmanager
    async def _admitting(self, key: str) -> Any:
        """The session's admission lock (kept only while someone holds or waits for it)."""
        entry = self._queues.get(key)
        if entry is None:
            entry = self._queues[key] = [asyncio.Lock(), 0]
        entry[1] += 1
        try:
            async with entry[0]:
                yield
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                self._queues.pop(key, None)

    async def _admit(
        self,
        principal: Principal,
        key: str,
        agent: Agent,
        message: Any,
        idempotency_key: str | None,
        *,
        resume: dict[str, bool] | None,
        watched: bool,
        soon: bool,
    ) -> LiveTurn:
        await self.admission(key)
        try:
            if key in self._running:  # (someone else got in first)
                raise ServeError(409, "conflict_error", "the session is running a turn")
            live = await self._session(key, agent)
            seq_before = live.session.known_seq
            if seq_before is None:
                seq_before = (await self.store.load(key, since=_PAST_END)).seq
            allowance = self._allowance(principal.tenant)
            unknown = seq_before > 0 and not live.input_tokens
            tokens, cost = self._estimate(
                agent, live, message, unknown=unknown, most=allowance.tokens_per_minute
            )
            if unknown and allowance.cost_per_day is not None:
                left = allowance.cost_per_day - allowance.used(self._clock())[1]
                tokens, cost = fit_to_what_is_left(tokens, cost, left)
            reservation = self._reserve(allowance, tokens, cost)
        except BaseException:
            self._let_in(1)  # (admitted, and not starting after all: the place goes on)
            raise
        turn = LiveTurn(key, live.next_turn, idempotency_key=idempotency_key)
        turn.seq_before, turn.message = seq_before, message
        live.next_turn += 1
        self._running[key] = turn
        try:
            row = TurnRow(key, turn.turn, "running", idempotency_key, seq_before, self._clock())
            # Entered now, made durable with a coming group commit: always before the
            # turn's own commit (writes keep their order), without the turn waiting for it;
            # in the next one when a reader is told the turn's number at once (streamed, or
            # an A2A send that returns at once).
            started = turn.entered = self.journal.start(row, soon=soon)
        except BaseException:
            self._running.pop(key, None)
            self._let_in(1)
            allowance.settle(reservation, 0, 0.0)
            raise
        run_agent = self._bounded(agent, principal.tenant, reservation)
        live.session.agent = run_agent
        turn.task = asyncio.create_task(
            self._run(turn, live, message, row, allowance, reservation, resume, started, watched)
        )
        return turn

    def _reserve(self, allowance: Allowance, tokens: int, cost: float) -> Reservation:
        """The reservation, or the tenant's refusal as a 429 that says when to retry."""
        reservation = allowance.reserve(tokens, cost, self._clock())
        if isinstance(reservation, Refused):
            raise ServeError(
                429, "rate_limit_error", reservation.reason, retry_after=reservation.retry_after
            )
        return reservation

    def _estimate(
        self, agent: Agent, live: _Live, message: Any, *, unknown: bool, most: int | None
    ) -> tuple[int, float]:
        """The most a turn is expected to use: the input its last call sent, the new
        message, and its output cap; with tools, two model calls of that. ``unknown``: the
        session has a history this server has not measured yet (evicted, or from before a
        restart), so its input is reserved at the agent's whole input limit, or ``most``
        (the tenant's tokens per minute) if that is less; the turn is held to it."""
        chars = len(message) if isinstance(message, str) else len(str(message))
        known = live.input_tokens
        if unknown:
            info = lookup(agent.model)
            known = (
                agent.context.input_limit(agent.model, agent.max_tokens)
                if agent.context is not None
                else (info.context_window if info is not None else 200_000)
            )
        return most_a_turn_uses(
            input_tokens=known,
            message_chars=chars,
            max_tokens=agent.max_tokens,
            calls=_calls(agent),
            prices=prices(agent.model),
            cap=most if unknown else None,
        )

    def _bounded(self, agent: Agent, tenant: str, reservation: Reservation) -> Agent:
        """The agent, held to what the turn reserved when its tenant has such limits."""
        limits = self.config.tenants.get(tenant)
        if limits is None or (limits.tokens_per_minute is None and limits.cost_per_day is None):
            return agent
        bounded = copy.copy(agent)
        bounded.limits = dataclasses.replace(
            agent.limits,
            max_tokens_total=reservation.tokens if limits.tokens_per_minute else None,
            max_cost=reservation.cost if limits.cost_per_day else None,
        )
        return bounded

    async def _run(
        self,
        turn: LiveTurn,
        live: _Live,
        message: Any,
        row: TurnRow,
        allowance: Allowance,
        reservation: Reservation,
        resume: dict[str, bool] | None,
        entered: Awaitable[None],
        watched: bool = True,
    ) -> None:
        started = time.monotonic()
        result: RunResult | None = None
        spent: UsageUpdate | None = None
        status, body = "failed", None
        session = live.session
        committed_before = session.committed
        try:
            async with asyncio.timeout(self.limits.turn_timeout):
                run = (
                    session.stream(message, live=watched)
                    if resume is None
                    else session.stream_resume(resume, live=watched)
                )
                async for event in run:
                    shown = wire(event)
                    if shown is not None:
                        turn.add(*shown)
                    elif isinstance(event, UsageUpdate):
                        spent = event  # what the model calls so far cost, for settling
                    elif isinstance(event, Done):
                        result = event.result
            assert result is not None
            status = "paused" if result.stop_reason == "paused" else "done"
            body = result_json(turn.turn, result)
            live.input_tokens = _last_input(result)
            turn.add("done", body)
        except (asyncio.CancelledError, TimeoutError) as exc:
            if session.committed != committed_before:  # the commit won the race: done
                status, body = "done", {"turn": turn.turn, "committed": True}
                turn.add("done", body)
            elif isinstance(exc, TimeoutError):
                body = {"turn": turn.turn, "type": "timeout"}
                turn.add("error", {"type": "timeout", "message": "the turn passed its deadline"})
            else:
                status = "cancelled" if turn.cancel_requested else "interrupted"
                body = {"turn": turn.turn, "type": status}
                turn.add("error", {"type": status, "message": f"the turn was {status}"})
        except SessionBusyError as exc:
            body = {"turn": turn.turn, "type": "conflict_error"}
            turn.add("error", {"type": "conflict_error", "message": str(exc)})
        except (LimitExceeded, SessionError, ChorusError) as exc:
            if session.committed != committed_before:  # (failed after its commit: done)
                status, body = "done", {"turn": turn.turn, "committed": True}
                turn.add("done", body)
            else:
                said = str(exc).replace(turn.session, turn.session.rsplit("/", 1)[-1])
                said = said.replace("resume or discard it", "resume it (POST .../resume)")
                body = {"turn": turn.turn, "type": type(exc).__name__}
                turn.add("error", {"type": type(exc).__name__, "message": said})
        except Exception:
            _log.exception("turn %s of %s failed", turn.turn, turn.session)
            body = {"turn": turn.turn, "type": "api_error"}
            turn.add("error", {"type": "api_error", "message": "internal error"})
        finally:
            session.agent = self.agents[session.agent.name]
            used_tokens, used_cost = 0, 0.0
            usage = result.usage if result is not None else (spent.usage if spent else None)
            if usage is not None:
                used_tokens = _all_tokens(usage)
                used_cost = result.cost if result is not None else (spent.cost if spent else 0.0)
            allowance.settle(reservation, used_tokens, float(used_cost))
            elapsed = time.monotonic() - started
            self._turn_seconds = 0.9 * self._turn_seconds + 0.1 * elapsed
            if self.metrics is not None:
                self.metrics.turn(session.agent.name, status, elapsed, float(used_cost))
            row.status, row.result, row.finished = status, body, self._clock()
            row.events = [list(e) for e in turn.events]
            # A done or paused turn's own write made its journal entry durable (writes keep
            # their order). Any other left nothing in the store: it is answered once its
            # entry is durable, so a crash cannot hand its number to a later turn.
            stored = status in ("done", "paused")
            what = f"turn {turn.turn} of {turn.session}"
            finished = finishing(self.journal, row, what, soon=not stored)  # (a cancel keeps it)
            try:
                if not stored:
                    await wait_durable(finished, what)
            finally:
                turn.end(status, body)
                self._running.pop(turn.session, None)
                self._ended()
                self._recent[(turn.session, turn.turn)] = turn
                while len(self._recent) > self.limits.recent_turns:
                    self._recent.popitem(last=False)
            with contextlib.suppress(Exception):
                await entered  # (a cancel here only stops the waiting: both stay queued)
                await finished

    @staticmethod
    async def durably_begun(turn: LiveTurn) -> None:
        """Wait, before a running turn's number is told, until its journal entry is
        durable: a crash then shows the turn interrupted, and never gives its number to
        another. (At most one group commit: the turn itself is under way meanwhile.)"""
        if turn.entered is not None and turn.running:
            await wait_durable(turn.entered, f"turn {turn.turn} of {turn.session}")

    async def _by_key(self, key: str, idempotency_key: str) -> LiveTurn | None:
        running = self._running.get(key)
        if running is not None and running.idempotency_key == idempotency_key:
            return running
        for (session, _), turn in reversed(self._recent.items()):
            if session == key and turn.idempotency_key == idempotency_key:
                return turn
        row = await self.journal.by_key(key, idempotency_key)
        return self._loaded(row) if row is not None else None

    def hold(self, task: asyncio.Task[Any]) -> None:
        """A run outside the turns (a team task) that closing the server cancels and waits
        for, so it ends as cancelled, with its entries written, not as a crash would."""
        self._held.add(task)
        task.add_done_callback(self._held.discard)

    def now(self) -> float:
        """The server's clock (wall time), as its journal records it."""
        return self._clock()

    def loaded_turn(self, row: TurnRow) -> LiveTurn:
        """A finished turn as the journal kept it (after a restart, say)."""
        return self._loaded(row)

    def _loaded(self, row: TurnRow) -> LiveTurn:
        turn = LiveTurn(row.session, row.turn, idempotency_key=row.idempotency_key)
        turn.seq_before = row.seq_before
        turn.load(row.events or [], row.status, row.result)
        return turn

    async def turn_by_key(
        self, principal: Principal, agent: str, session: str, idempotency_key: str
    ) -> LiveTurn | None:
        """The turn a request with ``idempotency_key`` started in the session, if any."""
        return await self._by_key(self._key(principal, agent, session), idempotency_key)

    async def turn_messages(
        self, principal: Principal, agent: str, session: str, number: int, limit: int = 200
    ) -> list[dict[str, Any]]:
        """The messages turn ``number`` committed to its session (none while it runs):
        from the session's length when it began to where the next turn began."""
        key = self._key(principal, agent, session)
        turn = await self.turn(principal, agent, session, number)
        if turn.running or turn.seq_before is None:
            return []
        try:
            after = await self.turn(principal, agent, session, number + 1)
            end = after.seq_before
        except ServeError:
            end = None
        if end is None:
            end = (await self.store.load(key, since=_PAST_END)).seq
        count = min(limit, end - turn.seq_before)
        return await self.store.page(key, turn.seq_before, count) if count > 0 else []

    async def last_turn(self, principal: Principal, agent: str, session: str) -> int:
        """The number of the session's latest turn (0: it has none)."""
        key = self._key(principal, agent, session)
        live = self._live.get(key)
        return live.next_turn - 1 if live is not None else await self.journal.last_turn(key)

    async def turn(self, principal: Principal, agent: str, session: str, number: int) -> LiveTurn:
        key = self._key(principal, agent, session)
        running = self._running.get(key)
        if running is not None and running.turn == number:
            return running
        recent = self._recent.get((key, number))
        if recent is not None:
            return recent
        row = await self.journal.get(key, number)
        if row is None:
            raise ServeError(404, "not_found_error", f"session {session!r} has no turn {number}")
        return self._loaded(row)

    async def cancel(self, principal: Principal, agent: str, session: str, number: int) -> LiveTurn:
        turn = await self.turn(principal, agent, session, number)
        if turn.running and turn.task is not None:
            turn.cancel_requested = True
            turn.task.cancel()
            await turn.wait()
        return turn

    async def run_stateless(
        self, principal: Principal, agent: Agent, prompt: Any, history: list[dict[str, Any]]
    ) -> RunResult:
        """One run over a history the caller sent (the Messages-API face, no session),
        held to the tenant's limits as a turn is (see :meth:`stream_stateless`)."""
        result: RunResult | None = None
        async for event in self.stream_stateless(principal, agent, prompt, history, live=False):
            if isinstance(event, Done):
                result = event.result
        assert result is not None
        return result

    async def stream_stateless(
        self,
        principal: Principal,
        agent: Agent,
        prompt: Any,
        history: list[dict[str, Any]],
        *,
        live: bool = True,
    ) -> AsyncIterator[Any]:
        """:meth:`run_stateless` as the run's events, the last one Done. Reserved for the
        most it can use (the history it was sent, measured by its length) before its
        first event, refused with a 429 ServeError if the tenant has no room; settled to
        what it used. Failures come as ServeError, at whichever event they happen."""
        from chorus.errors import APIStatusError, TranscriptError

        allowance = self._allowance(principal.tenant)
        sent = len(msgspec.json.encode(history)) if history else 0
        tokens, cost = most_a_turn_uses(
            input_tokens=sent // 3,
            message_chars=len(prompt) if isinstance(prompt, str) else len(str(prompt)),
            max_tokens=agent.max_tokens,
            calls=_calls(agent),
            prices=prices(agent.model),
        )
        reservation = self._reserve(allowance, tokens, cost)
        used_tokens, used_cost = 0, 0.0
        spoke = False  # a model call has begun to answer (what it spent is not known yet)
        ended, started = "failed", time.monotonic()
        self._stateless += 1  # (they count against max_running_turns like turns)
        bounded = self._bounded(agent, principal.tenant, reservation)
        run = bounded.iter(prompt, history, live=live).__aiter__()
        deadline = asyncio.get_running_loop().time() + self.limits.turn_timeout
        try:
            while True:
                try:  # (the deadline covers each wait for the run, never the reader's)
                    async with asyncio.timeout_at(deadline):
                        event = await anext(run)
                except StopAsyncIteration:
                    ended = "done"
                    return
                spoke = spoke or isinstance(event, TextChunk | ThinkingChunk | ToolCallStarted)
                if isinstance(event, UsageUpdate | Done):
                    usage = event.usage if isinstance(event, UsageUpdate) else event.result.usage
                    used_tokens = _all_tokens(usage)
                    used_cost = float(
                        event.cost if isinstance(event, UsageUpdate) else event.result.cost
                    )
                yield event
        except TimeoutError:
            raise ServeError(504, "timeout_error", "the run passed its deadline") from None
        except (TranscriptError, ToolInputError) as exc:
            raise ServeError(400, "invalid_request_error", str(exc)) from None
        except APIStatusError as exc:
            status = exc.status if 400 <= exc.status < 500 else 502
            raise ServeError(
                status, "api_error" if status == 502 else "invalid_request_error", str(exc)
            ) from None
        except LimitExceeded as exc:  # (it reached what it reserved: the tenant's limit)
            used_tokens, used_cost = reservation.tokens, reservation.cost
            raise ServeError(429, "rate_limit_error", str(exc), retry_after=60.0) from None
        except ChorusError as exc:
            raise ServeError(500, "api_error", f"{type(exc).__name__}: {exc}") from None
        finally:
            self._stateless -= 1
            self._ended()
            if ended != "done" and spoke:  # stopped mid-answer (a reader that left, a cut):
                # its last call's spend is unknown, so it keeps what it reserved
                used_tokens = max(used_tokens, reservation.tokens)
                used_cost = max(used_cost, reservation.cost)
            allowance.settle(reservation, used_tokens, used_cost)
            if self.metrics is not None:  # (a run's cost shows where a turn's does)
                self.metrics.turn(agent.name, ended, time.monotonic() - started, used_cost)
            with contextlib.suppress(Exception):
                await run.aclose()  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ team runs

    def team_members(self, team: str) -> tuple[str, ...]:
        """The names of a declared team's members (none for a team not declared)."""
        declared = next((t for t in self.config.teams if t.name == team), None)
        return declared.agents if declared is not None else ()

    def reserve_team_run(
        self, principal: Principal, team: str, task_chars: int, runs: int
    ) -> TeamHold:
        """Hold a team run to its tenant's limits: a turn slot, and the tokens and cost of
        ``runs`` member runs (each priced as the costliest member's turn would be),
        reserved before the run starts. The caller settles it (:meth:`TeamHold.settle`),
        whatever happens; :meth:`settled_team_run` notes what the run reported."""
        members = [self.agents[a] for a in self.team_members(team) if a in self.agents]
        each = [
            most_a_turn_uses(
                input_tokens=0,
                message_chars=task_chars,
                max_tokens=agent.max_tokens,
                calls=_calls(agent),
                prices=prices(agent.model),
            )
            for agent in members
        ] or [(2_000, 0.0)]
        tokens = max(t for t, _ in each) * max(1, runs)
        cost = max(c for _, c in each) * max(1, runs)
        allowance = self._allowance(principal.tenant)
        reservation = self._reserve(allowance, tokens, cost)
        metrics = self.metrics
        on_cost = (lambda cost: metrics.team_run(team, cost)) if metrics is not None else None
        return TeamHold(allowance, reservation, on_cost=on_cost)

    async def settled_team_run(
        self, hold: TeamHold, events: AsyncIterator[Any]
    ) -> AsyncIterator[Any]:
        """The team run's events, noting the tokens it reports; settled at its end. While
        it runs it counts as a run under way, as a turn does (against ``max_running_turns``
        and in the server's measure of being full: its members make model calls), and its
        end gives its place to the next run in line."""
        self._team_runs += 1
        try:
            async for event in events:
                if isinstance(event, TaskCompleted):
                    hold.used = event.result.tokens
                elif isinstance(event, Decided):
                    hold.used = event.decision.tokens
                yield event
        finally:
            self._team_runs -= 1
            self._ended()
            hold.settle()

    # ------------------------------------------------------------------ sessions

    async def history(
        self, principal: Principal, agent: str, session: str, start: int, limit: int
    ) -> dict[str, Any]:
        key = self._key(principal, agent, session)
        head = await self.store.load(key, since=_PAST_END)
        last = await self.journal.last_turn(key)
        if head.seq == 0 and last == 0:
            raise ServeError(404, "not_found_error", f"no session {session!r}")
        messages = await self.store.page(key, start, limit) if start < head.seq else []
        following = start + len(messages)
        return {
            "session": session,
            "agent": agent,
            "messages": messages,
            "start": start,
            "next": following if following < head.seq else None,
            "length": head.seq,
            "turns": last,
            "running": self._running[key].turn if key in self._running else None,
            # what compaction folded, so a reader can mark where summaries stand in
            "summaries": [
                {"start": x.start, "end": x.end, "text": x.text}
                for x in ContextState.decode(head.context).summaries
            ],
        }

    async def sessions(
        self, principal: Principal, agent: str, query: str = "", limit: int = 50
    ) -> list[dict[str, Any]]:
        """The tenant's sessions with ``agent``, most recently updated first. ``query``
        keeps those whose id contains it or whose turns mention its words (the store's
        word index, over the ``SEARCHED`` most recent sessions)."""
        self.agent(agent)
        prefix = f"{principal.tenant}/{agent}/"
        wanted = query.strip().lower()
        found = await self.store.sessions(prefix, newest=SEARCHED if wanted else limit)
        if wanted:
            words = set(terms(wanted))
            kept = []
            for info in found:
                name = info.session_id[len(prefix) :]
                if wanted in name.lower() or (
                    words and await self.store.search(info.session_id, words, info.seq, 1)
                ):
                    kept.append(info)
                if len(kept) >= limit:
                    break
            found = kept
        return [
            {
                "session": info.session_id[len(prefix) :],
                "messages": info.seq,
                "created": info.created,
                "updated": info.updated,
            }
            for info in found[:limit]
        ]

    async def delete(self, principal: Principal, agent: str, session: str) -> bool:
        key = self._key(principal, agent, session)
        async with self._admitting(key):  # no turn starts while it goes
            return await self._delete(key, session)

    async def _delete(self, key: str, session: str) -> bool:
        if key in self._running:
            raise ServeError(409, "conflict_error", "the session is running a turn")
        live = self._live.get(key)
        if live is not None:
            await live.session.close()
        existed = await self.store.delete(key)
        existed = bool(await self.journal.last_turn(key)) or existed
        await self.journal.forget(key)
        self._live.pop(key, None)
        for recent in [k for k in self._recent if k[0] == key]:
            self._recent.pop(recent, None)
        if not existed:
            raise ServeError(404, "not_found_error", f"no session {session!r}")
        return True

    async def pending(self, principal: Principal, agent: str, session: str) -> list[dict[str, Any]]:
        key = self._key(principal, agent, session)
        live = await self._session(key, self.agent(agent))
        calls = await live.session.pending()
        return [{"id": c.id, "name": c.name, "input": c.input} for c in calls]


def _calls(agent: Agent) -> int:
    """Model calls a turn's reservation counts: two for an agent with tools (a tool call,
    then the answer), one without."""
    return 2 if agent.tools or agent.toolsets else 1


def _all_tokens(u: Any) -> int:
    """Every token a run's usage counts against a tenant: input, output and cache."""
    cache = u.cache_read_input_tokens + u.cache_creation_input_tokens
    return int(u.input_tokens + u.output_tokens + cache)


def _last_input(result: RunResult) -> int:
    u = result.usage
    steps = max(1, result.steps)
    return (u.input_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens) // steps
