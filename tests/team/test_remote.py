"""A remote A2A agent as a team member, over a fake transport: the allow-list refuses a host
before any request, the card's skills become capabilities, a task goes by SendMessage (or
0.3's message/send) and its answer comes back; a failure is re-awarded. Over a real
connection: a name on the list that resolves to an internal address is not followed."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from chorus.agent import Agent
from chorus.errors import ConfigError, RemoteAgentError
from chorus.protocol import a2a
from chorus.protocol.a2a_card import Skill, agent_card
from chorus.protocol.a2a_v03 import for_dialect
from chorus.serve.config import load_serve_config
from chorus.team import Capability, Team
from chorus.team.remote import RemoteAgent
from chorus.testing import ScriptedModel

BASE = "http://agents.test/a2a/translator"
CARD = agent_card(
    name="translator",
    description="translates",
    url=BASE,
    version="1",
    skills=[Skill("translation", "translation", "translates text into French")],
    secured=True,
)


class _Response:
    def __init__(self, status: int, body: bytes) -> None:
        self.status, self.body, self.headers = status, body, {}

    async def read(self) -> bytes:
        return self.body

    async def _chunks(self) -> AsyncIterator[bytes]:
        yield self.body

    def chunks(self) -> AsyncIterator[bytes]:
        return self._chunks()

    def close(self) -> None:
        pass


Answer = Callable[[str, str, dict[str, Any] | None], tuple[int, Any]]


class FakeTransport:
    """Answers each request with ``answer(method, url, json body)``; records them all."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.sent: list[tuple[str, str, Mapping[str, str], dict[str, Any] | None]] = []

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        expires_in: float | None = None,
    ) -> _Response:
        data = json.loads(body) if body else None
        self.sent.append((method, url, headers, data))
        status, payload = self.answer(method, url, data)
        return _Response(status, json.dumps(payload).encode())

    async def aclose(self) -> None:
        pass


def task_reply(state: str, rid: Any, text: str = "", tid: str = "ctx:1") -> dict[str, Any]:
    status = {"running": "running", "done": "done", "failed": "failed"}[state]
    result = {"output": text, "stop_reason": "end_turn"} if state == "done" else None
    events = [(1, "error", {"type": "boom", "message": text})] if state == "failed" else []
    context, turn = tid.rsplit(":", 1)
    task = a2a.turn_task(context, int(turn), status, result, events)
    return {"jsonrpc": "2.0", "id": rid, "result": {"task": task}}


def remote_agent(answer: Answer, **options: Any) -> tuple[RemoteAgent, FakeTransport]:
    transport = FakeTransport(answer)
    member = RemoteAgent(
        "translator", BASE, allow_hosts=["agents.test"], transport=transport, **options
    )
    return member, transport


