"""The official a2a-sdk client, unmodified, against a real ``chorus serve`` process: agent
cards, send, stream and resume, get, list, cancel, approvals, messageId dedupe, tenants,
the 0.3 dialect, a team's endpoint, and bad JSON-RPC answered with A2A's codes."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from a2a.client import (
    A2ACardResolver,
    AuthInterceptor,
    Client,
    ClientCallContext,
    ClientConfig,
    ClientFactory,
    CredentialService,
)
from a2a.types.a2a_pb2 import (
    AgentCard,
    CancelTaskRequest,
    GetTaskRequest,
    ListTasksRequest,
    Message,
    Part,
    Role,
    SendMessageConfiguration,
    SendMessageRequest,
    StreamResponse,
    SubscribeToTaskRequest,
    Task,
    TaskState,
)
from a2a.utils.errors import (
    InvalidParamsError,
    TaskNotCancelableError,
    TaskNotFoundError,
    UnsupportedOperationError,
)
from google.protobuf.json_format import MessageToDict

from tests.serve.process import chorus_serve

CONFIG = """
agents:
  - name: assistant
    description: Answers questions; looks up the weather; sends email once approved.
    tools: ["chorus.serve.demo:get_weather", "chorus.serve.demo:send_email"]
  - name: slow
    tools: ["tests.serve.a2a_tools:linger"]
    capabilities: [{name: waiting, description: lingers a long while}]
  - name: coder
    capabilities: [{name: python, description: writes and fixes Python code}]
teams:
  - {name: crew, agents: [coder], bid_window: 0.05}
  - {name: patient, agents: [slow], bid_window: 0.05}
store: {memory: true}
keys:
  - {key: sk-acme, tenant: acme, scopes: [turns, teams]}
  - {key: sk-other, tenant: other, scopes: [turns, teams]}
