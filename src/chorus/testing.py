"""What chorus's own tests use, for yours: virtual time, a simulated client, a scripted model,
and the conformance checks every session store must pass.

* :class:`FakeClock`: time that moves only when slept on or advanced.
* :func:`simulated`: a simulator on 127.0.0.1 and a :class:`~chorus.client.Claude` talking
  to it, sharing one fake clock (retry sleeps and rate-limit waits take no real time)::

      async with simulated({"faults": {"*": "529;ok"}}) as rig:
          msg = await rig.claude.messages.create(model=..., max_tokens=64, messages=[...])
          assert len(rig.sim.ledger) == 2

* :class:`ScriptedModel`: a stand-in for the client that answers an agent from a script
  (a list of replies, or a function of the request), with no server at all.
* :func:`check_store`: ``await check_store(lambda clock: MyStore(clock=clock))`` runs the
  store conformance suite (empty session, atomic turns, one writer at a time, fencing
  tokens and epochs, sequence conflicts, delete and prune) against any backend.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator as _AsyncIterator
from collections.abc import Callable as _Callable
from collections.abc import Sequence as _Sequence
from contextlib import asynccontextmanager as _asynccontextmanager
from dataclasses import dataclass as _dataclass
from dataclasses import field as _field
from typing import Any as _Any

import msgspec as _msgspec

from chorus.client import Claude as _Claude
from chorus.clock import FakeClock
from chorus.errors import SessionBusyError as _SessionBusyError
from chorus.errors import StaleWriterError as _StaleWriterError
from chorus.protocol import types as _types
from chorus.sim import SimConfig as _SimConfig
from chorus.sim import Simulator as _Simulator
from chorus.sim import config_from_dict as _config_from_dict

__all__ = ["FakeClock", "Rig", "ScriptedModel", "check_store", "simulated"]


@_dataclass
class Rig:
    """A running simulator, a client talking to it, and the clock they share."""

    sim: _Simulator
    claude: _Claude
    clock: FakeClock


@_asynccontextmanager
async def simulated(
    config: _SimConfig | dict[str, _Any] | None = None, **client_options: _Any
) -> _AsyncIterator[Rig]:
    """A simulator on loopback and a client on the same fake clock (see the module doc)."""
    clock = FakeClock()
    if isinstance(config, dict):
        config = _config_from_dict(config)
    client_options.setdefault("rng", random.Random(7))
    client_options.setdefault("observers", [])
    async with _Simulator(config, clock=clock) as sim:
        claude = _Claude(api_key="sk-test", base_url=sim.base_url, clock=clock, **client_options)
        try:
            yield Rig(sim, claude, clock)
        finally:
            await claude.aclose()


_Reply = str | _types.Message | dict[str, _Any]


@_dataclass
class ScriptedModel:
    """A client double for agents: each model call gets the next scripted reply.

    ``replies`` is a list (a string is a text reply; a dict or :class:`_types.Message` is the
    whole reply, e.g. with ``tool_use`` blocks) or a function of the request's keyword
    arguments returning one. Every request is kept in ``requests``.
    """

    replies: _Sequence[_Reply] | _Callable[[dict[str, _Any]], _Reply]
    model: str = "claude-scripted"
    requests: list[dict[str, _Any]] = _field(default_factory=list)

    def __post_init__(self) -> None:
        self.messages = _ScriptedMessages(self)
        self._at = 0

    def next_reply(self, request: dict[str, _Any]) -> _types.Message:
        self.requests.append(request)
        if callable(self.replies):
            reply = self.replies(request)
        else:
            if self._at >= len(self.replies):
                raise AssertionError(f"the script has {len(self.replies)} replies; asked for more")
            reply = self.replies[self._at]
            self._at += 1
        return _as_message(reply, str(request.get("model") or self.model))

    async def aclose(self) -> None:
        return None


class _ScriptedMessages:
    def __init__(self, model: ScriptedModel) -> None:
        self._model = model

    async def create(self, **request: _Any) -> _types.Message:
        return self._model.next_reply(request)

    def stream(self, **request: _Any) -> _ScriptedStream:
        return _ScriptedStream(self._model.next_reply(request))

    async def count_tokens(self, **request: _Any) -> int:
        return sum(len(str(m.get("content", ""))) for m in request.get("messages", ())) // 4


class _ScriptedStream:
    """The reply as the events a stream would carry, then the final message."""

    def __init__(self, message: _types.Message) -> None:
        self._message = message
        self.incomplete: list[int] = []

    async def __aenter__(self) -> _ScriptedStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def __aiter__(self) -> _AsyncIterator[_types.StreamEvent]:
        return self._events()

    async def _events(self) -> _AsyncIterator[_types.StreamEvent]:
        for event in _events_of(self._message):
            yield event

    async def get_final_message(self) -> _types.Message:
        return self._message


def _as_message(reply: _Reply, model: str) -> _types.Message:
    if isinstance(reply, _types.Message):
        return reply
    if isinstance(reply, str):
        reply = {"content": [{"type": "text", "text": reply}]}
    content = reply.get("content", [])
    stop = reply.get("stop_reason") or (
        "tool_use" if any(b.get("type") == "tool_use" for b in content) else "end_turn"
    )
    return _types.decode_message(
        _msgspec.json.encode(
            {
                "id": reply.get("id", "msg_scripted"),
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": content,
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": reply.get("usage", {"input_tokens": 10, "output_tokens": 10}),
            }
        )
    )


def _events_of(message: _types.Message) -> list[_types.StreamEvent]:
    empty = _types.Message(
        id=message.id, model=message.model, content=[], stop_reason=None, usage=message.usage
    )
    events: list[_types.StreamEvent] = [_types.MessageStartEvent(message=empty)]
    for i, block in enumerate(message.content):
        if isinstance(block, _types.TextBlock):
            events.append(
                _types.ContentBlockStartEvent(index=i, content_block=_types.TextBlock(text=""))
            )
            events.append(
                _types.ContentBlockDeltaEvent(index=i, delta=_types.TextDelta(text=block.text))
            )
        elif isinstance(block, _types.ToolUseBlock):
            start = _types.ToolUseBlock(id=block.id, name=block.name, input={})
            events.append(_types.ContentBlockStartEvent(index=i, content_block=start))
            partial = _msgspec.json.encode(block.input).decode()
            events.append(
                _types.ContentBlockDeltaEvent(
                    index=i, delta=_types.InputJSONDelta(partial_json=partial)
                )
            )
        else:
            events.append(_types.ContentBlockStartEvent(index=i, content_block=block))
        events.append(_types.ContentBlockStopEvent(index=i))
    events.append(
        _types.MessageDeltaEvent(delta=_types.MessageDelta(stop_reason=message.stop_reason))
    )
    events.append(_types.MessageStopEvent())
    return events


# ---------------------------------------------------------------------- store conformance

_TURN: list[dict[str, _Any]] = [
    {"role": "user", "content": "weather?"},
    {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "w", "input": {}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]},
    {"role": "assistant", "content": [{"type": "text", "text": "Sunny."}]},
]
_MORE: list[dict[str, _Any]] = [
    {"role": "user", "content": "thanks"},
    {"role": "assistant", "content": "welcome"},
]


class _ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def check_store(make_store: _Callable[[_Callable[[], float]], _Any]) -> None:
    """Run the store conformance suite; ``make_store(clock)`` returns a fresh, empty store
    reading time from ``clock()``. Raises AssertionError naming the rule that failed."""
    for check in _CHECKS:
        clock = _ManualClock()
        store = make_store(clock)
        try:
            await check(store, clock)
        except AssertionError as exc:
            raise AssertionError(f"{check.__name__}: {exc}") from exc
        finally:
            close = getattr(store, "close", None)
            if close is not None:
                await close()


async def _empty_session(store: _Any, clock: _ManualClock) -> None:
    loaded = await store.load("nobody")
    assert (loaded.seq, loaded.messages) == (0, []), "an unknown session loads empty"


async def _commit_and_load(store: _Any, clock: _ManualClock) -> None:
    lease = await store.acquire("s1", "w1", 60)
    assert await store.commit(lease, 0, _TURN) == 4, "commit returns the new length"
    await store.release(lease)
    loaded = await store.load("s1")
    assert loaded.seq == 4 and loaded.messages == _TURN, "a turn loads back whole"
    lease = await store.acquire("s1", "w1", 60)
    assert await store.commit(lease, 4, _MORE) == 6
    assert (await store.load("s1")).messages == _TURN + _MORE, "turns append in order"
    assert [(i.session_id, i.seq) for i in await store.sessions()] == [("s1", 6)]
    assert [i.session_id for i in await store.sessions("s")] == ["s1"], "a prefix selects"
    assert [i.session_id for i in await store.sessions(newest=1)] == ["s1"], "the newest"
    assert await store.sessions("s2") == [] and await store.sessions("t") == []
    whole = _TURN + _MORE
    assert await store.page("s1", 0, 2) == whole[:2], "a page is read from the start"
    assert await store.page("s1", 3, 2) == whole[3:5], "a page is read from the middle"
    assert await store.page("s1", 5, 10) == whole[5:], "the last page is short"
    assert await store.page("s1", 6, 10) == [], "past the end there is nothing"
    assert await store.page("nobody", 0, 10) == [], "an unknown session has no pages"


async def _one_writer_at_a_time(store: _Any, clock: _ManualClock) -> None:
    await store.acquire("s1", "w1", 60)
    try:
        await store.acquire("s1", "w2", 60)
    except _SessionBusyError as exc:
        assert exc.retry_after is not None and abs(exc.retry_after - 60) < 1e-6
    else:
        raise AssertionError("a second writer took a held lease")
    clock.now += 61  # the lease expired: another writer may take over
    assert (await store.acquire("s1", "w2", 60)).owner == "w2", "an expired lease is free"


async def _stale_writer_can_never_commit(store: _Any, clock: _ManualClock) -> None:
    old = await store.acquire("s1", "w1", 10)
    clock.now += 11
    new = await store.acquire("s1", "w2", 60)
    assert new.token > old.token, "each acquisition gets a larger fencing token"
    try:
        await store.commit(old, 0, _TURN)
    except _StaleWriterError:
        pass
    else:
        raise AssertionError("a writer whose lease was taken over committed")
    assert await store.commit(new, 0, _TURN) == 4
    await store.release(old)  # releasing a stale lease must not free the new holder's
    try:
        await store.acquire("s1", "w3", 60)
    except _SessionBusyError:
        pass
    else:
        raise AssertionError("releasing a stale lease freed the current one")


async def _sequence_conflict(store: _Any, clock: _ManualClock) -> None:
    lease = await store.acquire("s1", "w1", 60)
    await store.commit(lease, 0, _TURN)
    try:
        await store.commit(lease, 0, _TURN)  # it read seq 0, but seq is now 4
    except _StaleWriterError:
        pass
    else:
        raise AssertionError("a commit based on an old seq went through")
    assert (await store.load("s1")).seq == 4


async def _delete_and_prune(store: _Any, clock: _ManualClock) -> None:
    for sid in ("a", "b"):
        lease = await store.acquire(sid, "w", 60)
        await store.commit(lease, 0, _TURN)
        await store.release(lease)
    clock.now += 100
    lease = await store.acquire("b", "w", 60)
    await store.commit(lease, 4, _MORE)
    await store.release(lease)
    assert await store.prune(older_than=50) == 1, "prune removes sessions idle that long"
    assert [i.session_id for i in await store.sessions()] == ["b"]
    assert await store.delete("b") is True
    assert await store.sessions() == []


async def _a_session_started_again_is_a_new_epoch(store: _Any, clock: _ManualClock) -> None:
    lease = await store.acquire("s1", "w1", 60)
    await store.commit(lease, 0, _TURN)
    await store.release(lease)
    assert await store.delete("s1") is True
    again = await store.acquire("s1", "w1", 60)
    assert again.epoch and again.epoch != lease.epoch, (
        "a deleted and re-created session must not repeat (epoch, token)"
    )


async def _load_since_a_turn(store: _Any, clock: _ManualClock) -> None:
    lease = await store.acquire("s1", "w1", 60)
    await store.commit(lease, 0, _TURN)
    await store.commit(lease, 4, _MORE)
    tail = await store.load("s1", since=4)
    assert (tail.seq, tail.start, tail.messages) == (6, 4, _MORE), "a load since a turn"
    head = await store.load("s1", since=10**9)
    assert (head.seq, head.messages) == (6, []), "a load past the end has the seq only"


async def _search_finds_old_turns_by_word(store: _Any, clock: _ManualClock) -> None:
    lease = await store.acquire("s1", "w1", 60)
    seq = 0
    turns: list[list[dict[str, _Any]]] = [
        [
            {"role": "user", "content": f"note {i}: the ferry leaves at {i} o'clock"},
            {"role": "assistant", "content": [{"type": "text", "text": f"noted {i}"}]},
        ]
        for i in range(30)
    ]
    turns[3][0]["content"] = "the vault code is 4417, and the ferry is late"
    for turn in turns:
        seq = await store.commit(lease, seq, turn)
    found = await store.search("s1", {"vault"}, 60, 5)
    assert found == [(6, turns[3])], "a word said once finds its turn"
    found = await store.search("s1", {"ferry", "vault"}, 60, 4)
    assert [s for s, _ in found] == [6, 54, 56, 58], "rarest word first, then the newest"
    found = await store.search("s1", {"ferry"}, 50, 2)
    assert [s for s, _ in found] == [46, 48], "only turns that end before `before`"
    assert await store.search("s1", {"nowhere"}, 60, 5) == [], "an unknown word finds nothing"
    assert await store.search("nobody", {"ferry"}, 60, 5) == [], "nor does an unknown session"
    await store.delete("s1")
    assert await store.search("s1", {"ferry"}, 60, 5) == [], "a deleted session's words go"


async def _a_paused_first_turn_is_listed(store: _Any, clock: _ManualClock) -> None:
    lease = await store.acquire("p1", "w1", 60)
    await store.save_pending(lease, 0, b'{"pending": []}')
    await store.release(lease)
    listed = [(i.session_id, i.seq) for i in await store.sessions()]
    assert listed == [("p1", 0)], "a session whose first turn waits for approval is listed"
    lease = await store.acquire("p1", "w1", 60)
    assert await store.take_pending(lease, b'{"pending": []}')
    await store.release(lease)
    assert await store.sessions() == [], "once taken, an empty session is not listed"


async def _the_newest_sessions_come_first(store: _Any, clock: _ManualClock) -> None:
    for name in ("a", "c", "b"):  # updated in this order
        clock.now += 1
        lease = await store.acquire(name, "w1", 60)
        await store.commit(lease, 0, _TURN)
        await store.release(lease)
    assert [i.session_id for i in await store.sessions()] == ["a", "b", "c"], "by id"
    newest = [i.session_id for i in await store.sessions(newest=2)]
    assert newest == ["b", "c"], "the most recently updated, newest first"


_CHECKS = (
    _empty_session,
    _the_newest_sessions_come_first,
    _a_paused_first_turn_is_listed,
    _load_since_a_turn,
    _search_finds_old_turns_by_word,
    _a_session_started_again_is_a_new_epoch,
    _commit_and_load,
    _one_writer_at_a_time,
    _stale_writer_can_never_commit,
    _sequence_conflict,
    _delete_and_prune,
)
