"""What an agent sends each call: summaries, recalled turns and the latest turns, within budget.

:meth:`ContextManager.layout` is pure: from the full history and the session's
:class:`~chorus.context.compaction.ContextState` it builds the system prompt
(the agent's own, then pinned facts, then the summaries, oldest first) and the
message window (verbatim turns since the last compaction, recalled turns shown
inside the prompt that asked for them, oversized tool results cut), and fits
it with :func:`~chorus.context.window.fit`, so the result is never over the
budget and never splits a tool_use from its tool_result.

:meth:`ContextManager.prepare` is the one step with I/O: before a call it
compacts (each chunk summarised through an injected ``summarize`` coroutine,
normally the agent's own client) while the window is past the policy's
threshold, and picks what to recall for a new prompt. Both decisions are
recorded in the state, so the next call lays out the same bytes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from chorus.context.compaction import ContextState, Summary, render, summary_request
from chorus.context.policy import ContextPolicy
from chorus.context.recall import terms
from chorus.context.tokens import TokenEstimator
from chorus.context.window import cap_tool_results, exchanges, fit

__all__ = ["RECALL_HEADER", "ContextManager", "Layout"]

log = logging.getLogger("chorus.context")
_encode = msgspec.json.Encoder().encode
RECALL_HEADER = "Recalled from earlier in this conversation (verbatim, for reference):"
SUMMARY_HEADER = "Summary of earlier conversation (messages {first}-{last}):"
PINNED_HEADER = "Facts to keep in mind:"
MAX_COMPACTIONS_PER_CALL = 8
CHARS_PER_TOKEN = 3.5

Summarize = Callable[[dict[str, Any]], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class Layout:
    system: str | list[dict[str, Any]] | None
    messages: list[dict[str, Any]]
    tokens: int  # calibrated estimate of the whole prompt (system, tools, messages)
    raw_tokens: int  # the same, uncalibrated: what the estimator learns against
    budget: int
    dropped: int  # messages since the last compaction that did not fit
    truncated: int  # tool results cut to fit
    summaries: int  # summaries shown
    recalled: int  # exchanges recalled into this window


class ContextManager:
    def __init__(
        self, policy: ContextPolicy | None = None, estimator: TokenEstimator | None = None
    ) -> None:
        self.policy = policy or ContextPolicy()
        self.estimator = estimator or TokenEstimator()
        self.windows: dict[str, int] = {}  # context windows the API told us about

    def budget(self, model: str, max_tokens: int) -> int:
        """Input tokens a call may use: the policy's budget, within what the API allows."""
        budget = self.policy.input_budget(model, max_tokens)
        learned = self.windows.get(model)
        return budget if learned is None else max(1, min(budget, learned - max_tokens))

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
        """The request's system prompt and messages; ``scale`` < 1 tightens the budget (used
        once after the API said the prompt was too long)."""
        budget = int(self.budget(model, max_tokens) * scale)
        estimate = self.estimator.message_estimator(model)
        base = self.estimator.base
        full_system, shown = self._system(system, state, budget)
        fixed_raw = _raw_fixed(base, full_system, tools)
        fixed = math.ceil(fixed_raw * self._scale(model))
        verbatim = self._verbatim(messages, state, budget)
        window = fit(verbatim, budget=budget, estimate=estimate, fixed=fixed)
        recalled = sum(
            len(starts)
            for index, starts in state.recalls.items()
            if index >= state.boundary + window.dropped
        )
        raw = fixed_raw + sum(base(m) for m in window.messages)
        return Layout(
            system=full_system,
            messages=window.messages,
            tokens=window.tokens + fixed,
            raw_tokens=raw,
            budget=budget,
            dropped=window.dropped,
            truncated=window.truncated,
            summaries=shown,
            recalled=recalled,
        )

    def next_chunk(
        self,
        messages: Sequence[dict[str, Any]],
        state: ContextState,
        *,
        model: str,
        max_tokens: int,
        protect_from: int,
        system: str | list[dict[str, Any]] | None = None,
        tools: Sequence[dict[str, Any]] = (),
    ) -> tuple[int, int] | None:
        """The message range to summarise next, or None while the window is below the
        threshold. Never reaches into ``messages[protect_from:]`` (the turn in progress)."""
        budget = self.budget(model, max_tokens)
        estimate = self.estimator.message_estimator(model)
        full_system, _ = self._system(system, state, budget)
        fixed = math.ceil(_raw_fixed(self.estimator.base, full_system, tools) * self._scale(model))
        verbatim = self._verbatim(messages, state, budget)
        total = fixed + sum(estimate(m) for m in verbatim)
        if total <= self.policy.compact_at * budget:
            return None
        start = state.boundary
        protected = sum(estimate(m) for m in verbatim[max(0, protect_from - start) :])
        if fixed + protected > budget:
            return None  # the turn in progress alone is too big: summaries cannot help
        want = self.policy.chunk * budget
        gathered = 0
        end = start
        for s, e in exchanges(messages):
            if s < start:
                continue
            if e > protect_from:
                break
            gathered += sum(estimate(m) for m in verbatim[s - start : e - start])
            end = e
            if gathered >= want:
                break
        return (start, end) if end > start else None

    def choose_recall(
        self,
        messages: Sequence[dict[str, Any]],
        *,
        prompt_index: int,
        evicted_end: int,
        budget: int,
        model: str,
        visible: Sequence[str] = (),
    ) -> list[int]:
        """Start indices of the evicted exchanges worth showing again with this prompt.

        Recall fills gaps: only when the prompt names something the window does not show
        (``visible``: the summaries and turns it holds), and only exchanges that mention
        such a thing, ranked by the retriever against the whole prompt.
        """
        policy = self.policy
        if policy.recall <= 0 or evicted_end <= 0:
            return []
        query = render([messages[prompt_index]])
        seen = {w for text in visible for w in terms(text)}
        gaps = set(terms(query)) - seen
        if not gaps:
            return []
        spans = exchanges(messages[:evicted_end])
        documents = [render(messages[s:e]) for s, e in spans]
        candidates = [i for i, d in enumerate(documents) if gaps.intersection(terms(d))]
        ranked = policy.retriever.rank(query, [documents[i] for i in candidates], policy.recall)
        room = policy.recall_share * budget
        estimate = self.estimator.message_estimator(model)
        picked = []
        for j, _ in ranked:
            i = candidates[j]
            cost = estimate({"role": "user", "content": documents[i]})
            if cost > room:
                continue
            room -= cost
            picked.append(spans[i][0])
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
    ) -> int:
        """Compact and recall as the policy says, recording both in ``state``; returns how
        many chunks were summarised. A failed summary leaves the window to slide instead."""
        policy = self.policy
        compacted = 0
        if policy.compaction:
            while compacted < MAX_COMPACTIONS_PER_CALL:
                chunk = self.next_chunk(
                    messages,
                    state,
                    model=model,
                    max_tokens=max_tokens,
                    protect_from=prompt_index,
                    system=system,
                    tools=tools,
                )
                if chunk is None:
                    break
                start, end = chunk
                request = summary_request(
                    messages[start:end],
                    model=policy.summary_model or model,
                    words=policy.summary_words,
                )
                try:
                    text = (await summarize(request)).strip()
                except Exception as exc:  # the window still fits: it slides instead
                    log.warning("compaction failed, sliding the window instead: %s", exc)
                    break
                state.summaries.append(Summary(start, end, text or "(nothing to note)"))
                compacted += 1
        if (
            policy.recall
            and prompt_index not in state.recalls
            and prompt_index < len(messages)
            and messages[prompt_index].get("role") == "user"
        ):
            state.recalls = {}
            first = self.layout(
                messages, state, model=model, max_tokens=max_tokens, system=system, tools=tools
            )
            shown = first.messages[: max(0, len(first.messages) - (len(messages) - prompt_index))]
            visible = [s.text for s in state.summaries[-first.summaries or len(state.summaries) :]]
            visible += [render(shown[s:e]) for s, e in exchanges(shown)] if shown else []
            picked = self.choose_recall(
                messages,
                prompt_index=prompt_index,
                evicted_end=state.boundary + first.dropped,
                budget=first.budget,
                model=model,
                visible=visible,
            )
            state.recalls = {prompt_index: picked}  # decided once per turn, even if empty
        return compacted

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

    def _scale(self, model: str) -> float:
        return self.estimator.scale(model)

    def _system(
        self, system: str | list[dict[str, Any]] | None, state: ContextState, budget: int
    ) -> tuple[str | list[dict[str, Any]] | None, int]:
        extra: list[dict[str, Any]] = []
        if self.policy.pinned:
            facts = "\n".join(f"- {p}" for p in self.policy.pinned)
            extra.append({"type": "text", "text": f"{PINNED_HEADER}\n{facts}"})
        room = self.policy.summary_share * budget
        shown: list[dict[str, Any]] = []
        for s in reversed(state.summaries):  # newest first; the oldest roll off
            block = {
                "type": "text",
                "text": SUMMARY_HEADER.format(first=s.start + 1, last=s.end) + "\n" + s.text,
            }
            cost = len(block["text"]) / CHARS_PER_TOKEN + 4
            if cost > room:
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

    def _verbatim(
        self, messages: Sequence[dict[str, Any]], state: ContextState, budget: int
    ) -> list[dict[str, Any]]:
        start = state.boundary
        out = list(messages[start:])
        for index, starts in state.recalls.items():
            if starts and start <= index < len(messages):
                out[index - start] = _with_recall(messages[index], messages, starts)
        max_chars = int(self.policy.tool_result_share * budget * CHARS_PER_TOKEN)
        return cap_tool_results(out, max_chars)


def _with_recall(
    prompt: dict[str, Any], messages: Sequence[dict[str, Any]], starts: list[int]
) -> dict[str, Any]:
    spans = dict(exchanges(messages))
    parts = [render(messages[s : spans.get(s, s + 1)]) for s in starts]
    note = {"type": "text", "text": RECALL_HEADER + "\n\n" + "\n\n".join(parts)}
    content = prompt.get("content")
    if isinstance(content, str):
        blocks = [{"type": "text", "text": content}]
    else:
        blocks = list(content or [])
    return {**prompt, "content": [note, *blocks]}


def _raw_fixed(
    base: Callable[[dict[str, Any]], int],
    system: str | list[dict[str, Any]] | None,
    tools: Sequence[dict[str, Any]],
) -> int:
    total = base({"content": system}) if system else 0
    if tools:
        total += int(len(_encode(list(tools))) / CHARS_PER_TOKEN) + 1
    return total