def test_a_host_not_on_the_allow_list_is_refused_before_any_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_connect(*args: Any) -> None:
        raise AssertionError("a connection was attempted")

    monkeypatch.setattr(socket.socket, "connect", no_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", no_connect)
    config = tmp_path / "serve.yaml"
    config.write_text(
        """
agents: [{name: coder}]
a2a: {allow_hosts: [agents.test]}
remote_agents:
  - {name: translator, url: "http://169.254.169.254/latest/meta-data"}
teams: [{name: crew, agents: [coder, translator]}]
"""
    )
    with pytest.raises(ConfigError) as refused:
        load_serve_config(str(config))
    message = str(refused.value)
    assert "remote_agents[0].url: host 169.254.169.254 is not on a2a.allow_hosts" in message
    assert "\n" not in message
    transport = FakeTransport(lambda *_: (200, {}))
    with pytest.raises(ConfigError, match=r"not on a2a\.allow_hosts"):
        RemoteAgent("x", "http://evil.test/a2a/x", allow_hosts=["agents.test"], transport=transport)
    with pytest.raises(ConfigError, match=r"not on a2a\.allow_hosts"):
        RemoteAgent("x", "http://agents.test/a2a/x", allow_hosts=[], transport=transport)
    assert transport.sent == []  # nothing was asked of anyone


async def test_a_card_that_sends_tasks_to_another_host_is_refused() -> None:
    elsewhere = {
        **CARD,
        "supportedInterfaces": [{**CARD["supportedInterfaces"][0], "url": "http://evil.test/rpc"}],
    }
    member, transport = remote_agent(lambda *_: (200, elsewhere))
    with pytest.raises(RemoteAgentError, match=r"evil\.test is not on a2a\.allow_hosts"):
        await member.connect()
    assert [(m, u) for m, u, _, _ in transport.sent] == [
        ("GET", BASE + "/.well-known/agent-card.json")
    ]


async def test_its_skills_become_capabilities_and_a_task_goes_by_send_message() -> None:
    def answer(method: str, url: str, body: dict[str, Any] | None) -> tuple[int, Any]:
        if method == "GET":
            return 200, CARD
        assert body is not None
        if body["method"] == "SendMessage":  # the remote answers early: the member polls
            return 200, task_reply("running", body["id"])
        return 200, task_reply("done", body["id"], "Bonjour")

    member, transport = remote_agent(answer, key="sk-1", poll=0.01)
    await member.connect()
    assert member.capabilities == (Capability("translation", "translates text into French"),)
    async with Team([member], bid_window=0.05) as team:
        result = await team.assign("translation", "say good morning in French")
    assert (result.agent, result.output) == ("translator", "Bonjour")
    posts = [(h, b) for m, _, h, b in transport.sent if m == "POST"]
    (headers, send), (_, get) = posts[0], posts[1]
    assert send["method"] == "SendMessage" and get["method"] == "GetTask"
    assert send["params"]["message"]["messageId"].startswith(f"chorus-{result.task_id}-")
    assert send["params"]["message"]["parts"] == [{"text": "say good morning in French"}]
    assert get["params"] == {"id": "ctx:1"}
    assert headers["Authorization"] == "Bearer sk-1" and headers["A2A-Version"] == "1.0"


async def test_a_0_3_agent_is_spoken_to_in_0_3() -> None:
    old_card = {
        "name": "old",
        "url": "http://agents.test/rpc",
        "protocolVersion": "0.3.0",
        "skills": [{"id": "sums", "name": "sums", "description": "adds numbers", "tags": ["math"]}],
    }

    def answer(method: str, url: str, body: dict[str, Any] | None) -> tuple[int, Any]:
        if method == "GET":
            return 200, old_card
        assert body is not None and body["method"] == "message/send"
        task = a2a.turn_task("c", 1, "done", {"output": "4"}, [])
        return 200, {
            "jsonrpc": "2.0",
            "id": body["id"],
            "result": for_dialect("send", task, "0.3"),
        }

    member, transport = remote_agent(answer)
    await member.connect()
    assert member.capabilities == (Capability("sums", "adds numbers math"),)
    result = await member.run("2 + 2")
    assert result.output == "4"
    sent = transport.sent[-1][3]
    assert sent is not None
    assert sent["params"]["message"]["parts"] == [{"kind": "text", "text": "2 + 2"}]
    assert sent["params"]["configuration"]["blocking"] is True


async def test_a_remote_that_fails_is_given_up_on_and_the_task_re_awarded() -> None:
    def answer(method: str, url: str, body: dict[str, Any] | None) -> tuple[int, Any]:
        if method == "GET":
            return 200, CARD
        assert body is not None
        return 200, task_reply("failed", body["id"], "out of paper")

    member, _ = remote_agent(answer)
    await member.connect()
    with pytest.raises(RemoteAgentError, match="ended failed: boom: out of paper"):
        await member.run("translate")
    local = Agent(
        model="claude-sonnet-4-5",
        client=ScriptedModel(lambda request: "Guten Morgen"),
        name="zz-local",
        capabilities=[Capability("translation", "translates")],
        context=False,
    )
    async with Team([member, local], bid_window=0.05) as team:
        events = [e async for e in team.stream_assign("translation", "good morning")]
    awarded = [e.agent for e in events if e.kind == "awarded"]
    assert awarded == ["translator", "zz-local"]  # the remote first (a tie goes by name)
    ended = next(e for e in events if e.kind == "award_ended")
    assert "RemoteAgentError" in ended.reason
    assert events[-1].kind == "task_completed" and events[-1].result.output == "Guten Morgen"


async def test_unreachable_errors_and_refusals_are_remote_agent_errors() -> None:
    def refused(method: str, url: str, body: dict[str, Any] | None) -> tuple[int, Any]:
        if method == "GET":
            return 200, CARD
        return 401, {"type": "error", "error": {"message": "invalid key"}}

    member, _ = remote_agent(refused)
    with pytest.raises(RemoteAgentError, match="HTTP 401"):
        await member.run("x")  # (it reads the card first)

    def erring(method: str, url: str, body: dict[str, Any] | None) -> tuple[int, Any]:
        if method == "GET":
            return 200, CARD
        return 200, {"jsonrpc": "2.0", "id": 1, "error": {"code": -32000, "message": "busy"}}

    member, _ = remote_agent(erring)
    with pytest.raises(RemoteAgentError, match=r"\(-32000\): busy"):
        await member.run("x")
    member, _ = remote_agent(lambda *_: (404, {}))
    with pytest.raises(RemoteAgentError, match="HTTP 404"):
        await member.connect(wait=0.1)
    with pytest.raises(ConfigError, match="answers in text"):
        member.with_output(int)


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ("remote_agents: [{name: coder, url: 'http://agents.test/a'}]", "already an agent's name"),
        ("remote_agents: [{name: t, url: 'http://agents.test/a', timeout: 0}]", "timeout"),
        ("remote_agents: [{name: t, url: 'http://u:p@agents.test/a'}]", "credentials"),
        ("remote_agents: [{name: t, url: 'http://agents.test/a', colour: red}]", "colour"),
        ("a2a: {allow_hosts: ['agents.test/x']}", "a2a.allow_hosts[0]"),
        ("a2a: {public_url: 'agents.test'}", "a2a.public_url"),
        ("teams: [{name: crew, agents: [coder, ghost]}]", "names no agent"),
    ],
)
def test_the_a2a_config_is_checked_whole_at_load(tmp_path: Path, extra: str, words: str) -> None:
    config = tmp_path / "serve.yaml"
    allow = "" if extra.startswith("a2a:") else "a2a: {allow_hosts: [agents.test]}\n"
    config.write_text(f"agents: [{{name: coder}}]\n{allow}{extra}\n")
    with pytest.raises(ConfigError) as refused:
        load_serve_config(str(config))
    assert words in str(refused.value) and "\n" not in str(refused.value)


