"""The official `anthropic` SDK (both lines) and `langchain-anthropic`, unmodified, talking to
a chorus agent through `chorus serve`'s Messages-API face: an agent is a model."""

from __future__ import annotations

import time
from collections.abc import Iterator

import anthropic
import pytest

from tests.serve.process import chorus_serve

CONFIG = """
agents:
  - name: assistant
    system: Use the tools when they help.
    tools: ["chorus.serve.demo:get_weather"]
store: {memory: true}
"""
TEAMED = """
agents:
  - name: coder
    tools: ["chorus.serve.demo:calculate"]
    capabilities: [{name: python, description: writes and fixes Python code}]
  - name: writer
    capabilities: [{name: docs, description: writes user documentation}]
teams:
  - {name: crew, agents: [coder, writer], bid_window: 0.1}
store: {memory: true}
"""
BUSY = """
agents:
  - name: slow
    tools: ["tests.sdk.slow_tools:take_a_while"]
store: {memory: true}
limits: {max_running_turns: 1}
"""
KEYED = (
    CONFIG
    + """
keys:
  - {key: sk-good, tenant: t, scopes: [turns]}
  - {key: sk-poor, tenant: poor, scopes: [turns]}
tenants:
  poor: {tokens_per_minute: 10}
"""
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from chorus_serve(tmp_path_factory.mktemp("open"), CONFIG)


@pytest.fixture(scope="module")
def teamed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from chorus_serve(tmp_path_factory.mktemp("teamed"), TEAMED)


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from chorus_serve(tmp_path_factory.mktemp("busy"), BUSY)


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from chorus_serve(tmp_path_factory.mktemp("keyed"), KEYED)


def client(url: str, key: str = "sk-any") -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key=key, max_retries=0)


def test_an_agent_answers_a_create_with_its_tools_run_on_the_server(server: str) -> None:
    reply = client(server).messages.create(
        model="assistant",
        max_tokens=256,
        messages=[{"role": "user", "content": "What is the weather in Lyon?"}],
    )
    assert reply.model == "assistant" and reply.stop_reason == "end_turn"
    assert "12 C and clear in Lyon" in reply.content[0].text  # type: ignore[union-attr]
    assert reply.usage.input_tokens > 0 and reply.usage.output_tokens > 0


def test_an_agent_streams_in_the_apis_event_grammar(server: str) -> None:
    with client(server).messages.stream(
        model="assistant",
        max_tokens=256,
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
    ) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert "12 C and clear in Paris" in "".join(pieces)
    assert final.stop_reason == "end_turn" and final.content[0].text == "".join(pieces)  # type: ignore[union-attr]


def test_a_session_header_makes_calls_turns_of_one_kept_conversation(server: str) -> None:
    c = client(server)
    for text in ("hello there", "What is the weather in Oslo?"):
        c.messages.create(
            model="assistant",
            max_tokens=256,
            messages=[{"role": "user", "content": text}],
            extra_headers={"x-chorus-session": "sdk-chat"},
        )
    import json
    import urllib.request

    with urllib.request.urlopen(f"{server}/v1/agents/assistant/sessions/sdk-chat") as r:
        page = json.loads(r.read())
    assert page["turns"] == 2
    said = [m["content"] for m in page["messages"] if isinstance(m["content"], str)]
    assert said[:1] == ["hello there"] and "What is the weather in Oslo?" in said


def test_stateless_calls_use_the_history_they_send(server: str) -> None:
    reply = client(server).messages.create(
        model="assistant",
        max_tokens=256,
        messages=[
            {"role": "user", "content": "My name is Ada."},
            {"role": "assistant", "content": "Hello Ada."},
            {"role": "user", "content": "repeat after me: fine"},
        ],
    )
    assert reply.content[0].text  # type: ignore[union-attr]


def test_models_list_the_agents(server: str) -> None:
    ids = [m.id for m in client(server).models.list()]
    assert ids == ["assistant"]


