"""What the simulated model says: deterministic behaviours that make agents meaningful offline.

A behaviour reads the request and returns a :class:`Plan` (content blocks and
a stop reason) or None to pass. ``auto`` chains them: a scripted rule if one
matches, then a summary when asked for one, then tool use, then recall, then echo.

* ``echo``     repeats the last user message.
* ``template`` fills ``SimConfig.template`` (``{last_user}``, ``{model}``, ``{turn}``).
* ``script``   replies from rules matched on the last user message.
* ``tools``    calls a tool when one is offered and the conversation calls for it
               (a rule, ``tool_choice``, or the user's words matching its name or
               description) with input built from its schema; after the tool
               result comes back it answers from that result.
* ``recall``   answers a question from facts present in the prompt it was sent,
               and says it does not know when they are absent.
* ``summarize`` answers "Summarize the conversation above in at most N words"
               with a lossy, bounded summary (:mod:`chorus.sim.summarize`).
* ``quiz``     answers keyed multiple-choice questions with a per-model accuracy,
               correlated errors and a stated confidence (:mod:`chorus.sim.quiz`).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from chorus.sim.config import ScriptRule, SimConfig
from chorus.sim.plan import Plan, PlannedBlock
from chorus.sim.quiz import quiz
from chorus.sim.reading import last_user_text
from chorus.sim.reading import text_of as _text_of
from chorus.sim.registry import chain as chain_of
from chorus.sim.registry import names, register
from chorus.sim.request import MessagesRequest, SimError
from chorus.sim.summarize import summarize

__all__ = ["Plan", "PlannedBlock", "plan_reply"]


_RECALL_PREFIX = "From what I was told:"
DONT_KNOW = "I don't know: nothing I can see tells me that."

Behaviour = Callable[[MessagesRequest, SimConfig], Plan | None]


def plan_reply(request: MessagesRequest, config: SimConfig, behaviour: str | None = None) -> Plan:
    """The reply for ``request`` under ``behaviour`` (default: the model's, then the config's)."""
    name = behaviour or request.model.behaviour or config.behaviour
    chain = chain_of(name)
    if chain is None:
        raise SimError(400, f"x-chorus-behaviour: {name!r} is not one of {', '.join(names())}")
    plan = None
    for step in chain:
        plan = step(request, config)
        if plan is not None:
            break
    if plan is None:
        plan = echo(request, config)
    _continue_prefill(plan, request.messages)
    if request.wants_thinking and not any(b.kind == "thinking" for b in plan.blocks):
        asked = last_user_text(request.messages)[:80] or "the tool results"
        plan.blocks.insert(
            0, PlannedBlock("thinking", f"The user asked about: {asked}. I will answer directly.")
        )
    return plan


def _continue_prefill(plan: Plan, messages: list[dict[str, Any]]) -> None:
    """A final assistant message is a prefill: the reply continues it, not repeats it."""
    if not messages or messages[-1].get("role") != "assistant":
        return
    prefill = _text_of(messages[-1].get("content"))
    if not prefill:
        return
    for block in plan.blocks:
        if block.kind == "text":
            if block.text.startswith(prefill):
                block.text = block.text[len(prefill) :]
                if not block.text:  # the prefill was the whole reply: nothing more to say
                    plan.blocks.remove(block)
            return


# --------------------------------------------------------------------------- reading the prompt


def _last_tool_results(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not messages or messages[-1].get("role") != "user":
        return []
    content = messages[-1].get("content")
    if not isinstance(content, list):
        return []
    return [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]


def _tool_names_by_id(messages: list[dict[str, Any]]) -> dict[str, str]:
    names: dict[str, str] = {}
    for message in messages:
        content = message.get("content")
        if message.get("role") == "assistant" and isinstance(content, list):
            for block in content:
                if isinstance(block, dict) and block.get("type") == "tool_use":
                    names[str(block.get("id"))] = str(block.get("name"))
    return names


# --------------------------------------------------------------------------- echo / template


def echo(request: MessagesRequest, config: SimConfig) -> Plan:
    text = last_user_text(request.messages) or "(nothing to echo)"
    return Plan([PlannedBlock("text", text)])


def template(request: MessagesRequest, config: SimConfig) -> Plan:
    turn = sum(1 for m in request.messages if m.get("role") == "user")
    try:
        text = config.template.format(
            last_user=last_user_text(request.messages), model=request.model.id, turn=turn
        )
    except (KeyError, IndexError, ValueError):
        text = config.template
    return Plan([PlannedBlock("text", text or "(empty template)")])


# --------------------------------------------------------------------------- script


def script(request: MessagesRequest, config: SimConfig) -> Plan | None:
    text = last_user_text(request.messages)
    for rule in config.script:
        if _matches(rule, text):
            return _from_rule(rule, request, text)
    return None


def _matches(rule: ScriptRule, text: str) -> bool:
    if not rule.match:
        return True
    if rule.match.startswith("re:"):
        return re.search(rule.match[3:], text) is not None
    return rule.match.lower() in text.lower()


def _from_rule(rule: ScriptRule, request: MessagesRequest, text: str) -> Plan:
    blocks: list[PlannedBlock] = []
    if rule.thinking and request.wants_thinking:
        blocks.append(PlannedBlock("thinking", rule.thinking))
    if rule.reply:
        blocks.append(PlannedBlock("text", rule.reply.replace("{last_user}", text)))
    offered = {t.get("name") for t in request.tools}
    if rule.tool and rule.tool in offered:
        blocks.append(PlannedBlock("tool_use", name=rule.tool, input=dict(rule.input)))
        return Plan(blocks, rule.stop_reason or "tool_use")
    if not blocks:
        blocks.append(PlannedBlock("text", "(scripted reply)"))
    return Plan(blocks, rule.stop_reason or "end_turn")


# --------------------------------------------------------------------------- tools

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    """a an and are as at be by can could did do does for from get give has have how i if in
    into is it its me my of on or our please should tell than that the their them then there
    these this to use was we what when where which who why will with would you your""".split()
)


def _words(text: str) -> list[str]:
    """Content words, lower-cased, with a plural or third-person "s" folded away."""
    out = []
    for w in _WORD.findall(text.lower().replace("'s", " ")):
        if w in _STOP:
            continue
        if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
            w = w[:-1]
        out.append(w)
    return out


def tools(request: MessagesRequest, config: SimConfig) -> Plan | None:
    results = _last_tool_results(request.messages)
    if results:
        retry = _retry_refused(request, results)
        return retry if retry is not None else _answer_from_results(request, results)
    choice = (request.tool_choice or {}).get("type", "auto")
    if not request.tools or choice == "none":
        return None
    text = last_user_text(request.messages)
    offered = {t["name"]: t for t in request.tools if isinstance(t.get("name"), str)}
    chosen: list[tuple[str, dict[str, Any]]] = []
    if choice == "tool":
        name = request.tool_choice["name"]  # type: ignore[index]
        chosen = [(name, _rule_input(config, text, name) or synthesize(offered[name], text))]
    else:
        for rule in config.tool_rules:
            if rule.tool in offered and rule.when.lower() in text.lower():
                chosen = [(rule.tool, dict(rule.input))]
                break
        if not chosen:
            ranked = _rank_tools(list(offered.values()), text)
            if ranked:
                best = ranked[0][0]
                tied = [name for score, name in ranked if score == best]
                parallel = not (request.tool_choice or {}).get("disable_parallel_tool_use")
                for name in tied[: 4 if parallel else 1]:
                    chosen.append((name, synthesize(offered[name], text)))
            elif choice == "any":
                first = next(iter(offered))
                chosen = [(first, synthesize(offered[first], text))]
    if not chosen:
        return None
    listed = ", ".join(name for name, _ in chosen)
    blocks = [PlannedBlock("text", f"I'll use {listed} for this.")]
    blocks += [PlannedBlock("tool_use", name=name, input=args) for name, args in chosen]
    return Plan(blocks, "tool_use")


def _rule_input(config: SimConfig, text: str, name: str) -> dict[str, Any] | None:
    for rule in config.tool_rules:
        if rule.tool == name and rule.when.lower() in text.lower():
            return dict(rule.input)
    return None


def _rank_tools(offered: list[dict[str, Any]], text: str) -> list[tuple[int, str]]:
    said = set(_words(text))
    ranked = []
    for tool in offered:
        name = str(tool["name"])
        name_parts = set(_words(name.replace("_", " ").replace("-", " ")))
        name_hits = len(name_parts & said)
        desc_hits = len(set(_words(str(tool.get("description", "")))) & said)
        if name_hits or desc_hits >= 2:
            ranked.append((name_hits * 3 + desc_hits, name))
    ranked.sort(key=lambda r: -r[0])
    return ranked


_REFUSED = ("missing required field", "expected ", "invalid enum value", "unknown field", "must be")
MAX_SELF_CORRECTIONS = 2


def _retry_refused(request: MessagesRequest, results: list[dict[str, Any]]) -> Plan | None:
    """A tool refused the input as malformed: call it again, built afresh from the request.

    Like a real model reading the error, at most twice in a row per turn.
    """
    names = _tool_names_by_id(request.messages)
    offered = {t["name"]: t for t in request.tools if isinstance(t.get("name"), str)}
    refused = [
        names.get(str(r.get("tool_use_id")), "")
        for r in results
        if r.get("is_error") and any(m in _text_of(r.get("content", "")) for m in _REFUSED)
    ]
    refused = [n for n in refused if n in offered]
    if not refused:
        return None
    tries = 0
    for message in reversed(request.messages):
        content = message.get("content")
        if message.get("role") == "user" and not _last_tool_results([message]):
            break
        if message.get("role") == "assistant" and isinstance(content, list):
            tries += sum(1 for b in content if isinstance(b, dict) and b.get("type") == "tool_use")
    if tries > MAX_SELF_CORRECTIONS:
        return None
    text = last_user_text([m for m in request.messages if not _last_tool_results([m])])
    blocks = [PlannedBlock("text", "Let me fix the input and try again.")]
    blocks += [
        PlannedBlock("tool_use", name=n, input=synthesize(offered[n], text)) for n in refused
    ]
    return Plan(blocks, "tool_use")


def _answer_from_results(request: MessagesRequest, results: list[dict[str, Any]]) -> Plan:
    names = _tool_names_by_id(request.messages)
    lines = []
    for result in results:
        name = names.get(str(result.get("tool_use_id")), "the tool")
        body = _text_of(result.get("content", "")).strip() or "(no output)"
        if result.get("is_error"):
            lines.append(f"{name} failed: {body}")
        else:
            lines.append(f"{name} returned: {body}")
    return Plan([PlannedBlock("text", "Here is what I found. " + " ".join(lines))])


# --------------------------------------------------------------------------- schema-valid input


def synthesize(tool: dict[str, Any], text: str) -> dict[str, Any]:
    """Input for ``tool`` that its ``input_schema`` accepts, drawn from the user's words."""
    schema = tool.get("input_schema") or {"type": "object"}
    value = _value(schema, text, "", schema, 0)
    return value if isinstance(value, dict) else {}


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        node: Any = root
        for part in ref[2:].split("/"):
            node = node.get(part, {}) if isinstance(node, dict) else {}
        return node if isinstance(node, dict) else {}
    return schema


