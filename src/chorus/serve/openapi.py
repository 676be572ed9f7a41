"""The OpenAPI 3.1 description of ``chorus serve``'s HTTP API, served at ``/openapi.json``."""

from __future__ import annotations

from functools import cache
from typing import Any

__all__ = ["openapi"]

_ERROR = {"$ref": "#/components/schemas/Error"}


def _errors(*codes: int) -> dict[str, Any]:
    return {
        str(code): {
            "description": "An error",
            "content": {"application/json": {"schema": _ERROR}},
        }
        for code in codes
    }


def _ok(schema: dict[str, Any], *, stream: bool = False) -> dict[str, Any]:
    content: dict[str, Any] = {"application/json": {"schema": schema}}
    if stream:
        content["text/event-stream"] = {"schema": {"type": "string"}}
    return {"200": {"description": "OK", "content": content}}


def _path_params(*names: str) -> list[dict[str, Any]]:
    schemas = {
        "agent": {"type": "string", "minLength": 1, "maxLength": 64},
        "session": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"},
        "turn": {"type": "integer", "minimum": 1},
        "team": {"type": "string", "minLength": 1},
    }
    return [{"name": n, "in": "path", "required": True, "schema": schemas[n]} for n in names]


def _data(items: dict[str, Any]) -> dict[str, Any]:
    """A list answer: ``{"data": [item, ...]}``."""
    return {
        "type": "object",
        "required": ["data"],
        "properties": {"data": {"type": "array", "items": items}},
    }


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