def test_errors_are_the_types_the_sdk_expects(server: str, keyed: str) -> None:
    with pytest.raises(anthropic.NotFoundError):
        client(server).messages.create(
            model="nobody", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
        )
    with pytest.raises(anthropic.BadRequestError):
        client(server).messages.create(
            model="assistant", max_tokens=16, messages=[{"role": "assistant", "content": "hi"}]
        )
    with pytest.raises(anthropic.AuthenticationError):
        client(keyed, "sk-wrong").messages.create(
            model="assistant", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
        )
    ok = client(keyed, "sk-good").messages.create(
        model="assistant",
        max_tokens=16,
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"x-chorus-session": "k"},
    )
    assert ok.content
    with pytest.raises(anthropic.RateLimitError) as refused:
        client(keyed, "sk-poor").messages.create(
            model="assistant",
            max_tokens=16,
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-chorus-session": "p"},
        )
    assert refused.value.response.headers.get("retry-after")


def test_langchain_talks_to_an_agent(server: str) -> None:
    langchain_anthropic = pytest.importorskip("langchain_anthropic")
    chat = langchain_anthropic.ChatAnthropic(
        model="assistant", base_url=server, api_key="sk-any", max_retries=0
    )
    reply = chat.invoke("What is the weather in Rome?")
    assert "12 C and clear in Rome" in str(reply.content)
    streamed = "".join(str(c.content) for c in chat.stream("What is the weather in Nice?"))
    assert "12 C and clear in Nice" in streamed


def test_a_server_at_capacity_sheds_with_retry_after_as_the_sdk_expects(busy: str) -> None:
    import threading

    ask = {"model": "slow", "max_tokens": 64}
    first: list[object] = []
    holder = threading.Thread(
        target=lambda: first.append(
            client(busy).messages.create(
                **ask, messages=[{"role": "user", "content": "please take_a_while"}]
            )
        )
    )
    holder.start()
    time.sleep(0.5)  # the first turn now holds the server's one slot, in its tool
    with pytest.raises(anthropic.InternalServerError) as shed:
        client(busy).messages.create(**ask, messages=[{"role": "user", "content": "hi"}])
    holder.join()
    assert shed.value.status_code == 503 and shed.value.response.headers.get("retry-after")
    assert first  # the turn that held the slot finished


def test_a_team_is_a_model_too_its_task_awarded_to_a_member(teamed: str) -> None:
    assert [m.id for m in client(teamed).models.list()] == ["coder", "writer", "crew"]
    task = "Write a Python function that adds two numbers"
    reply = client(teamed).messages.create(
        model="crew", max_tokens=256, messages=[{"role": "user", "content": task}]
    )
    assert reply.model == "crew" and reply.stop_reason == "end_turn"
    assert reply.content[0].text and reply.usage.output_tokens > 0  # type: ignore[union-attr]
    with client(teamed).messages.stream(
        model="crew", max_tokens=256, messages=[{"role": "user", "content": task}]
    ) as stream:
        streamed = "".join(stream.text_stream)
    assert streamed == reply.content[0].text  # type: ignore[union-attr]
    with pytest.raises(anthropic.BadRequestError, match="keeps no session"):
        client(teamed).messages.create(
            model="crew",
            max_tokens=16,
            messages=[{"role": "user", "content": task}],
            extra_headers={"x-chorus-session": "s"},
        )


def test_an_agent_without_tools_streams_its_reply_as_it_is_written(teamed: str) -> None:
    """A reply of many pieces, read as it comes, stateless and as a session's turn."""
    long = "please repeat after me: " + " ".join(f"word{i}" for i in range(40))
    for headers in ({}, {"x-chorus-session": "live"}):
        with client(teamed).messages.stream(
            model="writer",
            max_tokens=512,
            messages=[{"role": "user", "content": long}],
            extra_headers=headers,
        ) as stream:
            pieces = list(stream.text_stream)
            final = stream.get_final_message()
        assert len(pieces) > 10 and "word39" in "".join(pieces)
        assert final.content[0].text == "".join(pieces)  # type: ignore[union-attr]
        assert final.stop_reason == "end_turn"
        assert final.usage.input_tokens > 0 and final.usage.output_tokens > 0