def _value(schema: dict[str, Any], text: str, key: str, root: dict[str, Any], depth: int) -> Any:
    schema = _resolve(schema, root)
    if depth > 8:
        return None
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        lowered = text.lower()
        for option in schema["enum"]:
            if str(option).lower() in lowered:
                return option
        return schema["enum"][0]
    for combo in ("anyOf", "oneOf", "allOf"):
        if schema.get(combo):
            options = [o for o in schema[combo] if _resolve(o, root).get("type") != "null"]
            return _value((options or schema[combo])[0], text, key, root, depth + 1)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props = schema.get("properties") or {}
        required = set(schema.get("required") or [])
        mentioned = {p for p in props if p.lower() in text.lower()}
        return {
            name: _value(sub, text, name, root, depth + 1)
            for name, sub in props.items()
            if name in required or name in mentioned
        }
    if kind == "array":
        count = max(1, int(schema.get("minItems", 1)))
        item = schema.get("items") or {"type": "string"}
        return [_value(item, text, key, root, depth + 1) for _ in range(count)]
    if kind in ("integer", "number"):
        return _number(schema, text, kind == "integer")
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return _string(schema, text, key)


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_QUOTED = re.compile(r"[\"“']([^\"”']{1,200})[\"”']")
_AFTER_PREP = re.compile(
    r"\b(?:in|for|at|about|of|near|from|to)\s+([A-Z][\w.-]*(?:[ ,]+[A-Z][\w.-]*)*)"
)
_CAPITALIZED = re.compile(r"\b([A-Z][\w-]+(?:\s+[A-Z][\w-]+)*)")


