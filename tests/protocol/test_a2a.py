"""The A2A rules, pure: JSON-RPC requests and their error codes, messages in, tasks and
stream events out (checked against the a2a-sdk's own types, both versions), cards, and
the allow-list."""

from __future__ import annotations

import base64
import string
from typing import Any

import pytest
from a2a.client.card_resolver import parse_agent_card
from a2a.compat.v0_3 import types as v03
from a2a.types.a2a_pb2 import StreamResponse, Task
from google.protobuf.json_format import ParseDict
from hypothesis import given
from hypothesis import strategies as st

from chorus.protocol import a2a
from chorus.protocol.a2a import RpcError
from chorus.protocol.a2a_card import (
    Skill,
    address_refusal,
    agent_card,
    card_url,
    credential_header,
    endpoint_of,
    etag,
    host_refusal,
    matches_etag,
    skills_of,
)
from chorus.protocol.a2a_remote import read_reply
from chorus.protocol.a2a_v03 import for_dialect


def call(body: Any) -> a2a.Call:
    import json

    return a2a.parse_call(body if isinstance(body, bytes) else json.dumps(body).encode())


def rpc(method: str, params: Any = None, rid: Any = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "method": method, "params": params or {}}


def code_of(fn: Any, *args: Any) -> int:
    with pytest.raises(RpcError) as caught:
        fn(*args)
    assert "\n" not in caught.value.message  # one line
    return caught.value.code


# ---------------------------------------------------------------------- requests


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{", -32700),
        (b"[]", -32600),
        (b'"x"', -32600),
        ({"jsonrpc": "2.0", "id": True, "method": "GetTask"}, -32600),
        ({"jsonrpc": "2.0", "id": 1.5, "method": "GetTask"}, -32600),
        ({"jsonrpc": "2.1", "id": 1, "method": "GetTask"}, -32600),
        ({"jsonrpc": "2.0", "id": 1}, -32600),
        ({"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": [1]}, -32602),
        (rpc("tasks/list"), -32601),  # not a 0.3 method
        (rpc("Nope"), -32601),
        (rpc("SetTaskPushNotificationConfig"), -32601),
        (rpc("tasks/pushNotificationConfig/set"), -32003),
        (rpc("CreateTaskPushNotificationConfig"), -32003),
        (rpc("agent/getAuthenticatedExtendedCard"), -32007),
    ],
)
def test_a_bad_request_gets_its_json_rpc_code(body: Any, code: int) -> None:
    assert code_of(call, body) == code


def test_methods_name_their_operation_and_dialect() -> None:
    table = {
        "SendMessage": ("send", "1.0"),
        "SendStreamingMessage": ("stream", "1.0"),
        "GetTask": ("get", "1.0"),
        "CancelTask": ("cancel", "1.0"),
        "ListTasks": ("list", "1.0"),
        "SubscribeToTask": ("subscribe", "1.0"),
        "message/send": ("send", "0.3"),
        "message/stream": ("stream", "0.3"),
        "tasks/get": ("get", "0.3"),
        "tasks/cancel": ("cancel", "0.3"),
        "tasks/resubscribe": ("subscribe", "0.3"),
    }
    for method, (operation, dialect) in table.items():
        parsed = call(rpc(method, rid="r-1"))
        assert (parsed.operation, parsed.dialect, parsed.id) == (operation, dialect, "r-1")
    assert call({"jsonrpc": "2.0", "method": "GetTask"}).params == {}  # no params, no id


@pytest.mark.parametrize(
    ("header", "method", "ok"),
    [
        (None, "GetTask", True),
        ("", "tasks/get", True),
        ("1.0", "GetTask", True),
        ("1.0.0", "SendMessage", True),
        ("1.2", "GetTask", True),
        ("0.3", "GetTask", False),
        ("0.3", "tasks/get", True),
        ("0.3.0", "message/send", True),
        ("1.0", "tasks/get", False),
        ("0.2", "tasks/get", False),
        ("two", "GetTask", False),
    ],
)
def test_the_version_header_must_go_with_the_method(
    header: str | None, method: str, ok: bool
) -> None:
    parsed = call(rpc(method))
    if ok:
        a2a.check_version(header, parsed)
    else:
        assert code_of(a2a.check_version, header, parsed) == -32009


# ---------------------------------------------------------------------- messages in