def test_a_team_may_name_a_remote_agent(tmp_path: Path) -> None:
    config = tmp_path / "serve.yaml"
    config.write_text(
        "agents: [{name: coder}]\n"
        "a2a: {allow_hosts: [agents.test]}\n"
        "remote_agents: [{name: translator, url: 'https://agents.test/a2a/translator'}]\n"
        "teams: [{name: crew, agents: [coder, translator]}]\n"
    )
    loaded = load_serve_config(str(config))
    assert loaded.teams[0].agents == ("coder", "translator")


async def test_a_host_that_accepts_and_never_answers_is_given_up_on_at_its_wait() -> None:
    import asyncio

    class Silent(FakeTransport):
        async def send(self, method: str, url: str, **kw: Any) -> _Response:
            await asyncio.sleep(3600)
            raise AssertionError("unreachable")

    member = RemoteAgent(
        "translator", BASE, allow_hosts=["agents.test"], transport=Silent(lambda *a: (200, {}))
    )
    with pytest.raises(RemoteAgentError, match="no card"):
        await asyncio.wait_for(member.connect(wait=0.2), 5)


async def test_a_card_read_over_https_may_not_send_tasks_over_http() -> None:
    secure = "https://agents.test/a2a/translator"  # CARD names the http endpoint BASE
    transport = FakeTransport(lambda method, url, body: (200, CARD))
    member = RemoteAgent("translator", secure, allow_hosts=["agents.test"], transport=transport)
    with pytest.raises(RemoteAgentError, match="plain http"):
        await member.connect(wait=0.5)
    assert [m for m, *_ in transport.sent] == ["GET"]  # the card only: no task was sent


async def test_a_name_that_resolves_to_an_internal_address_is_refused_before_connecting() -> None:
    """Resolved for real: ``localhost`` is on the list by name, and leads to loopback. The
    card is not fetched from there (the server sees no request), and the refusal says how to
    allow the address; with the addresses listed too, the same card is read."""
    import asyncio

    asked: list[str] = []

    async def card(request: web.Request) -> web.Response:
        asked.append(request.path)
        port = request.url.port
        endpoint = f"http://localhost:{port}/a2a/translator"
        return web.json_response(
            agent_card(
                name="translator",
                description="translates",
                url=endpoint,
                version="1",
                skills=[Skill("translation", "translation", "translates text")],
                secured=False,
            )
        )

    app = web.Application()
    app.router.add_get("/a2a/translator/.well-known/agent-card.json", card)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    url = f"http://localhost:{port}/a2a/translator"
    try:
        member = RemoteAgent("translator", url, allow_hosts=[f"localhost:{port}"])
        try:
            with pytest.raises(RemoteAgentError, match=r"^translator: localhost resolved to "):
                await asyncio.wait_for(member.connect(wait=5), 10)
        finally:
            await member.aclose()
        assert asked == []  # refused before any connection was made
        listed = [f"localhost:{port}", "127.0.0.1", "::1"]
        member = RemoteAgent("translator", url, allow_hosts=listed)
        try:
            await asyncio.wait_for(member.connect(wait=5), 10)
        finally:
            await member.aclose()
        assert asked == ["/a2a/translator/.well-known/agent-card.json"]
        assert [c.name for c in member.capabilities] == ["translation"]
    finally:
        await runner.cleanup()
