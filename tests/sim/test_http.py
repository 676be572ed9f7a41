"""The simulator's HTTP surface: auth, versions, error shape, bad input, models."""

from __future__ import annotations

import pytest

from .conftest import MODEL, Client, Reply, user


def assert_error(reply, status: int, error_type: str, message_start: str = "") -> None:
    assert reply.status == status, reply.body
    body = reply.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == error_type
    assert body["error"]["message"].startswith(message_start), body["error"]["message"]
    assert body["request_id"] == reply.headers["request-id"]
    assert body["request_id"].startswith("req_")


async def test_missing_key_is_401(client: Client) -> None:
    reply = await client.message(headers={"x-api-key": ""}, messages=user("hi"))
    assert_error(reply, 401, "authentication_error", "x-api-key header is required")


async def test_bearer_token_is_accepted(client: Client) -> None:
    async with client.session.post(
        client.sim.base_url + "/v1/messages",
        json={"model": MODEL, "max_tokens": 10, "messages": user("hi")},
        headers={"authorization": "Bearer sk-other", "anthropic-version": "2026-10-21"},
    ) as resp:
        assert resp.status == 200


async def test_configured_keys_reject_others_and_prefer_x_api_key(make_client) -> None:
    async with make_client({"api_keys": ["sk-good"]}) as c:
        bad = await c.message(headers={"x-api-key": "sk-bad"}, messages=user("hi"))
        assert_error(bad, 401, "authentication_error", "invalid x-api-key")
        both = await c.message(
            headers={"x-api-key": "sk-bad", "authorization": "Bearer sk-good"}, messages=user("hi")
        )
        assert both.status == 401
        good = await c.message(headers={"x-api-key": "sk-good"}, messages=user("hi"))
        assert good.status == 200


async def test_version_header_required_and_checked(client: Client) -> None:
    async with client.session.post(
        client.sim.base_url + "/v1/messages",
        json={"model": MODEL, "max_tokens": 10, "messages": user("hi")},
        headers={"x-api-key": "k"},
    ) as resp:
        body = await resp.json()
        assert resp.status == 400
        assert body["error"]["message"] == "anthropic-version: header is required"
    reply = await client.message(headers={"anthropic-version": "2020-01-01"}, messages=user("hi"))
    assert_error(reply, 400, "invalid_request_error", "anthropic-version: unsupported version")


async def test_new_version_rejects_sampling_parameters(client: Client) -> None:
    new = {"anthropic-version": "2026-10-21"}
    reply = await client.message(headers=new, messages=user("hi"), temperature=1.0)
    assert_error(reply, 400, "invalid_request_error", "temperature: Extra inputs are not permitted")
    old = await client.message(messages=user("hi"), temperature=1.0, top_k=5)
    assert old.status == 200


async def test_new_version_rejects_documents_from_assistant(client: Client) -> None:
    doc = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"}}
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [doc]},
        {"role": "user", "content": "and?"},
    ]
    new = await client.message(headers={"anthropic-version": "2026-10-21"}, messages=messages)
    assert_error(new, 400, "invalid_request_error", "messages.1.content.0")
    old = await client.message(messages=messages)
    assert old.status == 200


async def test_malformed_json_gets_api_error_shape(client: Client) -> None:
    reply = await client.post("/v1/messages", None, raw=b'{"model": "x", ')
    assert_error(reply, 400, "invalid_request_error", "There was an error parsing the body")


async def test_oversized_body_is_413(make_client) -> None:
    async with make_client({"max_body_bytes": 1000}) as c:
        reply = await c.message(messages=user("x" * 5000))
        assert_error(reply, 413, "request_too_large")


@pytest.mark.parametrize("path", ["/v1/nothing", "/", "/v2/messages"])
async def test_unknown_route_is_404_in_api_shape(client: Client, path: str) -> None:
    reply = await client.get(path)
    assert_error(reply, 404, "not_found_error", "Not found")


async def test_wrong_method_gets_api_shape(client: Client) -> None:
    reply = await client.get("/v1/messages")
    assert reply.status in (404, 405)
    assert reply.json()["type"] == "error"