V1_SEND = {
    "message": {
        "messageId": "m-1",
        "contextId": "c",
        "role": "ROLE_USER",
        "parts": [{"text": "hello"}, {"data": {"n": 1}}],
    },
    "configuration": {"historyLength": 3, "returnImmediately": True},
}
V03_SEND = {
    "message": {
        "kind": "message",
        "messageId": "m-1",
        "contextId": "c",
        "role": "user",
        "parts": [{"kind": "text", "text": "hello"}, {"kind": "data", "data": {"n": 1}}],
    },
    "configuration": {"historyLength": 3, "blocking": False},
}


def test_both_dialects_read_to_the_same_send() -> None:
    one, old = a2a.read_send(V1_SEND, "1.0"), a2a.read_send(V03_SEND, "0.3")
    assert one == old
    assert one.history_length == 3 and one.return_immediately
    assert a2a.content_of(one.message) == 'hello\n\n{"n":1}'
    snake = {"message": {"message_id": "m", "role": "ROLE_USER", "parts": [{"text": "x"}]}}
    assert a2a.read_send(snake, "1.0").message.message_id == "m"  # proto names read too
    assert not a2a.read_send({"message": V03_SEND["message"]}, "0.3").return_immediately


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, -32602),
        ({"message": {"role": "ROLE_USER", "parts": [{"text": "x"}]}}, -32602),
        ({"message": {"messageId": "m", "role": "ROLE_AGENT", "parts": [{"text": "x"}]}}, -32602),
        ({"message": {"messageId": "m", "role": "ROLE_USER", "parts": []}}, -32602),
        ({"message": {"messageId": "m", "role": "ROLE_USER", "parts": [{"a": 1}]}}, -32602),
        (
            {"message": {"messageId": "m", "role": "ROLE_USER", "parts": [{"text": 1}]}},
            -32602,
        ),
        (
            {
                "message": {"messageId": "m", "role": "ROLE_USER", "parts": [{"text": "x"}]},
                "configuration": {"taskPushNotificationConfig": {"url": "http://x"}},
            },
            -32003,
        ),
        (
            {
                "message": {"messageId": "m", "role": "ROLE_USER", "parts": [{"text": "x"}]},
                "configuration": {"acceptedOutputModes": ["image/png"]},
            },
            -32005,
        ),
        (
            {
                "message": {"messageId": "m", "role": "ROLE_USER", "parts": [{"text": "x"}]},
                "configuration": {"historyLength": -1},
            },
            -32602,
        ),
    ],
)
def test_a_bad_send_is_invalid_params(params: dict[str, Any], code: int) -> None:
    assert code_of(a2a.read_send, params, "1.0") == code


def inbound(*parts: dict[str, Any]) -> a2a.Inbound:
    return a2a.Inbound("m", None, None, parts)


def test_files_become_content_blocks_and_what_is_not_accepted_says_so() -> None:
    png = base64.b64encode(b"\x89PNG....").decode()
    blocks = a2a.content_of(
        inbound(
            {"text": "what is this?"},
            {"raw": png, "mediaType": "image/png"},
            {"url": "https://example.com/a.pdf", "mediaType": "application/pdf"},
        )
    )
    assert blocks == [
        {"type": "text", "text": "what is this?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}},
        {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}},
    ]
    text = base64.b64encode(b"plain words").decode()
    assert a2a.content_of(inbound({"raw": text, "mediaType": "text/plain"})) == "plain words"
    assert code_of(a2a.content_of, inbound({"raw": png, "mediaType": "video/mp4"})) == -32005
    assert code_of(a2a.content_of, inbound({"raw": "***", "mediaType": "image/png"})) == -32602
    assert code_of(a2a.content_of, inbound({"text": "  "})) == -32602


def test_a_reply_to_an_approval_becomes_decisions() -> None:
    pending = ["t1", "t2"]
    assert a2a.decisions_of(inbound({"data": {"approved": True}}), pending) == {
        "t1": True,
        "t2": True,
    }
    assert a2a.decisions_of(inbound({"text": "Deny."}), pending) == {"t1": False, "t2": False}
    each = {"data": {"decisions": {"t1": True, "t2": False}}}
    assert a2a.decisions_of(inbound(each), pending) == {"t1": True, "t2": False}
    partial = {"data": {"decisions": {"t1": True, "t9": False}}}
    with pytest.raises(RpcError, match="missing t2; unknown t9"):
        a2a.decisions_of(inbound(partial), pending)
    with pytest.raises(RpcError, match="waits for approval"):
        a2a.decisions_of(inbound({"text": "maybe later"}), pending)


