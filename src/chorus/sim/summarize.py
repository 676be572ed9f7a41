"""The simulated model summarising a conversation: lossy, bounded, deterministic.

Asked to "summarize the conversation above in at most N words", it keeps the
most specific sentences (numbers, names, codes) of what it was given, in their
original order, within N words and within a quarter of the input's length, the
way a real summary leaves detail out. That loss is what makes context
strategies comparable offline: a summary of a summary keeps less each time.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from chorus.sim.plan import Plan, PlannedBlock

if TYPE_CHECKING:
    from chorus.sim.config import SimConfig
    from chorus.sim.request import MessagesRequest

__all__ = ["summarize"]

_ASK = re.compile(r"summari[sz]e the conversation above(?: in at most (\d+) words)?", re.I)
_CONVERSATION = re.compile(r"<conversation>(.*?)</conversation>", re.S)
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")
_SPEAKER = re.compile(r"^(?:User|Assistant|Tool result)(?: called [^:]*)?:\s*")
_SPECIFIC = re.compile(r"\d|^[A-Z]")
MIN_WORDS = 12


def summarize(request: MessagesRequest, config: SimConfig) -> Plan | None:

    text = _last_text(request.messages)
    ask = _ASK.search(text)
    if ask is None:
        return None
    limit = int(ask.group(1)) if ask.group(1) else 200
    found = _CONVERSATION.search(text)
    body = found.group(1) if found else text[: ask.start()]
    sentences = _sentences(body)
    words_in = sum(len(s.split()) for s in sentences)
    room = min(limit, max(MIN_WORDS, words_in // 4))
    ranked = sorted(range(len(sentences)), key=lambda i: (-_specificity(sentences[i]), i))
    keep: list[int] = []
    for i in ranked:
        n = len(sentences[i].split())
        if n <= room:
            keep.append(i)
            room -= n
    summary = " ".join(sentences[i] for i in sorted(keep)) or "Nothing of note was said."
    return Plan([PlannedBlock("text", summary)])


def _sentences(body: str) -> list[str]:
    seen: set[str] = set()
    out = []
    for line in body.splitlines():
        line = _SPEAKER.sub("", line.strip())
        for raw in _SENTENCE.findall(line):
            s = raw.strip()
            if len(s) < 3 or s.endswith("?") or s.lower() in seen:
                continue  # questions are not facts; an echoed sentence counts once
            seen.add(s.lower())
            out.append(s)
    return out


def _specificity(sentence: str) -> int:
    words = sentence.split()
    return sum(1 for k, w in enumerate(words) if _SPECIFIC.search(w) and (k or w[:1].isdigit()))


def _last_text(messages: list[dict[str, Any]]) -> str:
    content = messages[-1].get("content") if messages else None
    if isinstance(content, str):
        return content
    texts = [b for b in content or () if isinstance(b, dict) and b.get("type") == "text"]
    return "\n".join(str(b.get("text", "")) for b in texts)
