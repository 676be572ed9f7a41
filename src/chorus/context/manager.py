"""What an agent sends each call: summaries, recalled turns and the latest turns, within limit.

:meth:`ContextManager.layout` is pure: from the full history and the session's
:class:`~chorus.context.compaction.ContextState` it builds the system prompt
(the agent's own, then pinned facts, then the summaries, oldest first) and the
message window (verbatim turns since the last compaction, recalled turns shown
inside the prompt that asked for them, oversized tool results cut), and fits
it with :func:`~chorus.context.window.fit`, so the result is never over the
limit and never splits a tool_use from its tool_result.

:meth:`ContextManager.prepare` is the one step with I/O: before a call it
compacts (each chunk summarised through an injected ``summarize`` coroutine,
normally the agent's own client) while the window is past the policy's
threshold, and picks what to recall for a new prompt. Both decisions are
recorded in the state, so the next call lays out the same bytes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import msgspec
from msgspec import Raw

from chorus.context.cache import message_marked
from chorus.context.compaction import ContextState, Summary, render, summary_request
from chorus.context.evicted import CANDIDATES, EvictedTurns
from chorus.context.history import Extended, History, MessageDict, identity
from chorus.context.policy import ContextPolicy
from chorus.context.recall import terms
from chorus.context.tokens import TokenEstimator
from chorus.context.window import cap_tool_results, exchanges, fit, is_prompt
from chorus.errors import APIError
from chorus.protocol.sent import SentMessages, sendable

__all__ = ["RECALL_HEADER", "ContextManager", "Layout", "Lookup"]

log = logging.getLogger("chorus.context")
_encode = msgspec.json.Encoder().encode
RECALL_HEADER = "Recalled from earlier in this conversation (verbatim, for reference):"
SUMMARY_HEADER = "Summary of earlier conversation (messages {first}-{last}):"
PINNED_HEADER = "Facts to keep in mind:"
MAX_COMPACTIONS_PER_CALL = 8
KEEP_SUMMARIES = 4  # times the summaries a window can show are kept in the state
CHARS_PER_TOKEN = 3.5
_MEMO = 8_192  # plain dicts kept measured (and alive) at most, across all conversations
_NOTES = 256  # prompts shown with their recalled turns, kept for the rest of their turn
_CONVERSATIONS = 1_024  # conversations whose evicted turns are kept indexed

Summarize = Callable[[dict[str, Any]], Awaitable[str]]
# (words, before, most) -> up to ``most`` evicted turns that end by message ``before`` and
# mention a word, as (start index, messages): a store's ``search``, bound to a session.
Lookup = Callable[[set[str], int, int], Awaitable[list[tuple[int, list[dict[str, Any]]]]]]


@dataclass(frozen=True, slots=True)
class Layout:
    system: str | list[dict[str, Any]] | None
    messages: list[dict[str, Any]]
    tokens: int  # calibrated estimate of the whole prompt (system, tools, messages)
    raw_tokens: int  # the same, uncalibrated: what the estimator learns against
    limit: int
    dropped: int  # messages since the last compaction that did not fit
    truncated: int  # tool results cut to fit
    summaries: int  # summaries shown
    recalled: int  # exchanges recalled into this window
    compacted: int = 0  # chunks summarised just before this call
    recalled_now: int = 0  # exchanges recall chose just before this call (first call of a turn)


class _Measured(NamedTuple):
    """One pass over the conversation: what every decision about a call is made from."""

    limit: int
    system: str | list[dict[str, Any]] | None
    shown: int  # summaries shown
    fixed_raw: int
    fixed: int
    verbatim: list[dict[str, Any]]
    raw: list[int]  # base estimate per verbatim message
    raw_total: int  # their sum
    factor: float  # what a base estimate is multiplied by (the estimator's calibration)
    total: int  # calibrated: fixed + every verbatim message
    boundary: int
    model: str
    recalled: int
    turn: int | None  # where the turn in progress starts, when known
    sent: list[Any] | None  # what each verbatim message is sent as (protocol.sent)
    marked: bool  # whether any verbatim message carries a cache_control

    def costs(self) -> list[int]:
        """The calibrated estimate of each verbatim message: worked out only when a
        decision needs them one by one (a compaction), never for a call that fits."""
        factor = self.factor
        return [math.ceil(r * factor) for r in self.raw]


class ContextManager:
    """Decides what each model call sends: the limited window, summaries, recalled turns."""

    def __init__(
        self, policy: ContextPolicy | None = None, estimator: TokenEstimator | None = None
    ) -> None:
        self.policy = policy or ContextPolicy()
        self.estimator = estimator or TokenEstimator()
        self.windows: dict[str, int] = {}  # context windows the API told us about
        # Base estimate and longest tool result per message object, so a long conversation
        # is not re-measured on every call. Holding the message keeps its id unique.
        self._costs: dict[int, tuple[Any, int, int]] = {}
        self._tools: tuple[Sequence[dict[str, Any]], int] | None = None
        # Each conversation's evicted turns, indexed as they are evicted (by the identity of
        # its first message; the index checks that identity itself).
        self._evicted: dict[int, EvictedTurns] = {}
        # Recall notes already rendered, per prompt message and recalled exchanges.
        self._notes: dict[tuple[int, tuple[int, ...]], tuple[dict[str, Any], dict[str, Any]]] = {}

    def input_limit(self, model: str, max_tokens: int) -> int:
        """Input tokens a call may use: the policy's limit, within what the API allows."""
        limit = self.policy.input_limit(model, max_tokens)
        learned = self.windows.get(model)
        return limit if learned is None else max(1, min(limit, learned - max_tokens))

    def learn_window(self, model: str, maximum: int) -> None:
        """The API said "N tokens > M maximum": M is the model's real limit."""
        self.windows[model] = maximum

    # ------------------------------------------------------------------ pure

    def layout(
        self,
        messages: Sequence[dict[str, Any]],
        state: ContextState,
        *,
        model: str,
        max_tokens: int,
        system: str | list[dict[str, Any]] | None = None,
        tools: Sequence[dict[str, Any]] = (),
        scale: float = 1.0,
    ) -> Layout:
        """The request's system prompt and messages; ``scale`` < 1 tightens the limit (used
        once after the API said the prompt was too long)."""
        return self._layout(
            self._measured(messages, state, model, max_tokens, system, tools, scale)
        )

    def choose_recall(
        self,
        messages: Sequence[dict[str, Any]],
        *,
        prompt_index: int,
        evicted_end: int,
        limit: int,
        model: str,
        visible: Sequence[str] = (),
    ) -> list[int]:
        """Start indices of the evicted exchanges worth showing again with this prompt.

        Recall fills gaps: only when the prompt names something the window does not show
        (``visible``: the summaries and turns it holds), and only exchanges that mention
        such a thing, ranked by the retriever against the whole prompt. The candidates
        come from this manager's index over ``messages`` (all of them in hand).
        """
        gaps = self._gaps(messages, prompt_index, evicted_end, visible)
        if not gaps:
            return []
        index = self._index(messages)
        index.update(messages, evicted_end)
        spans = [index.spans[i] for i in index.matching(gaps, evicted_end)]
        candidates = [(s, render(messages[s:e])) for s, e in spans]
        candidates += self._tail(messages, index.tail(evicted_end), gaps)
        return [start for start, _ in self._rank(messages, prompt_index, candidates, limit, model)]

    async def _recall_looked_up(
        self,
        messages: Sequence[dict[str, Any]],
        state: ContextState,
        lookup: Lookup,
        *,
        prompt_index: int,
        evicted_end: int,
        limit: int,
        model: str,
        visible: Sequence[str],
    ) -> list[int]:
        """As :meth:`choose_recall`, the candidates found by ``lookup`` (a session's store)
        instead: the history in hand may start after them. Their text goes in ``state``."""
        gaps = self._gaps(messages, prompt_index, evicted_end, visible)
        if not gaps:
            return []
        found = await lookup(gaps, evicted_end, CANDIDATES)
        candidates = [(start, render(turn)) for start, turn in found]
        held = getattr(messages, "start", 0)
        candidates += self._tail(messages, _last_turn(messages, evicted_end, held), gaps)
        picked = self._rank(messages, prompt_index, candidates, limit, model)
        state.notes = dict(picked)
        return sorted(start for start, _ in picked)

    def _gaps(
        self,
        messages: Sequence[dict[str, Any]],
        prompt_index: int,
        evicted_end: int,
        visible: Sequence[str],
    ) -> set[str]:
        """The words of the prompt that the window does not show."""
        if self.policy.recall <= 0 or evicted_end <= 0:
            return set()
        seen = {w for text in visible for w in terms(text)}
        return set(terms(render([messages[prompt_index]]))) - seen

    def _index(self, messages: Sequence[dict[str, Any]]) -> EvictedTurns:
        first = id(identity(messages, 0))
        index = self._evicted.get(first)
        if index is None:
            if len(self._evicted) >= _CONVERSATIONS:  # between calls only
                self._evicted.clear()
            index = self._evicted[first] = EvictedTurns()
        return index

    @staticmethod
    def _tail(
        messages: Sequence[dict[str, Any]], tail: tuple[int, int] | None, gaps: set[str]
    ) -> list[tuple[int, str]]:
        """The partly evicted last turn, looked at fresh, if it mentions a gap."""
        if tail is None:
            return []
        text = render(messages[tail[0] : tail[1]])
        return [] if gaps.isdisjoint(terms(text)) else [(tail[0], text)]

    def _rank(
        self,
        messages: Sequence[dict[str, Any]],
        prompt_index: int,
        candidates: list[tuple[int, str]],
        limit: int,
        model: str,
    ) -> list[tuple[int, str]]:
        """The candidates the retriever ranks best that fit the recall share, in order."""
        policy = self.policy
        query = render([messages[prompt_index]])
        ranked = policy.retriever.rank(query, [text for _, text in candidates], policy.recall)
        room = policy.recall_share * limit
        estimate = self._estimator(model)
        picked = []
        for i, _ in ranked:
            start, text = candidates[i]
            cost = estimate({"role": "user", "content": text})
            if cost > room:
                continue
            room -= cost
            picked.append((start, text))
        return sorted(picked)

    # ------------------------------------------------------------------ with I/O

    async def prepare(
        self,
        messages: Sequence[dict[str, Any]],
        state: ContextState,
        *,
        model: str,
        max_tokens: int,
        prompt_index: int,
        summarize: Summarize,
        system: str | list[dict[str, Any]] | None = None,
        tools: Sequence[dict[str, Any]] = (),
        scale: float = 1.0,
        lookup: Lookup | None = None,
    ) -> Layout:
        """Compact and recall as the policy says, recording both in ``state``, then lay out
        the call. A failed summary leaves the window to slide instead. The common case
        (nothing to compact, nothing evicted) measures the conversation once.

        ``lookup``: where recall finds evicted turns, when not in ``messages`` (a
        session's store, for a history held from its last compaction on)."""
        policy = self.policy
        compacted = chosen = 0
        args = (messages, state, model, max_tokens, system, tools, 1.0, prompt_index)
        measured = self._measured(*args)
        while policy.compaction and compacted < MAX_COMPACTIONS_PER_CALL:
            chunk = self._chunk(measured, prompt_index)
            if chunk is None:
                break
            start, end = chunk
            request = summary_request(
                messages[start:end], model=policy.summary_model or model, words=policy.summary_words
            )
            try:
                text = (await summarize(request)).strip()
            except APIError as exc:  # the window still fits: it slides instead
                log.warning("compaction failed, sliding the window instead: %s", exc)
                break
            state.summaries.append(Summary(start, end, text or "(nothing to note)"))
            _keep_showable(state, KEEP_SUMMARIES * policy.summary_share * measured.limit)
            compacted += 1
            measured = self._measured(*args)
        if (
            policy.recall
            and prompt_index not in state.recalls
            and prompt_index < len(messages)
            and messages[prompt_index].get("role") == "user"
        ):
            state.recalls = {prompt_index: []}  # decided once per turn, even if empty
            if state.boundary or measured.total > measured.limit:  # something was evicted
                state.recalls = {}
                first = self._layout(self._measured(*args))
                picked = await self._recall_for(messages, state, first, prompt_index, model, lookup)
                state.recalls = {prompt_index: picked}
                chosen = len(picked)
                measured = self._measured(*args)
        if scale != 1.0:
            measured = self._measured(
                messages, state, model, max_tokens, system, tools, scale, prompt_index
            )
        return self._layout(measured, compacted, chosen)

    async def _recall_for(
        self,
        messages: Sequence[dict[str, Any]],
        state: ContextState,
        first: Layout,
        prompt_index: int,
        model: str,
        lookup: Lookup | None,
    ) -> list[int]:
        shown = first.messages[: max(0, len(first.messages) - (len(messages) - prompt_index))]
        visible = [s.text for s in state.summaries[-first.summaries or len(state.summaries) :]]
        visible += [render(shown[s:e]) for s, e in exchanges(shown)] if shown else []
        evicted_end = state.boundary + first.dropped
        if lookup is None:
            return self.choose_recall(
                messages,
                prompt_index=prompt_index,
                evicted_end=evicted_end,
                limit=first.limit,
                model=model,
                visible=visible,
            )
        return await self._recall_looked_up(
            messages,
            state,
            lookup,
            prompt_index=prompt_index,
            evicted_end=evicted_end,
            limit=first.limit,
            model=model,
            visible=visible,
        )

    def raw_estimate(
        self,
        messages: Sequence[dict[str, Any]],
        *,
        system: str | list[dict[str, Any]] | None = None,
        tools: Sequence[dict[str, Any]] = (),
    ) -> int:
        """The base (uncalibrated) estimate of a whole prompt, as the estimator learns it."""
        return self._fixed(system, tools) + sum(self._base(m) for m in messages)

    def observe(self, model: str, layout: Layout, usage: Any) -> float | None:
        """Calibrate the estimator from a response's usage; returns the relative error of the
        estimate that was used (positive: it was high)."""
        actual = (
            int(getattr(usage, "input_tokens", 0) or 0)
            + int(getattr(usage, "cache_read_input_tokens", 0) or 0)
            + int(getattr(usage, "cache_creation_input_tokens", 0) or 0)
        )
        if actual <= 0:
            return None
        error = (layout.tokens - actual) / actual
        self.estimator.observe(model, estimated_raw=layout.raw_tokens, actual=actual)
        return error

    # ------------------------------------------------------------------ parts

    def _measured(
        self,
        messages: Sequence[dict[str, Any]],
        state: ContextState,
        model: str,
        max_tokens: int,
        system: str | list[dict[str, Any]] | None,
        tools: Sequence[dict[str, Any]],
        scale: float,
        turn: int | None = None,
    ) -> _Measured:
        if len(self._costs) > _MEMO:  # between calls only: never thrash within one
            self._costs.clear()
        if len(self._notes) > _NOTES:
            self._notes.clear()
        if state.summaries and state.boundary >= len(messages):
            # Summaries of a longer conversation than this one do not describe it.
            state = ContextState([s for s in state.summaries if s.end < len(messages)])
        limit = int(self.input_limit(model, max_tokens) * scale)
        factor = self._scale(model)
        full_system, shown = self._system(system, state, limit)
        fixed_raw = self._fixed(full_system, tools)
        verbatim, raw, sent, marked = self._verbatim(messages, state, limit)
        fixed = math.ceil(fixed_raw * factor)
        raw_total = sum(raw)  # (C's sum: a long window costs little)
        return _Measured(
            limit,
            full_system,
            shown,
            fixed_raw,
            fixed,
            verbatim,
            raw,
            raw_total,
            factor,
            fixed + math.ceil(raw_total * factor),
            state.boundary,
            model,
            len(state.recalls.get(max(state.recalls, default=-1), ())),
            turn,
            sent,
            marked,
        )

    def _layout(self, m: _Measured, compacted: int = 0, chosen: int = 0) -> Layout:
        if m.total <= m.limit:  # everything since the last compaction fits as it is
            messages: list[dict[str, Any]] = m.verbatim
            if m.sent is not None:  # (its JSON at hand: the call need not look for it)
                messages = SentMessages(messages, m.sent, m.marked)
            tokens, dropped, truncated = m.total - m.fixed, 0, 0
            raw = m.fixed_raw + m.raw_total
        else:
            # Each verbatim message's estimate is known (m.raw): fit reads it by the
            # message, so the window's messages are not measured again one by one.
            known = {id(x): c for x, c in zip(m.verbatim, m.costs(), strict=True)}
            anew = self._estimator(m.model)  # (for what fit itself cuts)
            window = fit(
                m.verbatim,
                limit=m.limit,
                estimate=lambda x: known.get(id(x)) or anew(x),
                fixed=m.fixed,
                keep_from=m.turn - m.boundary if m.turn is not None else None,
            )
            messages, tokens = window.messages, window.tokens
            dropped, truncated = window.dropped, window.truncated
            if not truncated:  # a suffix of the verbatim messages, the same objects
                raw = m.fixed_raw + sum(m.raw[dropped:])
                if m.sent is not None:
                    messages = SentMessages(messages, m.sent[dropped:], m.marked)
            else:
                raw = m.fixed_raw + sum(self._base(x) for x in messages)
        return Layout(
            system=m.system,
            messages=messages,
            tokens=tokens + m.fixed,
            raw_tokens=raw,
            limit=m.limit,
            dropped=dropped,
            truncated=truncated,
            summaries=m.shown,
            recalled=m.recalled,
            compacted=compacted,
            recalled_now=chosen,
        )

    def _chunk(self, m: _Measured, protect_from: int) -> tuple[int, int] | None:
        if m.total <= self.policy.compact_at * m.limit:
            return None
        start = m.boundary
        costs = m.costs()
        if m.fixed + sum(costs[max(0, protect_from - start) :]) > m.limit:
            return None  # the turn in progress alone is too big: summaries cannot help
        want = self.policy.chunk * m.limit
        gathered = 0
        end = start
        for s, e in exchanges(m.verbatim):
            if start + e > protect_from:
                break
            gathered += sum(costs[s:e])
            end = start + e
            if gathered >= want:
                break
        return (start, end) if end > start else None

    def _scale(self, model: str) -> float:
        return self.estimator.scale(model)

    def _with_recall(
        self,
        messages: Sequence[dict[str, Any]],
        index: int,
        starts: list[int],
        notes: dict[int, str],
    ) -> dict[str, Any]:
        """The prompt at ``index`` with the recalled exchanges shown before it: rendered once
        per turn (the same object every call, so measured once too)."""
        prompt = messages[index]
        key = (id(prompt), tuple(starts))
        found = self._notes.get(key)
        if found is not None and found[0] is prompt:
            return found[1]
        parts = [
            notes[s] if s in notes else render(messages[s : _exchange_end(messages, s)])
            for s in starts
        ]
        note = {"type": "text", "text": RECALL_HEADER + "\n\n" + "\n\n".join(parts)}
        content = prompt.get("content")
        if isinstance(content, str):
            blocks = [{"type": "text", "text": content}]
        else:
            blocks = list(content or [])
        shown = MessageDict(prompt, content=[note, *blocks])
        self._notes[key] = (prompt, shown)
        return shown

    def _measure(self, message: dict[str, Any]) -> tuple[Any, int, int]:
        if type(message) is MessageDict:
            # From a History or a run: the measure rides on the message itself, so nothing
            # here keeps an idle session's messages alive, and a hit is one attribute read.
            entry: tuple[Any, int, int] | None = message.measured
            if entry is None or entry[0] is not self.estimator:
                entry = message.measured = (
                    self.estimator,
                    self.estimator.base(message),
                    _longest_tool_result(message),
                )
            return entry
        key = id(message)
        found = self._costs.get(key)
        if found is not None and found[0] is message:
            return found
        entry = (message, self.estimator.base(message), _longest_tool_result(message))
        self._costs[key] = entry
        return entry

    def _measured_anew(self, message: dict[str, Any]) -> tuple[Any, int, int]:
        """A history's message measured for its window, which keeps the result: nothing
        is kept on the message or here."""
        return self.estimator, self.estimator.base(message), _longest_tool_result(message)

    def _base(self, message: dict[str, Any]) -> int:
        return self._measure(message)[1]

    def _fixed(
        self, system: str | list[dict[str, Any]] | None, tools: Sequence[dict[str, Any]]
    ) -> int:
        """Base estimate of the system prompt and the tool definitions (the latter kept:
        an agent sends the same definitions on every call of a run)."""
        total = self.estimator.base({"content": system}) if system else 0
        if tools:
            kept = self._tools
            if kept is None or kept[0] is not tools:
                kept = self._tools = (tools, int(len(_encode(list(tools))) / CHARS_PER_TOKEN) + 1)
            total += kept[1]
        return total

    def _estimator(self, model: str) -> Callable[[dict[str, Any]], int]:
        scale = self._scale(model)
        measure = self._measure
        return lambda m: math.ceil(measure(m)[1] * scale)

    def _system(
        self, system: str | list[dict[str, Any]] | None, state: ContextState, limit: int
    ) -> tuple[str | list[dict[str, Any]] | None, int]:
        extra: list[dict[str, Any]] = []
        if self.policy.pinned:
            facts = "\n".join(f"- {p}" for p in self.policy.pinned)
            extra.append({"type": "text", "text": f"{PINNED_HEADER}\n{facts}"})
        room = self.policy.summary_share * limit
        shown: list[dict[str, Any]] = []
        for s in reversed(state.summaries):  # newest first; the oldest roll off
            block = {
                "type": "text",
                "text": SUMMARY_HEADER.format(first=s.start + 1, last=s.end) + "\n" + s.text,
            }
            cost = len(block["text"]) / CHARS_PER_TOKEN + 4
            if cost > room:
                if not shown:  # the newest one always shows, cut to the room there is
                    keep = max(0, int((room - 4) * CHARS_PER_TOKEN) - 1)
                    block["text"] = block["text"][:keep] + "…"
                    shown.append(block)
                break
            room -= cost
            shown.append(block)
        extra.extend(reversed(shown))
        if not extra:
            return system, 0
        if isinstance(system, str):
            head = [{"type": "text", "text": system}] if system else []
        else:
            head = list(system or [])
        return [*head, *extra], len(shown)

    def _measured_from(
        self, messages: Sequence[dict[str, Any]], start: int
    ) -> tuple[list[dict[str, Any]], list[int], int, list[Any] | None, bool]:
        """``messages[start:]``, the base estimate of each, the longest tool result in
        them, what each is sent as (protocol.sent; None when not kept) and whether any
        carries a cache_control. For a run over a session's :class:`History` the
        history's part is kept on it (``History.window``) from call to call and turn to
        turn: the history only grows, so a call measures only what is new, and a long
        session's call costs the same as a short one's in Python (the lists are copied, at
        C speed)."""
        history = messages.base if type(messages) is Extended else None
        if type(history) is not History or not history.start <= start <= len(history):
            out: list[dict[str, Any]] = []
            raw: list[int] = []
            longest, _ = _measure_all(self._measure, messages[start:], out, raw, 0)
            return out, raw, longest, None, False
        kept = history.window
        if kept is None or kept[0] is not self.estimator or kept[1] != start:
            kept = history.window = (self.estimator, start, [], [], 0, [], False)
        _, _, out, raw, longest, sent, marked = kept
        end = len(history)
        if start + len(out) < end:
            first = start + len(out)
            new = history[first:end]
            more_out: list[dict[str, Any]] = []
            more_raw: list[int] = []
            longest = _measure_all(self._measured_anew, new, more_out, more_raw, longest)[0]
            held = history.encoded()  # (what a request sends for each: its own bytes)
            more_sent = list(map(Raw, held[first - history.start : end - history.start]))
            marked = marked or any(map(message_marked, new))
            # Only once all of it is worked out: the kept lists never fall out of step.
            out.extend(more_out)
            raw.extend(more_raw)
            sent.extend(more_sent)
            history.window = (self.estimator, start, out, raw, longest, sent, marked)
        added = messages.added  # type: ignore[attr-defined]
        out, raw, sent = list(out), list(raw), list(sent)
        longest, more = _measure_all(self._measure, added, out, raw, longest, sent)
        return out, raw, longest, sent, marked or more

    def _verbatim(
        self, messages: Sequence[dict[str, Any]], state: ContextState, limit: int
    ) -> tuple[list[dict[str, Any]], list[int], list[Any] | None, bool]:
        """The messages since the last compaction as sent (recalls shown, oversized tool
        results cut), the base estimate of each, and what each is sent as and whether any
        carries a cache_control (see :meth:`_measured_from`): one pass over what is new."""
        start = state.boundary
        out, raw, longest, sent, marked = self._measured_from(messages, start)
        recalled = False
        for index, starts in state.recalls.items():
            if starts and start <= index < len(messages):
                shown = self._with_recall(messages, index, starts, state.notes)
                if shown is not out[index - start]:
                    if not recalled:
                        out, raw, recalled = list(out), list(raw), True
                    out[index - start] = shown
                    if sent is not None:
                        sent[index - start] = sendable(shown)
                    _, raw[index - start], tool_result = self._measure(shown)
                    longest = max(longest, tool_result)
        max_chars = int(self.policy.tool_result_share * limit * CHARS_PER_TOKEN)
        measure = self._measure
        if longest > max_chars:
            out = cap_tool_results(out, max_chars)
            raw = [measure(m)[1] for m in out]
            sent = None  # (rare: the call finds each one's JSON itself)
        return out, raw, sent, marked