_SESSION = st.text(string.ascii_letters + string.digits + "._:-", min_size=1, max_size=128)


@given(_SESSION, st.integers(1, 2**62))
def test_a_task_id_names_its_context_and_turn(context: str, turn: int) -> None:
    assert a2a.split_task_id(a2a.task_id(context, turn)) == (context, turn)


@pytest.mark.parametrize("value", ["", "abc", ":3", "c:", "c:0", "c:x", "c:-1", "c:" + "9" * 19])
def test_what_is_not_a_task_id(value: str) -> None:
    assert a2a.split_task_id(value) is None


def test_list_reads_its_filters_and_pages() -> None:
    query = a2a.read_list(
        {"contextId": "c", "status": "TASK_STATE_INPUT_REQUIRED", "pageSize": 5, "pageToken": "9"}
    )
    assert (query.state, query.page_size, query.before) == ("input-required", 5, 9)
    assert code_of(a2a.read_list, {}) == -32602
    assert code_of(a2a.read_list, {"contextId": "c", "pageSize": 101}) == -32602
    assert code_of(a2a.read_list, {"contextId": "c", "status": "TASK_STATE_BORED"}) == -32602
    assert code_of(a2a.read_list, {"contextId": "c", "pageToken": "zz"}) == -32602


# ---------------------------------------------------------------------- tasks out


DONE = {
    "turn": 1,
    "output": "12 C and clear in Lyon",
    "stop_reason": "end_turn",
    "usage": {"input_tokens": 10, "output_tokens": 5},
    "cost": 0.001,
    "steps": 2,
}
PAUSED = {
    "turn": 2,
    "output": None,
    "stop_reason": "paused",
    "pending": [{"id": "toolu_1", "name": "send_email", "input": {"to": "bob"}}],
}
EVENTS: list[tuple[int, str, dict[str, Any]]] = [
    (1000001, "text", {"text": "I'll"}),
    (1000002, "text", {"text": " look."}),
    (1000003, "tool_call", {"id": "toolu_1", "name": "get_weather"}),
    (1000004, "tool_result", {"id": "toolu_1", "name": "get_weather", "content": "12 C"}),
    (1000005, "text", {"text": "12 C and"}),
    (1000006, "text", {"text": " clear in Lyon"}),
    (1000007, "done", DONE),
]


def sdk_task(task: dict[str, Any]) -> Task:
    return ParseDict(task, Task())  # strict: an unknown field or enum spelling fails


@pytest.mark.parametrize(
    ("status", "result", "events", "state"),
    [
        ("running", None, [], "TASK_STATE_WORKING"),
        ("done", DONE, [], "TASK_STATE_COMPLETED"),
        ("paused", PAUSED, [], "TASK_STATE_INPUT_REQUIRED"),
        (
            "cancelled",
            None,
            [(1, "error", {"type": "cancelled", "message": "m"})],
            "TASK_STATE_CANCELED",
        ),
        (
            "timeout",
            None,
            [(1, "error", {"type": "timeout", "message": "late"})],
            "TASK_STATE_FAILED",
        ),
        ("interrupted", None, [], "TASK_STATE_FAILED"),
        (
            "failed",
            None,
            [(1, "error", {"type": "LimitExceeded", "message": "m"})],
            "TASK_STATE_FAILED",
        ),
    ],
)
def test_a_turn_is_a_task_in_the_state_its_status_says(
    status: str, result: Any, events: Any, state: str
) -> None:
    task = a2a.turn_task("ctx", 3, status, result, events, agent="assistant")
    parsed = sdk_task(task)
    assert task["status"]["state"] == state and parsed.id == "ctx:3"
    old = v03.Task.model_validate(for_dialect("task", task, "0.3"))
    assert old.status.state.value == state.removeprefix("TASK_STATE_").lower().replace("_", "-")
    if status == "done":
        assert parsed.artifacts[0].parts[0].text == DONE["output"]
        assert task["metadata"]["chorus"]["usage"] == DONE["usage"]
    if status == "paused":
        said = task["status"]["message"]["parts"]
        assert said[1]["data"]["pending"][0]["name"] == "send_email"
    if events:
        assert events[0][2]["message"] in task["status"]["message"]["parts"][0]["text"]