def _number(schema: dict[str, Any], text: str, integer: bool) -> int | float:
    found = _NUMBER.findall(text)
    value: float = float(found[0]) if found else float(schema.get("minimum", 1))
    if "minimum" in schema:
        value = max(value, float(schema["minimum"]))
    if "maximum" in schema:
        value = min(value, float(schema["maximum"]))
    return math.floor(value) if integer else value


def _string(schema: dict[str, Any], text: str, key: str) -> str:
    candidates = []
    quoted = _QUOTED.search(text)
    if quoted:
        candidates.append(quoted.group(1))
    place = _AFTER_PREP.search(text)
    if place:
        candidates.append(place.group(1).strip(" ,"))
    caps = [c for c in _CAPITALIZED.findall(text) if c.lower() not in _STOP]
    if caps:
        candidates.append(caps[-1])
    words = _words(text)
    if words:
        candidates.append(words[-1])
    value = candidates[0] if candidates else (key or "example")
    lo, hi = int(schema.get("minLength", 0)), int(schema.get("maxLength", 10_000))
    if len(value) < lo:
        value = value + "x" * (lo - len(value))
    return value[:hi]


# --------------------------------------------------------------------------- recall

_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")
_QUESTION_START = re.compile(
    r"^\s*(what|who|whom|whose|where|when|which|why|how|do you|does|did|is|are|can you tell|"
    r"remind me|recall)\b",
    re.I,
)
_WH = frozenset("what who whom whose where when which why how remind recall remember know".split())