@cache
def openapi(secured: bool = True) -> dict[str, Any]:
    """The API's description; ``secured``: the server checks API keys (it has some)."""
    session = _path_params("agent", "session")
    turn = _path_params("agent", "session", "turn")
    last_event = {
        "name": "Last-Event-ID",
        "in": "header",
        "required": False,
        "schema": {"type": "string", "pattern": "^[0-9]{1,18}$"},
    }
    auth_errors = (400, 401, 403, 404)
    obj: dict[str, Any] = {"type": "object"}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "chorus serve",
            "version": "1",
            "description": "Agents, sessions and teams over HTTP. Errors are "
            '{"type": "error", "error": {"type", "message"}}.',
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["type", "error"],
                    "properties": {
                        "type": {"const": "error"},
                        "error": {
                            "type": "object",
                            "required": ["type", "message"],
                            "properties": {
                                "type": {"type": "string"},
                                "message": {"type": "string"},
                            },
                        },
                    },
                },
                "Agent": {
                    "type": "object",
                    "required": ["name", "model", "tools", "capabilities"],
                    "properties": {
                        "name": {"type": "string"},
                        "model": {"type": "string"},
                        "tools": {"type": "array", "items": {"type": "string"}},
                        "capabilities": {"type": "array", "items": obj},
                        "max_tokens": {"type": "integer"},
                        "system": {"type": "boolean"},
                    },
                },
                "TurnRequest": {
                    "type": "object",
                    "required": ["message"],
                    "additionalProperties": False,
                    "properties": {
                        "message": {
                            "oneOf": [
                                {"type": "string", "minLength": 1, "pattern": "\\S"},
                                {"type": "array", "minItems": 1, "items": obj},
                            ]
                        },
                        "stream": {"type": "boolean"},
                        "if_busy": {"enum": ["reject", "enqueue"]},
                    },
                },
                "TurnResult": {
                    "type": "object",
                    "required": ["turn"],
                    "properties": {
                        "turn": {"type": "integer"},
                        "status": {"type": "string"},
                        "output": {},
                        "stop_reason": {"type": "string"},
                        "usage": obj,
                        "cost": {"type": "number"},
                    },
                },
            },
        },
        "security": [{"bearer": []}, {"apiKey": []}] if secured else [],
        "paths": {
            "/healthz": {"get": {"security": [], "responses": _ok(obj)}},
            "/readyz": {"get": {"security": [], "responses": {**_ok(obj), **_errors(503)}}},
            "/metrics": {
                "get": {
                    "responses": {
                        "200": {
                            "description": "Prometheus text",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        },
                        **_errors(401, 403),
                    }
                }
            },
            "/v1/agents": {
                "get": {
                    "responses": {
                        **_ok(_data({"$ref": "#/components/schemas/Agent"})),
                        **_errors(401, 403),
                    }
                }
            },
            "/v1/agents/{agent}": {
                "get": {
                    "parameters": _path_params("agent"),
                    "responses": {
                        **_ok({"$ref": "#/components/schemas/Agent"}),
                        **_errors(*auth_errors),
                    },
                }
            },
            "/v1/agents/{agent}/sessions": {
                "get": {
                    "summary": "The tenant's sessions with this agent, most recent first",
                    "parameters": [
                        *_path_params("agent"),
                        {
                            "name": "q",
                            "in": "query",
                            "description": "an id fragment, or words said in the session",
                            "schema": {"type": "string", "maxLength": 200},
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 500},
                        },
                    ],
                    "responses": {
                        **_ok(
                            _data(
                                {
                                    "type": "object",
                                    "required": ["session", "messages", "updated"],
                                    "properties": {
                                        "session": {"type": "string"},
                                        "messages": {"type": "integer"},
                                        "created": {"type": "number"},
                                        "updated": {"type": "number"},
                                    },
                                }
                            )
                        ),
                        **_errors(*auth_errors),
                    },
                }
            },
            "/v1/agents/{agent}/sessions/{session}/turns": {
                "post": {
                    "parameters": [
                        *session,
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                        },
                    ],
                    "requestBody": _body({"$ref": "#/components/schemas/TurnRequest"}),
                    "responses": {
                        **_ok({"$ref": "#/components/schemas/TurnResult"}, stream=True),
                        **_errors(*auth_errors, 409, 413, 429, 500, 503, 504),
                    },
                }
            },
            "/v1/agents/{agent}/sessions/{session}/turns/{turn}": {
                "get": {"parameters": turn, "responses": {**_ok(obj), **_errors(*auth_errors)}}
            },
            "/v1/agents/{agent}/sessions/{session}/turns/{turn}/events": {
                "get": {
                    "parameters": [*turn, last_event],
                    "responses": {
                        "200": {
                            "description": "Server-sent events after Last-Event-ID",
                            "content": {"text/event-stream": {"schema": {"type": "string"}}},
                        },
                        **_errors(*auth_errors),
                    },
                }
            },
            "/v1/agents/{agent}/sessions/{session}/turns/{turn}/cancel": {
                "post": {"parameters": turn, "responses": {**_ok(obj), **_errors(*auth_errors)}}
            },
            "/v1/agents/{agent}/sessions/{session}": {
                "get": {
                    "parameters": [
                        *session,
                        {
                            "name": "start",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 0, "maximum": 2**62},
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                        },
                    ],
                    "responses": {**_ok(obj), **_errors(*auth_errors)},
                },
                "delete": {
                    "parameters": session,
                    "responses": {**_ok(obj), **_errors(*auth_errors, 409)},
                },
            },
            "/v1/agents/{agent}/sessions/{session}/pending": {
                "get": {"parameters": session, "responses": {**_ok(obj), **_errors(*auth_errors)}}
            },
            "/v1/agents/{agent}/sessions/{session}/resume": {
                "post": {
                    "parameters": session,
                    "requestBody": _body(
                        {
                            "type": "object",
                            "required": ["decisions"],
                            "additionalProperties": False,
                            "properties": {
                                "decisions": {
                                    "type": "object",
                                    "minProperties": 1,
                                    "additionalProperties": {"type": "boolean"},
                                },
                                "stream": {"type": "boolean"},
                            },
                        }
                    ),
                    "responses": {
                        **_ok(obj, stream=True),
                        **_errors(*auth_errors, 409, 429, 500, 503, 504),
                    },
                }
            },
            "/v1/messages": {
                "post": {
                    "description": "An agent as a Claude model: the Messages API's request "
                    "and reply; `x-chorus-session` makes it a turn of that session.",
                    "parameters": [
                        {
                            "name": "x-chorus-session",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"},
                        }
                    ],
                    "requestBody": _body(
                        {
                            "type": "object",
                            "required": ["model", "max_tokens", "messages"],
                            "properties": {
                                "model": {"type": "string"},
                                "max_tokens": {"type": "integer", "minimum": 1},
                                "messages": {"type": "array", "minItems": 1, "items": obj},
                                "stream": {"type": "boolean"},
                            },
                        }
                    ),
                    "responses": {
                        **_ok(obj, stream=True),
                        **_errors(*auth_errors, 409, 429, 500, 502, 503, 504),
                    },
                }
            },
            "/v1/models": {
                "get": {"responses": {**_ok(obj), **_errors(401, 403)}},
            },
            "/v1/models/{model}": {
                "get": {
                    "parameters": [
                        {
                            "name": "model",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {**_ok(obj), **_errors(*auth_errors)},
                }
            },
            "/.well-known/agent-card.json": {
                "get": {
                    "summary": "The A2A agent card of the server's default agent (docs/a2a.md)",
                    "security": [],
                    "responses": {**_ok(obj)},
                }
            },
            "/a2a/{agent}/.well-known/agent-card.json": {
                "get": {
                    "summary": "An agent's A2A agent card",
                    "security": [],
                    "parameters": _path_params("agent"),
                    "responses": {**_ok(obj), **_errors(404)},
                }
            },
            "/a2a/{agent}": {
                "post": {
                    "summary": "A2A JSON-RPC: SendMessage, SendStreamingMessage, GetTask, "
                    "CancelTask, ListTasks, SubscribeToTask (and the 0.3 names)",
                    "parameters": _path_params("agent"),
                    "requestBody": _body(obj),
                    "responses": {
                        "200": {
                            "description": "A JSON-RPC response, or for a stream its events",
                            "content": {
                                "application/json": {"schema": obj},
                                "text/event-stream": {"schema": {"type": "string"}},
                            },
                        },
                        **_errors(400, 401, 403, 404, 413),
                    },
                }
            },
            "/v1/teams": {
                "get": {
                    "summary": "The teams and their members",
                    "responses": {
                        **_ok(
                            _data(
                                {
                                    "type": "object",
                                    "required": ["name", "agents"],
                                    "properties": {
                                        "name": {"type": "string"},
                                        "agents": {"type": "array", "items": {"type": "string"}},
                                    },
                                }
                            )
                        ),
                        **_errors(401, 403),
                    },
                }
            },
            "/v1/teams/{team}/assign": {
                "post": {
                    "parameters": _path_params("team"),
                    "requestBody": _body(
                        {
                            "type": "object",
                            "required": ["task"],
                            "additionalProperties": False,
                            "properties": {
                                "task": {"type": "string", "minLength": 1, "pattern": "\\S"},
                                "capability": {"type": "string"},
                                "stream": {"type": "boolean"},
                            },
                        }
                    ),
                    "responses": {**_ok(obj, stream=True), **_errors(*auth_errors, 422)},
                }
            },
            "/v1/teams/{team}/decide": {
                "post": {
                    "parameters": _path_params("team"),
                    "requestBody": _body(
                        {
                            "type": "object",
                            "required": ["question"],
                            "additionalProperties": False,
                            "properties": {
                                "question": {"type": "string", "minLength": 1, "pattern": "\\S"},
                                "strategy": {
                                    "enum": [
                                        "majority",
                                        "confidence",
                                        "weighted",
                                        "debate",
                                        "self_consistency",
                                        "judge",
                                    ]
                                },
                                "judge": {
                                    "type": "string",
                                    "description": "the agent that judges (strategy judge)",
                                },
                                "among": {"type": "array", "items": {"type": "string"}},
                                "rounds": {"enum": [1, 2]},
                                "samples": {"type": "integer", "minimum": 1, "maximum": 20},
                                "quorum": {"type": "integer", "minimum": 1},
                                "capability": {"type": "string"},
                                "stream": {"type": "boolean"},
                            },
                        }
                    ),
                    "responses": {**_ok(obj, stream=True), **_errors(*auth_errors, 422)},
                }
            },
        },
    }
