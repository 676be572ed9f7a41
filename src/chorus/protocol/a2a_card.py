"""A2A agent cards as data: writing one for a chorus agent or team, reading a remote one,
and the allow-list that decides which hosts chorus may ever ask for one. Pure.

A card is written in the A2A 1.0 shape (``supportedInterfaces``, ``securitySchemes``
with ``httpAuthSecurityScheme``, ``securityRequirements``), with the 0.3 fields folded in
beside it (``url``, ``preferredTransport``, ``protocolVersion``, ``security``), as the
a2a-sdk's own server does, so clients of either version read it. Read, a card of either
version gives its skills (:func:`skills_of`, which become a team member's capabilities)
and its JSON-RPC endpoint (:func:`endpoint_of`).

The allow-list (:func:`host_refusal`) is checked before any request is made: a config
that names a host not on it is refused at load, and a card that points its endpoint to
another host is refused when read. A host allowed by *name* is checked again at every
resolution (:func:`address_refusal`): it may lead only to public addresses, unless the
address itself is on the list, so a name whose DNS answer turns to a loopback, private,
link-local (cloud metadata) or otherwise internal address is refused, not followed.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from chorus.protocol.a2a import INPUT_MODES, OUTPUT_MODES

__all__ = [
    "CARD_PATH",
    "Skill",
    "address_refusal",
    "agent_card",
    "card_url",
    "credential_header",
    "endpoint_of",
    "etag",
    "host_refusal",
    "matches_etag",
    "skills_of",
]

CARD_PATH = "/.well-known/agent-card.json"


@dataclass(frozen=True, slots=True)
class Skill:
    """What a card says its agent can do."""

    id: str
    name: str
    description: str = ""
    tags: tuple[str, ...] = ()


def agent_card(
    *,
    name: str,
    description: str,
    url: str,
    version: str,
    skills: Sequence[Skill],
    secured: bool,
    streaming: bool = True,
) -> dict[str, Any]:
    """The card of an agent whose JSON-RPC endpoint is ``url``. ``secured``: the server
    has API keys, sent as ``Authorization: Bearer`` or ``x-api-key``."""
    card: dict[str, Any] = {
        "name": name,
        "description": description,
        "supportedInterfaces": [
            {"url": url, "protocolBinding": "JSONRPC", "protocolVersion": "1.0"},
            {"url": url, "protocolBinding": "JSONRPC", "protocolVersion": "0.3"},
        ],
        "version": version,
        "capabilities": {"streaming": streaming, "pushNotifications": False},
        "defaultInputModes": list(INPUT_MODES),
        "defaultOutputModes": list(OUTPUT_MODES),
        "skills": [
            {
                "id": s.id,
                "name": s.name,
                "description": s.description or s.name,
                "tags": list(s.tags or _words(s.name)),
            }
            for s in skills
        ],
        # the 0.3 card's fields, which a 1.0 reader ignores
        "url": url,
        "preferredTransport": "JSONRPC",
        "protocolVersion": "0.3.0",
    }
    if secured:
        card["securitySchemes"] = {
            "bearer": {
                "httpAuthSecurityScheme": {"scheme": "Bearer"},
                "type": "http",
                "scheme": "Bearer",
            },
            "apiKey": {
                "apiKeySecurityScheme": {"location": "header", "name": "x-api-key"},
                "type": "apiKey",
                "in": "header",
                "name": "x-api-key",
            },
        }
        card["securityRequirements"] = [
            {"schemes": {"bearer": {"list": []}}},
            {"schemes": {"apiKey": {"list": []}}},
        ]
        card["security"] = [{"bearer": []}, {"apiKey": []}]
    return card


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower()) or [text]


def etag(card: Mapping[str, Any]) -> str:
    """A weak entity tag over the card's content (its keys sorted)."""
    body = msgspec.json.encode(card, order="sorted")
    return f'W/"{hashlib.sha256(body).hexdigest()[:32]}"'


def matches_etag(header: str | None, tag: str) -> bool:
    """Whether ``If-None-Match`` names ``tag`` (weak comparison, ``*`` matches)."""
    if not header:
        return False
    given = [t.strip() for t in header.split(",")]
    return "*" in given or any(t.removeprefix("W/") == tag.removeprefix("W/") for t in given)


# ---------------------------------------------------------------------- reading


def skills_of(card: Any) -> list[Skill]:
    """The skills a card (1.0 or 0.3) declares; malformed entries are left out."""
    skills = card.get("skills") if isinstance(card, dict) else None
    out: list[Skill] = []
    seen: set[str] = set()
    for raw in skills if isinstance(skills, list) else []:
        if not isinstance(raw, dict):
            continue
        sid = raw.get("id") or raw.get("name")
        if not isinstance(sid, str) or not sid.strip() or sid in seen:
            continue
        seen.add(sid)
        tags: list[Any] = raw["tags"] if isinstance(raw.get("tags"), list) else []
        out.append(
            Skill(
                sid,
                str(raw.get("name") or sid),
                str(raw.get("description") or ""),
                tuple(str(t) for t in tags),
            )
        )
    return out


def endpoint_of(card: Any) -> tuple[str, str] | None:
    """The card's JSON-RPC endpoint and the dialect to speak there ("1.0" or "0.3"):
    a 1.0 interface if it has one, else a 0.3 one (or a 0.3 card's ``url``)."""
    if not isinstance(card, dict):
        return None
    found: dict[str, str] = {}
    interfaces = card.get("supportedInterfaces")
    for raw in interfaces if isinstance(interfaces, list) else []:
        if not isinstance(raw, dict) or raw.get("protocolBinding") != "JSONRPC":
            continue
        url, version = raw.get("url"), str(raw.get("protocolVersion") or "1.0")
        if isinstance(url, str) and url:
            dialect = "0.3" if version.startswith("0.") else "1.0"
            found.setdefault(dialect, url)
    if not interfaces and isinstance(card.get("url"), str):
        transport = card.get("preferredTransport") or "JSONRPC"
        if transport == "JSONRPC":
            version = str(card.get("protocolVersion") or "0.3")
            found["0.3" if version.startswith("0.") else "1.0"] = card["url"]
    for dialect in ("1.0", "0.3"):
        if dialect in found:
            return found[dialect], dialect
    return None