def recall(request: MessagesRequest, config: SimConfig) -> Plan | None:
    question = _question(request.messages).strip()
    if not question or not (question.endswith("?") or _QUESTION_START.match(question)):
        return None
    asked = [w for w in _words(question) if w not in _WH]
    if not asked:
        return None
    corpus = _facts(request)
    if not corpus:
        return Plan([PlannedBlock("text", DONT_KNOW)])
    # Rare words decide: a planted fact shares the question's rare words, a
    # distractor shares only the common ones.
    df: Counter[str] = Counter()
    tokenized = []
    for sentence in corpus:
        words = set(_words(sentence))
        tokenized.append(words)
        df.update(words)
    n = len(corpus)
    weight = {w: math.log(1 + n / (1 + df[w])) for w in asked}
    total = sum(weight.values())
    best, best_score = -1, 0.0
    for i, words in enumerate(tokenized):
        score = sum(weight[w] for w in asked if w in words) / total
        if score >= best_score and score > 0:  # later facts win ties: they are newer
            best, best_score = i, score
    if best < 0 or best_score < 0.8:
        return Plan([PlannedBlock("text", DONT_KNOW)])
    fact = corpus[best].strip()
    return Plan([PlannedBlock("text", f"{_RECALL_PREFIX} {fact}")])


def _question(messages: list[dict[str, Any]]) -> str:
    """The last text block of the last message: earlier blocks of it are context handed over."""
    content = messages[-1].get("content") if messages else None
    if isinstance(content, list):
        texts = [b for b in content if isinstance(b, dict) and b.get("type") == "text"]
        return str(texts[-1].get("text", "")) if texts else ""
    return last_user_text(messages)


def _facts(request: MessagesRequest) -> list[str]:
    texts: list[str] = []
    system = request.system
    if isinstance(system, str):
        texts.append(system)
    elif isinstance(system, list):
        texts.extend(str(b.get("text", "")) for b in system if isinstance(b, dict))
    for message in request.messages[:-1]:
        texts.append(_text_of(message.get("content")))
    last = request.messages[-1] if request.messages else {}
    if isinstance(last.get("content"), list):
        # Context handed over in the same message as the question counts too.
        texts.extend(
            str(b.get("text", ""))
            for b in last["content"][:-1]
            if isinstance(b, dict) and b.get("type") == "text"
        )
    facts = []
    for text in texts:
        for sentence in _SENTENCE.findall(text):
            s = sentence.strip().removeprefix(_RECALL_PREFIX).strip()
            if s and not s.endswith("?"):
                facts.append(s)
    return facts


register("auto", script, summarize, tools, recall, echo)
register("echo", echo)
register("template", template)
register("script", script, echo)
register("tools", tools, echo)
register("recall", summarize, recall, echo)
register("summarize", summarize, echo)
register("quiz", quiz, summarize, echo)