def _measure_all(
    measure: Callable[[dict[str, Any]], tuple[Any, int, int]],
    messages: Iterable[dict[str, Any]],
    out: list[dict[str, Any]],
    raw: list[int],
    longest: int,
    sent: list[Any] | None = None,
) -> tuple[int, bool]:
    """Append each message to ``out``, its base estimate to ``raw`` and, given ``sent``,
    what it is sent as to that; the longest tool result so far (given ``longest`` before
    them), and whether any of them carries a cache_control (told only given ``sent``)."""
    marked = False
    for m in messages:
        _, base, tool_result = measure(m)
        out.append(m)
        raw.append(base)
        if tool_result > longest:
            longest = tool_result
        if sent is not None:
            sent.append(sendable(m))
            marked = marked or message_marked(m)
    return longest, marked


def _keep_showable(state: ContextState, room: float) -> None:
    """Forget the summaries too old ever to be shown again: the newest that fit ``room``
    tokens stay (and always the newest one). The system prompt shows summaries newest first
    until its share is spent, so older ones only lengthen the stored state, rewritten with
    every compaction: a cost that would grow with the conversation. Their turns stay in the
    store, where recall reaches them."""
    kept, spent = 0, 0.0
    for summary in reversed(state.summaries):
        spent += len(summary.text) / CHARS_PER_TOKEN + 4
        if kept and spent > room:
            break
        kept += 1
    if kept < len(state.summaries):
        state.summaries = state.summaries[-kept:]