"""
WEATHER = "What is the weather in Lyon?"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from chorus_serve(tmp_path_factory.mktemp("a2a"), CONFIG)


class _Key(CredentialService):
    def __init__(self, key: str) -> None:
        self.key = key

    async def get_credentials(self, scheme: str, context: ClientCallContext | None) -> str:
        return self.key


async def _card(server: str, agent: str) -> AgentCard:
    async with httpx.AsyncClient() as http:
        return await A2ACardResolver(http, f"{server}/a2a/{agent}").get_agent_card()


async def connect(
    server: str, agent: str = "assistant", key: str = "sk-acme", *, streaming: bool = True
) -> Client:
    """A client as the SDK makes one: from the card, the key sent as the card says."""
    card = await _card(server, agent)
    factory = ClientFactory(ClientConfig(streaming=streaming))
    return factory.create(card, interceptors=[AuthInterceptor(_Key(key))])


def ask(text: str, message_id: str, **fields: Any) -> SendMessageRequest:
    message = Message(message_id=message_id, role=Role.ROLE_USER, parts=[Part(text=text)])
    for name, value in fields.items():
        setattr(message, name, value)
    return SendMessageRequest(message=message)


async def sent(client: Client, request: SendMessageRequest) -> list[StreamResponse]:
    return [event async for event in client.send_message(request)]


def rest(server: str, path: str, key: str = "sk-acme") -> Any:
    request = urllib.request.Request(server + path, headers={"x-api-key": key})
    with urllib.request.urlopen(request, timeout=10) as r:
        return json.loads(r.read())


def answer(task: Task) -> str:
    return "".join(p.text for a in task.artifacts for p in a.parts)


# ---------------------------------------------------------------------- cards


async def test_every_agent_and_team_publishes_a_card_the_sdk_reads(server: str) -> None:
    async with httpx.AsyncClient() as http:
        default = await A2ACardResolver(http, server).get_agent_card()  # no key needed
    assert default.name == "assistant"  # the first agent in the config
    assert default.capabilities.streaming and not default.capabilities.push_notifications
    (v1, v03) = default.supported_interfaces
    assert (v1.url, v1.protocol_binding, v1.protocol_version) == (
        f"{server}/a2a/assistant",
        "JSONRPC",
        "1.0",
    )
    assert v03.protocol_version == "0.3" and v03.url == v1.url
    assert default.description.startswith("Answers questions")
    assert {s.id for s in default.skills} == {"get_weather", "send_email"}  # from its tools
    assert default.security_schemes["bearer"].http_auth_security_scheme.scheme == "Bearer"
    api_key = default.security_schemes["apiKey"].api_key_security_scheme
    assert (api_key.location, api_key.name) == ("header", "x-api-key")
    coder = await _card(server, "coder")
    assert [(s.id, s.description) for s in coder.skills] == [
        ("python", "writes and fixes Python code")
    ]
    async with httpx.AsyncClient() as http:
        team = await A2ACardResolver(http, f"{server}/a2a/teams/crew").get_agent_card()
    assert team.supported_interfaces[0].url == f"{server}/a2a/teams/crew"
    assert [s.id for s in team.skills] == ["python"]


async def test_cards_carry_an_etag_and_cache_control_and_revalidate_with_304(server: str) -> None:
    async with httpx.AsyncClient() as http:
        first = await http.get(f"{server}/a2a/coder/.well-known/agent-card.json")
        tag = first.headers["ETag"]
        assert first.status_code == 200 and tag.startswith('W/"')
        assert "max-age" in first.headers["Cache-Control"]
        again = await http.get(
            f"{server}/a2a/coder/.well-known/agent-card.json", headers={"If-None-Match": tag}
        )
        assert again.status_code == 304 and again.headers["ETag"] == tag and not again.content
        other = await http.get(f"{server}/a2a/assistant/.well-known/agent-card.json")
        assert other.headers["ETag"] != tag
        missing = await http.get(f"{server}/a2a/nobody/.well-known/agent-card.json")
        assert missing.status_code == 404
        unauthenticated = await http.post(f"{server}/a2a/assistant", json={})
        assert unauthenticated.status_code == 401  # the endpoint takes the API's keys


# ---------------------------------------------------------------------- turns as tasks


async def test_send_runs_a_turn_and_returns_its_task_then_get_reads_it(server: str) -> None:
    client = await connect(server, streaming=False)
    (reply,) = await sent(client, ask(WEATHER, "send-1"))
    task = reply.task
    assert task.status.state == TaskState.TASK_STATE_COMPLETED
    assert "12 C and clear in Lyon" in answer(task)  # the tool ran on the server
    context, turn = task.id.rsplit(":", 1)
    assert task.context_id == context and turn == "1"
    got = await client.get_task(GetTaskRequest(id=task.id, history_length=10))
    assert answer(got) == answer(task)
    roles = [m.role for m in got.history]
    assert roles[0] == Role.ROLE_USER and got.history[0].message_id == "send-1"
    assert got.history[0].parts[0].text == WEATHER
    assert Role.ROLE_AGENT in roles and len(got.history) == 4  # ask, tool use, result, answer
    last = await client.get_task(GetTaskRequest(id=task.id, history_length=1))
    assert len(last.history) == 1 and last.history[0].role == Role.ROLE_AGENT
    none = await client.get_task(GetTaskRequest(id=task.id, history_length=0))
    assert not none.history
    facts = MessageToDict(got.metadata)["chorus"]
    assert facts["turn"] == 1 and facts["usage"]["input_tokens"] > 0  # chorus's own facts
    # the context is a chorus session: the REST API sees the same turn
    page = rest(server, f"/v1/agents/assistant/sessions/{context}")
    assert page["turns"] == 1 and page["messages"][0]["content"] == WEATHER
    await client.close()


async def test_a_stream_sends_task_status_and_artifact_events_that_add_up(server: str) -> None:
    client = await connect(server)
    events = await sent(client, ask(WEATHER, "stream-1"))
    kinds = [e.WhichOneof("payload") for e in events]
    assert kinds[0] == "task" and events[0].task.status.state == TaskState.TASK_STATE_WORKING
    assert "artifact_update" in kinds and "status_update" in kinds
    final = events[-1].status_update
    assert final.status.state == TaskState.TASK_STATE_COMPLETED
    text = ""
    for e in events:  # the answer, applied as A2A says: append, or replace
        if e.HasField("artifact_update"):
            chunk = "".join(p.text for p in e.artifact_update.artifact.parts)
            text = text + chunk if e.artifact_update.append else chunk
    tools = [
        MessageToDict(e.status_update.status.message)["parts"][0]["data"]
        for e in events
        if e.HasField("status_update") and e.status_update.status.HasField("message")
    ]
    assert tools[0]["toolCall"]["name"] == "get_weather" and "toolResult" in tools[1]
    got = await client.get_task(GetTaskRequest(id=final.task_id))
    assert text == answer(got) and "12 C and clear in Lyon" in text
    await client.close()


async def _raw_stream(
    server: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> list[tuple[str | None, dict[str, Any]]]:
    """SSE as it comes off the wire: (id, data) pairs."""
    out: list[tuple[str | None, dict[str, Any]]] = []
    heads = {"Authorization": "Bearer sk-acme", "A2A-Version": "1.0", **(headers or {})}
    async with (
        httpx.AsyncClient(timeout=30) as http,
        http.stream("POST", f"{server}/a2a/assistant", json=body, headers=heads) as r,
    ):
        assert r.headers["content-type"].startswith("text/event-stream")
        event_id = None
        async for line in r.aiter_lines():
            if line.startswith("id: "):
                event_id = line[4:]
            elif line.startswith("data: "):
                out.append((event_id, json.loads(line[6:])))
                event_id = None
    return out


def _rpc(method: str, params: dict[str, Any], rid: int = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "method": method, "params": params}


def _message(text: str, message_id: str, **fields: Any) -> dict[str, Any]:
    return {"messageId": message_id, "role": "ROLE_USER", "parts": [{"text": text}], **fields}


async def test_a_dropped_stream_resumes_after_its_last_event_id(server: str) -> None:
    body = _rpc("SendStreamingMessage", {"message": _message(WEATHER, "resume-1")})
    whole = await _raw_stream(server, body)
    ids = [int(i) for i, _ in whole if i is not None]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    cut = ids[len(ids) // 2]
    tail = [d for i, d in whole][[i for i, _ in whole].index(str(cut)) + 1 :]
    # a retried send (the same messageId) resumes the same turn where the client was
    again = await _raw_stream(server, body, {"Last-Event-ID": str(cut)})
    assert [d["result"] for _, d in again] == [d["result"] for d in tail]
    task_id = whole[0][1]["result"]["task"]["id"]
    # and so does SubscribeToTask, after the turn ended
    subscribe = _rpc("SubscribeToTask", {"id": task_id})
    resumed = await _raw_stream(server, subscribe, {"Last-Event-ID": str(cut)})
    assert [d["result"] for _, d in resumed] == [d["result"] for d in tail]
    # one turn however often it was asked for
    context = task_id.rsplit(":", 1)[0]
    assert rest(server, f"/v1/agents/assistant/sessions/{context}")["turns"] == 1


async def test_subscribe_follows_a_running_task_and_refuses_an_ended_one(server: str) -> None:
    client = await connect(server, "slow")
    request = ask("please linger", "sub-1")
    request.configuration.CopyFrom(SendMessageConfiguration(return_immediately=True))
    (first, *_) = [e async for e in _first_events(client.send_message(request), 1)]
    task_id = first.task.id
    following = asyncio.create_task(_collect(client.subscribe(SubscribeToTaskRequest(id=task_id))))
    await asyncio.sleep(0.5)
    cancelled = await client.cancel_task(CancelTaskRequest(id=task_id))
    assert cancelled.status.state == TaskState.TASK_STATE_CANCELED
    events = await asyncio.wait_for(following, 10)
    assert events[0].task.id == task_id  # where it was, then what came
    assert events[-1].status_update.status.state == TaskState.TASK_STATE_CANCELED
    with pytest.raises(UnsupportedOperationError):
        await _collect(client.subscribe(SubscribeToTaskRequest(id=task_id)))
    await client.close()


async def _first_events(stream: AsyncIterator[StreamResponse], n: int) -> AsyncIterator[Any]:
    async for event in stream:
        yield event
        n -= 1
        if n == 0:
            return


async def _collect(stream: AsyncIterator[StreamResponse]) -> list[StreamResponse]:
    return [event async for event in stream]


async def test_cancel_stops_a_slow_turn_and_a_second_cancel_is_refused(server: str) -> None:
    client = await connect(server, "slow", streaming=False)
    request = ask("please linger", "cancel-1")
    request.configuration.CopyFrom(SendMessageConfiguration(return_immediately=True))
    (reply,) = await sent(client, request)
    assert reply.task.status.state == TaskState.TASK_STATE_WORKING
    await asyncio.sleep(0.3)  # the tool is running
    task = await client.cancel_task(CancelTaskRequest(id=reply.task.id))
    assert task.status.state == TaskState.TASK_STATE_CANCELED
    got = await client.get_task(GetTaskRequest(id=reply.task.id))
    assert got.status.state == TaskState.TASK_STATE_CANCELED
    with pytest.raises(TaskNotCancelableError):
        await client.cancel_task(CancelTaskRequest(id=reply.task.id))
    context = reply.task.context_id
    page = rest(server, f"/v1/agents/slow/sessions/{context}")
    assert page["length"] == 0  # nothing of the cancelled turn was committed
    await client.close()


async def test_a_message_sent_again_with_its_message_id_runs_once(server: str) -> None:
    client = await connect(server, streaming=False)
    replies = await asyncio.gather(
        *(sent(client, ask("hello there", "dedupe-1")) for _ in range(4))
    )
    later = await sent(client, ask("hello there", "dedupe-1"))
    ids = {r[0].task.id for r in [*replies, later]}
    assert len(ids) == 1
    context = ids.pop().rsplit(":", 1)[0]
    page = rest(server, f"/v1/agents/assistant/sessions/{context}")
    assert page["turns"] == 1 and page["length"] == 2  # one turn, committed once
    # in a context the client names, too
    named = [await sent(client, ask("hi again", "dedupe-2", context_id="chat-9")) for _ in range(2)]
    assert named[0][0].task.id == named[1][0].task.id == "chat-9:1"
    await client.close()


async def test_another_tenants_task_is_not_found(server: str) -> None:
    mine = await connect(server, streaming=False)
    theirs = await connect(server, key="sk-other", streaming=False)
    (reply,) = await sent(mine, ask("hello there", "tenant-1", context_id="shared-name"))
    for call in (
        theirs.get_task(GetTaskRequest(id=reply.task.id)),
        theirs.cancel_task(CancelTaskRequest(id=reply.task.id)),
    ):
        with pytest.raises(TaskNotFoundError):
            await call
    # the same context id is their own session: their first turn
    (own,) = await sent(theirs, ask("hello there", "tenant-2", context_id="shared-name"))
    assert own.task.id == "shared-name:1"
    assert rest(server, "/v1/agents/assistant/sessions/shared-name")["turns"] == 1
    # and the same messageId in another tenant is another message
    (again,) = await sent(theirs, ask("hello there", "tenant-1", context_id="shared-name"))
    assert again.task.id == "shared-name:2"
    await mine.close()
    await theirs.close()


async def test_list_tasks_pages_a_contexts_turns_newest_first(server: str) -> None:
    client = await connect(server, streaming=False)
    for i in range(3):
        await sent(client, ask(f"note {i}", f"list-{i}", context_id="listed"))
    page = await client.list_tasks(ListTasksRequest(context_id="listed", page_size=2))
    assert [t.id for t in page.tasks] == ["listed:3", "listed:2"]
    assert page.total_size == 3 and page.next_page_token
    rest_of = await client.list_tasks(
        ListTasksRequest(context_id="listed", page_size=2, page_token=page.next_page_token)
    )
    assert [t.id for t in rest_of.tasks] == ["listed:1"] and not rest_of.next_page_token
    done = await client.list_tasks(
        ListTasksRequest(context_id="listed", status=TaskState.TASK_STATE_COMPLETED)
    )
    assert done.total_size == 3 and not done.tasks[0].artifacts  # artifacts only if asked
    with pytest.raises(InvalidParamsError):
        await client.list_tasks(ListTasksRequest())
    await client.close()


async def test_a_turn_waiting_for_approval_is_input_required_and_a_reply_answers_it(
    server: str,
) -> None:
    client = await connect(server, streaming=False)
    (reply,) = await sent(client, ask("please send_email to bob", "approve-1"))
    paused = reply.task
    assert paused.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
    said = MessageToDict(paused.status.message)
    pending = said["parts"][1]["data"]["pending"]
    assert pending[0]["name"] == "send_email"
    with pytest.raises(TaskNotCancelableError):
        await client.cancel_task(CancelTaskRequest(id=paused.id))
    with pytest.raises(InvalidParamsError):  # a reply that says nothing about it
        await sent(client, ask("what?", "approve-2", task_id=paused.id))
    approval = Message(
        message_id="approve-3", role=Role.ROLE_USER, task_id=paused.id, context_id=paused.context_id
    )
    approval.parts.add().data.struct_value.update({"approved": True})
    (after,) = await sent(client, SendMessageRequest(message=approval))
    assert after.task.status.state == TaskState.TASK_STATE_COMPLETED
    assert after.task.id == f"{paused.context_id}:2"  # the turn that follows, a new task
    assert "sent to" in answer(after.task)
    old = await client.get_task(GetTaskRequest(id=paused.id))
    assert old.status.state == TaskState.TASK_STATE_COMPLETED  # its approval was given
    await client.close()


# ---------------------------------------------------------------------- the 0.3 dialect


async def test_a_0_3_client_speaks_the_0_3_methods_on_the_same_endpoint(server: str) -> None:
    card = await _card(server, "assistant")
    del card.supported_interfaces[0]  # only the 0.3 interface: the SDK's compat transport
    client = ClientFactory(ClientConfig(streaming=False)).create(
        card, interceptors=[AuthInterceptor(_Key("sk-acme"))]
    )
    (reply,) = await sent(client, ask(WEATHER, "old-1"))
    assert reply.task.status.state == TaskState.TASK_STATE_COMPLETED
    assert "12 C and clear in Lyon" in answer(reply.task)
    got = await client.get_task(GetTaskRequest(id=reply.task.id))
    assert answer(got) == answer(reply.task)
    with pytest.raises(TaskNotCancelableError):
        await client.cancel_task(CancelTaskRequest(id=reply.task.id))
    streaming = ClientFactory(ClientConfig()).create(
        card, interceptors=[AuthInterceptor(_Key("sk-acme"))]
    )
    events = await sent(streaming, ask(WEATHER, "old-2"))
    assert events[-1].status_update.status.state == TaskState.TASK_STATE_COMPLETED
    with pytest.raises(TaskNotFoundError):
        await client.get_task(GetTaskRequest(id="nothing:1"))
    await client.close()
    await streaming.close()


# ---------------------------------------------------------------------- a team


async def test_a_team_takes_a_task_over_a2a_and_a_member_does_it(server: str) -> None:
    async with httpx.AsyncClient() as http:
        card = await A2ACardResolver(http, f"{server}/a2a/teams/crew").get_agent_card()
    client = ClientFactory(ClientConfig()).create(
        card, interceptors=[AuthInterceptor(_Key("sk-acme"))]
    )
    events = await sent(client, ask("fix the failing Python code", "team-1"))
    final = events[-1].status_update
    assert final.status.state == TaskState.TASK_STATE_COMPLETED
    awarded = [
        MessageToDict(e.status_update.status.message)["parts"][0]["data"]["teamEvent"]
        for e in events
        if e.HasField("status_update") and e.status_update.status.HasField("message")
    ]
    assert {"event": "awarded", "agent": "coder"}.items() <= next(
        a for a in awarded if a["event"] == "awarded"
    ).items()
    got = await client.get_task(GetTaskRequest(id=final.task_id))
    assert "fix the failing Python code" in answer(got)  # the coder (the simulator echoes)
    await client.close()


async def test_a_team_task_can_be_cancelled_and_then_not_followed(server: str) -> None:
    async with httpx.AsyncClient() as http:
        card = await A2ACardResolver(http, f"{server}/a2a/teams/patient").get_agent_card()
    client = ClientFactory(ClientConfig(streaming=False)).create(
        card, interceptors=[AuthInterceptor(_Key("sk-acme"))]
    )
    request = ask("please linger", "team-slow-1")
    request.configuration.CopyFrom(SendMessageConfiguration(return_immediately=True))
    (reply,) = await sent(client, request)
    assert reply.task.status.state == TaskState.TASK_STATE_WORKING
    (again,) = await sent(client, request)  # the same message: the same task
    assert again.task.id == reply.task.id
    await asyncio.sleep(0.3)
    cancelled = await client.cancel_task(CancelTaskRequest(id=reply.task.id))
    assert cancelled.status.state == TaskState.TASK_STATE_CANCELED
    with pytest.raises(TaskNotCancelableError):
        await client.cancel_task(CancelTaskRequest(id=reply.task.id))
    other = ClientFactory(ClientConfig(streaming=False)).create(
        card, interceptors=[AuthInterceptor(_Key("sk-other"))]
    )
    with pytest.raises(TaskNotFoundError):  # another tenant's team task
        await other.get_task(GetTaskRequest(id=reply.task.id))
    await client.close()
    await other.close()


# ---------------------------------------------------------------------- bad requests


async def test_bad_json_rpc_gets_the_code_a2a_gives_it(server: str) -> None:
    cases: list[tuple[Any, int, str]] = [
        (b"{not json", -32700, "not valid JSON"),
        ([_rpc("GetTask", {"id": "x:1"})], -32600, "batch"),
        ({"jsonrpc": "1.0", "id": 1, "method": "GetTask", "params": {}}, -32600, "jsonrpc"),
        ({"jsonrpc": "2.0", "id": 1, "params": {}}, -32600, "method"),
        (_rpc("tasks/doTheThing", {}), -32601, "tasks/doTheThing"),
        (_rpc("GetTask", []), -32602, "params"),  # type: ignore[arg-type]
        (_rpc("GetTask", {}), -32602, "id"),
        (_rpc("SendMessage", {}), -32602, "message"),
        (
            _rpc("SendMessage", {"message": {"messageId": "m", "role": "ROLE_AGENT"}}),
            -32602,
            "role",
        ),
        (_rpc("SendMessage", {"message": _message("", "m")}), -32602, "nothing to say"),
        (_rpc("GetTask", {"id": "no-such-context:7"}), -32001, "no task"),
        (_rpc("GetTask", {"id": "not a task id"}), -32001, "no task"),
        (_rpc("CreateTaskPushNotificationConfig", {}), -32003, "push"),
        (_rpc("GetExtendedAgentCard", {}), -32007, "card"),
    ]
    heads = {"Authorization": "Bearer sk-acme", "A2A-Version": "1.0"}
    async with httpx.AsyncClient() as http:
        for body, code, words in cases:
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            r = await http.post(f"{server}/a2a/assistant", content=raw, headers=heads)
            assert r.status_code == 200, (body, r.text)
            error = r.json()["error"]
            assert error["code"] == code, (body, error)
            assert words in error["message"] and "\n" not in error["message"], error
            if code not in (-32700,) and isinstance(body, dict) and "id" in body:
                assert r.json()["id"] == 1
        r = await http.post(
            f"{server}/a2a/assistant",
            json=_rpc("GetTask", {"id": "x:1"}),
            headers={**heads, "A2A-Version": "0.3"},
        )
        assert r.json()["error"]["code"] == -32009  # a 1.0 method asked as 0.3
        info = r.json()["error"]["data"][0]
        assert info["reason"] == "VERSION_NOT_SUPPORTED" and info["@type"].endswith("ErrorInfo")
    client = await connect(server, streaming=False)
    try:
        with pytest.raises(TaskNotFoundError):  # the SDK raises what the code says
            await client.get_task(GetTaskRequest(id="ghost:1"))
    finally:
        await client.close()