# Every API endpoint, with a body it would accept.
ENDPOINTS = [
    ("POST", "/v1/messages", {"model": MODEL, "max_tokens": 10, "messages": user("hi")}),
    ("POST", "/v1/messages/count_tokens", {"model": MODEL, "messages": user("hi")}),
    ("GET", "/v1/models", None),
    ("GET", "/v1/models/claude-sonnet-4-5", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS, ids=[e[1] for e in ENDPOINTS])
async def test_every_endpoint_checks_key_then_version(make_client, method, path, body) -> None:
    """The API answers 401 without a valid key on every endpoint, models included."""
    v1 = {"anthropic-version": "2023-06-01"}
    async with make_client({"api_keys": ["sk-good"]}) as c:

        async def send(headers: dict[str, str]) -> Reply:
            url = c.sim.base_url + path
            async with c.session.request(method, url, json=body, headers=headers) as resp:
                return Reply(resp.status, resp.headers, await resp.read())

        missing = await send(v1)
        assert_error(missing, 401, "authentication_error", "x-api-key header is required")
        for wrong in ({"x-api-key": "sk-bad"}, {"authorization": "Bearer sk-bad"}):
            bad = await send(wrong | v1)
            assert_error(bad, 401, "authentication_error", "invalid x-api-key")
        # Auth comes first: a bad key without a version is still a 401.
        assert (await send({"x-api-key": "sk-bad"})).status == 401
        no_version = await send({"x-api-key": "sk-good"})
        assert_error(
            no_version, 400, "invalid_request_error", "anthropic-version: header is required"
        )
        old = await send({"x-api-key": "sk-good", "anthropic-version": "2020-01-01"})
        assert_error(old, 400, "invalid_request_error", "anthropic-version: unsupported version")
        for good in (
            {"x-api-key": "sk-good"} | v1,
            {"authorization": "Bearer sk-good", "anthropic-version": "2026-10-21"},
        ):
            ok = await send(good)
            assert ok.status == 200, ok.body
            assert ok.headers["request-id"].startswith("req_")
        statuses = [e.status for e in c.sim.ledger if e.path == path]
        assert statuses == [401, 401, 401, 401, 400, 400, 200, 200]


async def test_auth_is_checked_before_the_model_is_looked_up(make_client) -> None:
    async with make_client({"api_keys": ["sk-good"]}) as c:
        wrong = await c.get("/v1/models/claude-nope-9", headers={"x-api-key": "sk-bad"})
        assert_error(wrong, 401, "authentication_error", "invalid x-api-key")
        right = await c.get("/v1/models/claude-nope-9", headers={"x-api-key": "sk-good"})
        assert_error(right, 404, "not_found_error", "model: claude-nope-9")


async def test_models_take_header_fault_plans(client: Client) -> None:
    """Models attempts are admitted like messages: a header plan applies, the ledger sees them."""
    plan = {"x-chorus-fault": "529;ok"}
    busy = await client.get("/v1/models?limit=2", headers=plan)
    assert_error(busy, 529, "overloaded_error", "Overloaded")
    again = await client.get("/v1/models?limit=2", headers=plan)
    assert again.status == 200 and len(again.json()["data"]) == 2
    found = await client.get("/v1/models/claude-haiku-4-5")
    ledger = [e for e in client.sim.ledger if e.path.startswith("/v1/models")]
    assert [(e.fault, e.status, e.attempt) for e in ledger] == [
        ("529", 529, 1),
        ("ok", 200, 2),
        ("ok", 200, 1),
    ]
    assert ledger[-1].model == found.json()["id"] == "claude-haiku-4-5-20251001"
    assert ledger[-1].request_id == found.headers["request-id"]


async def test_models_list_and_pagination(client: Client) -> None:
    everything = (await client.get("/v1/models?limit=1000")).json()
    ids = [m["id"] for m in everything["data"]]
    assert everything["has_more"] is False
    assert len(ids) >= 3
    seen, after = [], None
    while True:
        page = (
            await client.get("/v1/models?limit=2" + (f"&after_id={after}" if after else ""))
        ).json()
        seen += [m["id"] for m in page["data"]]
        assert page["first_id"] == page["data"][0]["id"]
        if not page["has_more"]:
            break
        after = page["last_id"]
    assert seen == ids
    assert all(m["type"] == "model" and m["display_name"] for m in everything["data"])


async def test_model_lookup_resolves_alias(client: Client) -> None:
    reply = await client.get("/v1/models/claude-sonnet-4-5")
    assert reply.status == 200
    assert reply.json()["id"] == "claude-sonnet-4-5-20250929"
    missing = await client.get("/v1/models/claude-nope-9")
    assert_error(missing, 404, "not_found_error", "model: claude-nope-9")


async def test_models_bad_limit(client: Client) -> None:
    reply = await client.get("/v1/models?limit=abc")
    assert_error(reply, 400, "invalid_request_error", "limit")


async def test_every_response_has_request_id(client: Client) -> None:
    ok = await client.message(messages=user("hi"))
    assert ok.headers["request-id"].startswith("req_")
    count = await client.post("/v1/messages/count_tokens", {"model": MODEL, "messages": user("hi")})
    assert count.headers["request-id"].startswith("req_")
    assert count.json()["input_tokens"] > 0