def test_an_answered_approval_is_completed_and_history_is_cut_to_its_length() -> None:
    answered = a2a.turn_task("ctx", 2, "paused", PAUSED, [], answered=True)
    assert answered["status"]["state"] == "TASK_STATE_COMPLETED"
    transcript = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "I'll look."},
                {"type": "tool_use", "id": "t", "name": "get_weather", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "t", "content": "12 C"}],
        },
        {"role": "assistant", "content": [{"type": "text", "text": "12 C."}]},
    ]
    history = a2a.transcript_history("ctx:1", "ctx", transcript, "msg-1")
    assert [m["role"] for m in history] == ["ROLE_USER", "ROLE_AGENT", "ROLE_AGENT", "ROLE_AGENT"]
    assert history[0]["messageId"] == "msg-1"
    assert history[2]["parts"][0]["data"]["toolResult"]["toolUseId"] == "t"
    full = a2a.turn_task("ctx", 1, "done", DONE, [], history=history)
    assert len(sdk_task(full).history) == 4
    assert (
        len(a2a.turn_task("ctx", 1, "done", DONE, [], history=history, history_length=1)["history"])
        == 1
    )
    assert "history" not in a2a.turn_task(
        "ctx", 1, "done", DONE, [], history=history, history_length=0
    )


def test_a_turns_events_fold_into_stream_responses_whose_text_is_the_answer() -> None:
    fold = a2a.TurnStream("ctx", 1)
    sent = [item for event in EVENTS for item in fold.feed(*event)]
    kinds = [next(iter(r)) for _, r in sent]
    assert kinds == [
        "artifactUpdate",
        "artifactUpdate",
        "statusUpdate",
        "statusUpdate",
        "artifactUpdate",
        "artifactUpdate",
        "artifactUpdate",  # the whole answer, last chunk
        "statusUpdate",  # completed
    ]
    ids = [i for i, _ in sent]
    assert ids == [1000001, 1000002, 1000003, 1000004, 1000005, 1000006, None, 1000007]
    text = ""
    for _, response in sent:
        ParseDict(response, StreamResponse())  # each one the SDK reads
        update = response.get("artifactUpdate")
        if update:
            chunk = update["artifact"]["parts"][0]["text"]
            text = text + chunk if update.get("append") else chunk
    assert text == DONE["output"]
    assert sent[-1][1]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"
    old = [for_dialect("stream", r, "0.3") for _, r in sent]
    finals = [o["final"] for o in old if o["kind"] == "status-update"]
    assert finals == [False, False, True]
    for o in old:
        model = (
            v03.TaskStatusUpdateEvent
            if o["kind"] == "status-update"
            else v03.TaskArtifactUpdateEvent
        )
        model.model_validate(o)


