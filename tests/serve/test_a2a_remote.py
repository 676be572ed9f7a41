"""A team in one ``chorus serve`` process awards a task to an agent served by a second one,
over A2A: two real processes, the second's host on the first's allow-list, its key read
from the environment, its skills the team's capabilities."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from a2a.client import A2ACardResolver, ClientConfig, ClientFactory
from a2a.types.a2a_pb2 import GetTaskRequest, Message, Part, Role, SendMessageRequest, TaskState

from tests.serve.process import chorus_serve

REMOTE = """
agents:
  - name: translator
    description: Translates text.
    capabilities:
      - {name: translation, description: translates text into French or German}
store: {memory: true}
keys: [{key: sk-remote, tenant: partner, scopes: [turns]}]
"""
LOCAL = """
agents:
  - name: coder
    capabilities: [{name: python, description: writes and fixes Python code}]
a2a: {allow_hosts: ["127.0.0.1"]}
remote_agents:
  - {name: translator, url: "REMOTE/a2a/translator", key_env: TRANSLATOR_KEY}
teams: [{name: crew, agents: [coder, translator], bid_window: 0.1}]
store: {memory: true}
"""


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from chorus_serve(tmp_path_factory.mktemp("remote"), REMOTE)


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory, remote: str) -> Iterator[str]:
    config = LOCAL.replace("REMOTE", remote)
    env = {"TRANSLATOR_KEY": "sk-remote"}
    yield from chorus_serve(tmp_path_factory.mktemp("local"), config, env=env)


def post(url: str, body: Any) -> Any:
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as r:
        return json.loads(r.read())


def get(url: str, key: str) -> Any:
    with urllib.request.urlopen(urllib.request.Request(url, headers={"x-api-key": key})) as r:
        return json.loads(r.read())


def test_the_team_awards_a_task_to_the_agent_served_by_the_other_process(
    local: str, remote: str
) -> None:
    done = post(
        f"{local}/v1/teams/crew/assign",
        {"task": "please translate this text into French: good morning"},
    )
    assert done["event"] == "task_completed", done
    result = done["result"]
    assert result["agent"] == "translator"  # found by the words of its skill, over A2A
    assert "good morning" in result["output"]  # the remote's simulator answered
    assert result["tokens"] > 0  # the remote turn's usage, from its task's metadata
    # the remote ran it once, as a turn of a session of the key's tenant
    sessions = get(f"{remote}/v1/agents/translator/sessions?q=morning", "sk-remote")["data"]
    assert len(sessions) == 1
    page = get(f"{remote}/v1/agents/translator/sessions/{sessions[0]['session']}", "sk-remote")
    assert page["turns"] == 1 and "good morning" in page["messages"][0]["content"]
    # by capability name, too
    named = post(
        f"{local}/v1/teams/crew/assign",
        {"task": "bonjour tout le monde", "capability": "translation"},
    )
    assert named["result"]["agent"] == "translator"


async def test_a2a_both_ways_a_client_asks_the_team_which_asks_the_other_server(
    local: str,
) -> None:
    async with httpx.AsyncClient() as http:
        card = await A2ACardResolver(http, f"{local}/a2a/teams/crew").get_agent_card()
    assert {s.id for s in card.skills} == {"python", "translation"}  # the remote's skill too
    client = ClientFactory(ClientConfig(streaming=False)).create(card)
    message = Message(
        message_id="both-ways-1",
        role=Role.ROLE_USER,
        parts=[Part(text="translate into German: see you tomorrow")],
    )
    message.metadata.update({"capability": "translation"})
    replies = [r async for r in client.send_message(SendMessageRequest(message=message))]
    task = replies[-1].task
    assert task.status.state == TaskState.TASK_STATE_COMPLETED
    got = await client.get_task(GetTaskRequest(id=task.id))
    assert "see you tomorrow" in got.artifacts[0].parts[0].text
    await client.close()