def _last_turn(
    messages: Sequence[dict[str, Any]], evicted_end: int, held: int
) -> tuple[int, int] | None:
    """The turn ``messages[evicted_end - 1]`` belongs to, cut at ``evicted_end``: found by
    walking back to its prompt through the messages held (from ``held``)."""
    for i in range(evicted_end - 1, held - 1, -1):
        if i == 0 or is_prompt(messages[i]):
            return (i, evicted_end)
    return None


def _exchange_end(messages: Sequence[dict[str, Any]], start: int) -> int:
    """Where the exchange starting at ``start`` ends: the next prompt (not a tool result)."""
    for i in range(start + 1, len(messages)):
        m = messages[i]
        if is_prompt(m):
            return i
    return len(messages)


def _longest_tool_result(message: dict[str, Any]) -> int:
    content = message.get("content")
    if message.get("role") != "user" or not isinstance(content, list):
        return 0
    longest = 0
    for block in content:
        if isinstance(block, dict) and block.get("type") == "tool_result":
            inner = block.get("content")
            if isinstance(inner, str):
                longest = max(longest, len(inner))
            elif isinstance(inner, list):
                for b in inner:
                    if isinstance(b, dict) and b.get("type") == "text":
                        longest = max(longest, len(b.get("text", "")))
    return longest