def test_a_paused_turn_streams_input_required_and_an_error_streams_failed() -> None:
    fold = a2a.TurnStream("ctx", 2)
    (paused,) = fold.feed(2000001, "done", PAUSED)
    assert paused[1]["statusUpdate"]["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
    fold = a2a.TurnStream("ctx", 3)
    ((_, failed),) = fold.feed(3000001, "error", {"type": "timeout", "message": "too late"})
    assert failed["statusUpdate"]["status"]["state"] == "TASK_STATE_FAILED"
    assert "too late" in failed["statusUpdate"]["status"]["message"]["parts"][0]["text"]


def test_errors_take_each_dialects_shape() -> None:
    error = RpcError(-32001, "no task 'x'", data={"retryAfter": 2})
    one = a2a.error_response(7, error, "1.0")
    assert one["id"] == 7 and one["error"]["code"] == -32001
    (info,) = one["error"]["data"]
    assert info["reason"] == "TASK_NOT_FOUND" and info["metadata"] == {"retryAfter": "2"}
    old = a2a.error_response(7, RpcError(-32009, "v"), "0.3")
    assert old["error"]["code"] == -32603  # a 0.3 client does not know -32009
    v03.JSONRPCErrorResponse.model_validate(old)


def test_replies_read_from_either_dialect() -> None:
    task = a2a.turn_task("ctx", 1, "done", DONE, [])
    for dialect, body in (
        ("1.0", {"task": task}),
        ("0.3", for_dialect("send", task, "0.3")),
    ):
        reply = read_reply({"jsonrpc": "2.0", "id": 1, "result": body}, dialect)
        assert (reply.id, reply.state, reply.text) == ("ctx:1", "completed", DONE["output"])
        assert reply.done
    message = {"message": {"messageId": "m", "role": "ROLE_AGENT", "parts": [{"text": "hi"}]}}
    assert read_reply({"result": message}, "1.0").text == "hi"
    with pytest.raises(RpcError, match="nope"):
        read_reply({"error": {"code": -32001, "message": "nope"}}, "1.0")
    working = a2a.turn_task("ctx", 1, "running", None, [])
    assert not read_reply({"result": {"task": working}}, "1.0").done


# ---------------------------------------------------------------------- cards


def card(secured: bool = True) -> dict[str, Any]:
    return agent_card(
        name="coder",
        description="writes code",
        url="http://h:1/a2a/coder",
        version="0.1.0",
        skills=[Skill("python", "python", "writes and fixes Python code")],
        secured=secured,
    )


def test_a_card_reads_as_a_1_0_card_and_as_a_0_3_one() -> None:
    parsed = parse_agent_card(card())
    assert parsed.name == "coder" and parsed.capabilities.streaming
    assert [i.protocol_version for i in parsed.supported_interfaces] == ["1.0", "0.3"]
    assert parsed.security_schemes["bearer"].http_auth_security_scheme.scheme == "Bearer"
    assert parsed.skills[0].tags == ["python"]
    old = v03.AgentCard.model_validate(card())
    assert old.url == "http://h:1/a2a/coder" and old.preferred_transport == "JSONRPC"
    assert old.security == [{"bearer": []}, {"apiKey": []}]
    open_card = card(secured=False)
    assert "securitySchemes" not in open_card and "security" not in open_card
    assert not parse_agent_card(open_card).security_requirements


def test_an_etag_follows_the_content() -> None:
    tag = etag(card())
    assert tag == etag(card()) and tag != etag(card(secured=False))
    assert matches_etag(tag, tag) and matches_etag(tag.removeprefix("W/"), tag)
    assert matches_etag(f'"x", {tag}', tag) and matches_etag("*", tag)
    assert not matches_etag('"other"', tag) and not matches_etag(None, tag)


def test_a_remote_card_gives_skills_an_endpoint_and_how_to_send_a_key() -> None:
    assert skills_of(card()) == [
        Skill("python", "python", "writes and fixes Python code", ("python",))
    ]
    messy = {"skills": [{"id": "a", "tags": "x"}, "junk", {"name": ""}, {"id": "a"}]}
    assert skills_of(messy) == [Skill("a", "a")]
    assert endpoint_of(card()) == ("http://h:1/a2a/coder", "1.0")
    only_old = {"url": "http://h/rpc", "protocolVersion": "0.3.0"}
    assert endpoint_of(only_old) == ("http://h/rpc", "0.3")
    old_interface = {
        "supportedInterfaces": [
            {"url": "http://h/v03", "protocolBinding": "JSONRPC", "protocolVersion": "0.3"},
            {"url": "http://h/grpc", "protocolBinding": "GRPC", "protocolVersion": "1.0"},
        ]
    }
    assert endpoint_of(old_interface) == ("http://h/v03", "0.3")
    assert endpoint_of({"supportedInterfaces": []}) is None
    assert credential_header(card(), "k") == {"Authorization": "Bearer k"}
    only_key = {
        "securitySchemes": {"k": {"apiKeySecurityScheme": {"location": "header", "name": "X-Key"}}}
    }
    assert credential_header(only_key, "k") == {"X-Key": "k"}


@pytest.mark.parametrize(
    ("url", "allowed", "refused"),
    [
        ("http://127.0.0.1:8000/a2a/x", ["127.0.0.1"], None),
        ("https://Agents.Example.com/a2a/x", ["agents.example.com"], None),
        ("http://127.0.0.1:8000/a2a/x", ["127.0.0.1:8000"], None),
        ("http://127.0.0.1:8001/a2a/x", ["127.0.0.1:8000"], "not on a2a.allow_hosts"),
        ("http://[::1]:9/x", ["::1"], None),
        ("http://example.com/x", [], "not on a2a.allow_hosts"),
        ("http://example.com.evil.net/x", ["example.com"], "not on a2a.allow_hosts"),
        ("http://evil.net/x", ["example.com"], "host evil.net"),
        ("http://user:pw@example.com/x", ["example.com"], "credentials"),
        ("http://example.com:80@evil.net/x", ["example.com"], "credentials"),
        ("ftp://example.com/x", ["example.com"], "not an http(s) URL"),
        ("example.com/x", ["example.com"], "not an http(s) URL"),
        ("http://example.com:99999/x", ["example.com"], "not an http(s) URL"),
    ],
)
def test_only_hosts_on_the_allow_list_may_be_asked(
    url: str, allowed: list[str], refused: str | None
) -> None:
    reason = host_refusal(url, allowed)
    assert reason is None if refused is None else refused in (reason or "")


def test_a_card_is_at_the_well_known_path_unless_named() -> None:
    assert card_url("http://h/a2a/x") == "http://h/a2a/x/.well-known/agent-card.json"
    assert card_url("http://h/a2a/x/") == "http://h/a2a/x/.well-known/agent-card.json"
    assert card_url("http://h/cards/x.json") == "http://h/cards/x.json"


@pytest.mark.parametrize(
    ("host", "address", "allowed", "refused"),
    [
        ("agents.test", "93.184.216.34", ["agents.test"], None),  # a public address
        ("agents.test", "2606:2800:220:1:248:1893:25c8:1946", ["agents.test"], None),
        ("agents.test", "127.0.0.1", ["agents.test"], "not a public address"),
        ("agents.test", "::1", ["agents.test"], "not a public address"),
        ("agents.test", "10.1.2.3", ["agents.test"], "not a public address"),
        ("agents.test", "192.168.0.9", ["agents.test"], "not a public address"),
        ("agents.test", "169.254.169.254", ["agents.test"], "not a public address"),
        ("agents.test", "100.64.0.1", ["agents.test"], "not a public address"),  # CGNAT
        ("agents.test", "0.0.0.0", ["agents.test"], "not a public address"),
        ("agents.test", "224.0.0.1", ["agents.test"], "not a public address"),
        ("agents.test", "fe80::1", ["agents.test"], "not a public address"),
        ("agents.test", "fd00::1", ["agents.test"], "not a public address"),
        ("agents.test", "::ffff:127.0.0.1", ["agents.test"], "resolved to 127.0.0.1"),
        ("agents.test", "::ffff:169.254.169.254", ["agents.test"], "not a public address"),
        ("agents.test", "not-an-ip", ["agents.test"], "not an address"),
        # IPv6 forms that carry an internal IPv4 address are judged as that address
        ("agents.test", "64:ff9b::a00:7", ["agents.test"], "resolved to 10.0.0.7"),  # NAT64
        ("agents.test", "2002:a9fe:a9fe::", ["agents.test"], "resolved to 169.254.169.254"),
        ("agents.test", "::a00:7", ["agents.test"], "resolved to 10.0.0.7"),  # compatible
        ("agents.test", "fec0::1", ["agents.test"], "not a public address"),  # site-local
        ("agents.test", "fe80::1%eth0", ["agents.test"], "not a public address"),
        ("agents.test", "64:ff9b::5db8:d822", ["agents.test"], None),  # NAT64 of a public one
        # an internal address is followed when it is on the list itself, with or without port
        ("agents.test", "10.1.2.3", ["agents.test", "10.1.2.3"], None),
        ("agents.test", "10.1.2.3", ["agents.test", "10.1.2.3:8000"], None),
        ("agents.test", "10.1.2.3", ["agents.test", "10.1.2.3:9000"], "add 10.1.2.3"),  # port
        ("agents.test", "::1", ["agents.test", "[::1]:8000"], None),
        ("agents.test", "10.1.2.4", ["agents.test", "10.1.2.3"], "add 10.1.2.4"),
        # a host given as an address was allowed as such
        ("127.0.0.1", "127.0.0.1", ["127.0.0.1"], None),
        # a decimal spelling of 127.0.0.1 is a name here, and its answer is judged
        ("2130706433", "127.0.0.1", ["2130706433"], "not a public address"),
    ],
)
def test_a_name_on_the_allow_list_leads_to_public_addresses_or_listed_ones(
    host: str, address: str, allowed: list[str], refused: str | None
) -> None:
    reason = address_refusal(host, address, 8000, allowed)
    assert reason is None if refused is None else refused in (reason or ""), reason