def credential_header(card: Any, key: str) -> dict[str, str]:
    """How to present ``key`` to the card's agent: as a bearer token, unless it asks
    only for an API-key header."""
    schemes = card.get("securitySchemes") if isinstance(card, dict) else None
    bearer = {"Authorization": f"Bearer {key}"}
    if not isinstance(schemes, dict) or not schemes:
        return bearer
    for scheme in schemes.values():
        if not isinstance(scheme, dict):
            continue
        http = scheme.get("httpAuthSecurityScheme") or (
            scheme if scheme.get("type") == "http" else None
        )
        if isinstance(http, dict) and str(http.get("scheme", "")).lower() == "bearer":
            return bearer
    for scheme in schemes.values():
        if not isinstance(scheme, dict):
            continue
        api = scheme.get("apiKeySecurityScheme") or (
            scheme if scheme.get("type") == "apiKey" else None
        )
        if isinstance(api, dict):
            where = api.get("location") or api.get("in")
            if where == "header" and isinstance(api.get("name"), str):
                return {api["name"]: key}
    return bearer


# ---------------------------------------------------------------------- where


_URL = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<user>[^/?#@]*@)?"
    r"(?P<host>\[[^\]/]*\]|[^/?#:@]*)(?::(?P<port>[^/?#]*))?(?P<path>[^?#]*)"
)


@dataclass(frozen=True, slots=True)
class _Where:
    scheme: str
    host: str
    port: int | None
    path: str
    userinfo: bool


def _split(url: str) -> _Where | None:
    """A URL's scheme, host (lower case, IPv6 without brackets), port and path."""
    match = _URL.match(url.strip())
    if match is None:
        return None
    port = match.group("port")
    if port is not None and (not port.isdigit() or not 0 < int(port) < 65536):
        return None
    host = match.group("host").lower().strip("[]")
    return _Where(
        match.group("scheme").lower(),
        host,
        int(port) if port else None,
        match.group("path"),
        bool(match.group("user")),
    )


def card_url(url: str) -> str:
    """Where an agent's card is: ``url`` itself if it names a ``.json`` file, else its
    well-known path under ``url``."""
    where = _split(url)
    if where is not None and where.path.endswith(".json"):
        return url
    return url.split("?")[0].split("#")[0].rstrip("/") + CARD_PATH


def host_refusal(url: str, allow_hosts: Iterable[str]) -> str | None:
    """Why chorus may not send a request to ``url``, or None when it may: the URL is
    http(s) and its host is on ``allow_hosts`` (entries are host names or addresses,
    compared exactly and without case; ``host:port`` allows that port only)."""
    where = _split(url)
    if where is None or where.scheme not in ("http", "https") or not where.host:
        return f"{url!r} is not an http(s) URL"
    if where.userinfo:
        return f"{url!r} carries credentials; give them as key_env instead"
    port = where.port or (443 if where.scheme == "https" else 80)
    for entry in allow_hosts:
        entry = entry.strip()
        if entry.count(":") > 1 and not entry.startswith("["):  # a bare IPv6 address
            entry = f"[{entry}]"
        allowed = _split("http://" + entry)
        if allowed is not None and allowed.host == where.host and allowed.port in (None, port):
            return None
    return f"host {where.host} is not on a2a.allow_hosts"


def address_refusal(host: str, address: str, port: int, allow_hosts: Iterable[str]) -> str | None:
    """Why chorus may not connect to ``address`` (at ``port``), which ``host`` resolved to,
    or None when it may. A host given as an address was allowed as such
    (:func:`host_refusal`); a name may lead to a public address, or to one that is itself
    on ``allow_hosts`` (for ``port``, if the entry names one). An IPv6 address that carries
    an IPv4 one (mapped, compatible, 6to4, NAT64) is judged as the IPv4 address."""
    if _literal(host) is not None:
        return None
    ip = _literal(address)
    if ip is None:
        return f"{host} resolved to {address!r}, which is not an address"
    ip = _carried(ip)
    if _public(ip):
        return None
    for entry in allow_hosts:
        entry = entry.strip()
        if _literal(entry) is not None:  # a bare address (an IPv6 one has colons)
            allowed_ip, allowed_port = _literal(entry), None
        else:
            split = _split("http://" + entry)
            if split is None:
                continue
            allowed_ip, allowed_port = _literal(split.host), split.port
        if allowed_ip is not None and _carried(allowed_ip) == ip and allowed_port in (None, port):
            return None
    return (
        f"{host} resolved to {ip}, which is not a public address; "
        f"add {ip} to a2a.allow_hosts to allow it"
    )


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_COMPATIBLE = ipaddress.ip_network("::/96")


def _carried(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, NAT64, compatible), else it."""
    if isinstance(ip, ipaddress.IPv4Address):
        return ip
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or (ip in _COMPATIBLE and int(ip) > 1):  # (not :: or ::1)
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def _public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Reachable on the public internet, by every test the address itself allows."""
    if not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_private:
        return False
    return not (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local)


def _literal(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """``text`` as an IP address (bracketed IPv6 too, a zone dropped), else None."""
    try:
        return ipaddress.ip_address(text.strip("[]").split("%")[0])
    except ValueError:
        return None
