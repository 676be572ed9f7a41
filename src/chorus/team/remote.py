"""A remote A2A agent as a team member: it bids and is awarded tasks like a local one.

``RemoteAgent("translator", "https://agents.example.com/a2a/translator",
allow_hosts=["agents.example.com"])`` refuses, at once and before any request, a URL
whose host is not on ``allow_hosts``; a host allowed by name is held to public addresses
at every resolution (an address of its own on the list excepted), and the connection goes
to the address that was checked. :meth:`RemoteAgent.connect` reads its agent card:
the card's skills become the member's capabilities (so the registry finds it by name or
by the words of a task), and the card's JSON-RPC endpoint (A2A 1.0, or 0.3 if that is all
it speaks) is where its tasks go; an endpoint on a host not on the list is refused too.

Awarded a task, it sends it with A2A ``SendMessage`` (blocking; if the remote answers
before the task ends, it polls ``GetTask``) and takes the reply's text as the answer. The
message id is derived from the team's task id, so a repeated send is the same message to
a server that deduplicates by ``messageId`` (chorus does). A failure (unreachable, an
error response, a task that failed, was canceled or waits for input) raises
:class:`~chorus.errors.RemoteAgentError`, and the team re-awards the task.

The wire rules are :mod:`chorus.protocol.a2a_remote` and :mod:`chorus.protocol.a2a_card`;
this is their driver, over the client's :class:`~chorus.client.transport.Transport` seam.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any

import msgspec

from chorus.agent.capability import Capability
from chorus.client.transport import AiohttpTransport, Transport
from chorus.errors import AddressRefusedError, APIError, ConfigError, RemoteAgentError
from chorus.protocol.a2a import RpcError
from chorus.protocol.a2a_card import (
    address_refusal,
    card_url,
    credential_header,
    endpoint_of,
    host_refusal,
    skills_of,
)
from chorus.protocol.a2a_remote import METHODS, RemoteTask, read_reply, request, send_params
from chorus.protocol.types import Usage
from chorus.team.delegation import in_task

__all__ = ["RemoteAgent", "RemoteResult"]

_MOST = 1 << 20  # the largest card or reply read


class _Unreachable(RemoteAgentError):
    """No answer, or a 5xx: worth asking again while the server starts."""


@dataclass(slots=True)
class RemoteResult:
    """A remote agent's answer, shaped as a run's result (output, usage, cost)."""

    output: str
    usage: Usage = field(default_factory=Usage)
    cost: float = 0.0
    task_id: str | None = None


class RemoteAgent:
    """An agent served elsewhere over A2A, standing in a team as a member."""

    output = None  # it answers in text: a team compares its answers by their words

    def __init__(
        self,
        name: str,
        url: str,
        *,
        allow_hosts: tuple[str, ...] | list[str],
        key: str | None = None,
        timeout: float = 120.0,
        transport: Transport | None = None,
        poll: float = 0.5,
    ) -> None:
        self.name, self.url = name, url
        self.allow_hosts = tuple(allow_hosts)
        self.card_url = card_url(url)
        refusal = host_refusal(self.card_url, self.allow_hosts)
        if refusal is not None:
            raise ConfigError(f"remote agent {name!r}: {refusal}")
        self.key, self.timeout, self.poll = key, timeout, poll
        self.capabilities: tuple[Capability, ...] = ()
        self.card: dict[str, Any] | None = None
        self.endpoint: str | None = None
        self.dialect = "1.0"
        # (a transport given here is trusted to vet addresses itself, or to need none)
        self._transport: Transport = transport or AiohttpTransport(
            read_timeout=None,
            vet=lambda host, address, port: address_refusal(host, address, port, self.allow_hosts),
        )
        self._owns_transport = transport is None
        self._ids = itertools.count(1)

    def __repr__(self) -> str:
        return f"RemoteAgent({self.name!r}, {self.url!r})"

    # ------------------------------------------------------------------ the card

    async def connect(self, *, wait: float = 10.0) -> None:
        """Read the card, trying again for up to ``wait`` seconds while the remote is
        unreachable or answers 5xx; raises RemoteAgentError if it never gives one."""
        loop = asyncio.get_running_loop()
        until = loop.time() + wait
        pause = 0.1
        while True:
            try:  # (a host that accepts and then says nothing is given up on too)
                async with asyncio.timeout_at(until):
                    card = await self._fetch_card()
                break
            except TimeoutError:
                raise RemoteAgentError(
                    f"{self.name}: no card from {self.card_url} within {wait:g} s"
                ) from None
            except _Unreachable:
                if loop.time() + pause > until:
                    raise
            await asyncio.sleep(pause)
            pause = min(1.0, pause * 2)
        if not _same_scheme(self.card_url, card):
            raise RemoteAgentError(
                f"{self.name}: its card at {self.card_url} sends tasks over plain http; "
                "a card read over https must name an https endpoint"
            )
        found = endpoint_of(card)
        if found is None:
            raise RemoteAgentError(
                f"{self.name}: the card at {self.card_url} names no JSON-RPC endpoint"
            )
        endpoint, dialect = found
        refusal = host_refusal(endpoint, self.allow_hosts)
        if refusal is not None:
            raise RemoteAgentError(f"{self.name}: its card sends tasks to {endpoint}: {refusal}")
        skills = skills_of(card)
        if skills:
            caps = [  # (the registry matches a capability's name and description)
                Capability(
                    s.id,
                    " ".join([s.description, *(t for t in s.tags if t not in (s.id, s.name))]),
                )
                for s in skills
            ]
        else:
            caps = [Capability(self.name, str(card.get("description") or ""))]
        self.card, self.endpoint, self.dialect = card, endpoint, dialect
        self.capabilities = tuple(caps)

    async def _fetch_card(self) -> dict[str, Any]:
        status, body = await self._send("GET", self.card_url, None, {"Accept": "application/json"})
        if status != 200:
            kind = _Unreachable if status >= 500 else RemoteAgentError
            raise kind(f"{self.name}: {self.card_url} answered HTTP {status}")
        try:
            card = msgspec.json.decode(body)
        except msgspec.DecodeError:
            raise RemoteAgentError(
                f"{self.name}: the card at {self.card_url} is not JSON"
            ) from None
        if not isinstance(card, dict):
            raise RemoteAgentError(f"{self.name}: the card at {self.card_url} is not an object")
        return card

    async def _send(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        """One request; the transport's errors become RemoteAgentError here, and only here."""
        try:
            response = await self._transport.send(method, url, headers=headers, body=body)
            try:
                read = bytearray()
                async for chunk in response.chunks():
                    read += chunk
                    if len(read) > _MOST:
                        raise RemoteAgentError(f"{self.name}: {url} sent more than {_MOST} bytes")
                return response.status, bytes(read)
            finally:
                response.close()
        except AddressRefusedError as exc:  # (not unreachable: asking again is refused again)
            raise RemoteAgentError(f"{self.name}: {exc}") from exc
        except APIError as exc:
            raise _Unreachable(f"{self.name}: {exc}") from exc

    # ------------------------------------------------------------------ tasks

    def with_output(self, output_type: Any) -> RemoteAgent:
        raise ConfigError(
            f"{self.name} is a remote agent and answers in text; decide(output_type=...) "
            "needs local agents"
        )

    async def run(self, prompt: str) -> RemoteResult:
        """Send ``prompt`` as a task and return its answer; RemoteAgentError if it fails."""
        if self.endpoint is None:
            await self.connect()
        here = in_task.get()
        # One message per award: a redelivered award is deduplicated by the remote, while a
        # re-award of a task it failed is a new message, not the failed task again.
        if here is not None:
            message_id = f"chorus-{here.task_id}-{here.award}"
        else:
            message_id = f"chorus-{uuid.uuid4().hex}"
        task: RemoteTask | None = None
        try:
            async with asyncio.timeout(self.timeout):
                task = await self._call("send", send_params(self.dialect, str(prompt), message_id))
                while not task.done:
                    if task.id is None:
                        raise RemoteAgentError(f"{self.name}: the reply names no task to follow")
                    await asyncio.sleep(self.poll)
                    task = await self._call("get", {"id": task.id})
        except TimeoutError:
            await self._cancel(task)
            raise RemoteAgentError(f"{self.name}: no answer within {self.timeout:g} s") from None
        except asyncio.CancelledError:  # nobody waits for it any more: nor should the remote
            await self._cancel(task)
            raise
        if task.state != "completed":
            said = f": {task.text}" if task.text else ""
            raise RemoteAgentError(f"{self.name}: the task ended {task.state}{said}")
        facts = task.metadata.get("chorus") if isinstance(task.metadata, dict) else None
        usage, cost = Usage(), 0.0
        if isinstance(facts, dict):
            u: dict[str, Any] = facts["usage"] if isinstance(facts.get("usage"), dict) else {}
            usage = Usage(
                input_tokens=int(u.get("input_tokens", 0) or 0),
                output_tokens=int(u.get("output_tokens", 0) or 0),
            )
            cost = float(facts.get("cost", 0.0) or 0.0)
        return RemoteResult(task.text, usage, cost, task.id)

    async def _cancel(self, task: RemoteTask | None) -> None:
        """Ask the remote to cancel a task still running there (best effort, briefly)."""
        if task is None or task.done or task.id is None:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(self._call("cancel", {"id": task.id})), 2.0)

    async def _call(self, operation: str, params: dict[str, Any]) -> RemoteTask:
        assert self.endpoint is not None
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "A2A-Version": self.dialect,
        }
        if self.key and self.card is not None:
            headers.update(credential_header(self.card, self.key))
        method = METHODS[self.dialect][operation]
        body = request(method, params, next(self._ids))
        status, raw = await self._send("POST", self.endpoint, body, headers)
        if status != 200:
            raise RemoteAgentError(f"{self.name}: {method} answered HTTP {status}")
        try:
            return read_reply(msgspec.json.decode(raw), self.dialect)
        except msgspec.DecodeError:
            raise RemoteAgentError(f"{self.name}: {method}'s reply is not JSON") from None
        except RpcError as exc:
            raise RemoteAgentError(
                f"{self.name}: {method} failed ({exc.code}): {exc.message}"
            ) from None

    async def aclose(self) -> None:
        if self._owns_transport:
            await self._transport.aclose()


def _same_scheme(card_url: str, card: dict[str, Any]) -> bool:
    """A card read over https may not send tasks (and the key) over plain http."""
    found = endpoint_of(card)
    if found is None or not card_url.lower().startswith("https:"):
        return True
    return found[0].lower().startswith("https:")
