"""The agent loop as a pure state machine: it decides, a driver does the I/O.

::

    loop = Loop(history + [user_message], limits=Limits(max_steps=10))
    while True:
        match loop.next():
            case CallModel():      loop.on_message(await call_the_model(loop.messages))
            case RunTools(calls):  loop.on_tool_results(await run(calls))
            case Finish(reason):   break

Rules that live here and nowhere else:

* the transcript handed to the next model call is always valid (every
  ``tool_use`` answered in the next user message);
* a ``tool_use`` cut by ``max_tokens`` is never executed nor kept: the partial
  block is dropped, the model is told, and it gets a bounded number of
  recoveries;
* ``pause_turn`` continues the turn (bounded by ``max_steps``); ``refusal``
  ends it;
* invalid tool input goes back to the model as an error result, at most
  ``max_corrections`` times in a row;
* step, token and cost limits are errors (:class:`LimitExceeded`), checked
  before each model call, so a run never spends past them.
"""

from __future__ import annotations

from collections.abc import MutableSequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from chorus.context.history import Extended, History, MessageDict
from chorus.errors import LimitExceeded, TooManyCorrections
from chorus.protocol.models import price
from chorus.protocol.types import Message, ToolUseBlock, Usage, to_dict

__all__ = [
    "CallModel",
    "Finish",
    "LimitExceeded",
    "Limits",
    "Loop",
    "Pause",
    "RunTools",
    "TooManyCorrections",
    "ToolCall",
    "ToolOutcome",
]

TRUNCATED_TOOL_NOTE = (
    "Your previous response was cut off by the output token limit, so the tool call in it "
    "was not run. Continue, in smaller steps."
)
OUTPUT_NUDGE = "Give your final answer by calling the {tool} tool."


@dataclass(frozen=True, slots=True)
class Limits:
    max_steps: int = 20  # model calls per run
    max_tokens_total: int | None = None  # input + output tokens per run
    max_cost: float | None = None  # US dollars per run
    max_corrections: int = 2  # consecutive rounds of refused tool input
    max_recoveries: int = 2  # max_tokens inside a tool_use


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    input: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    tool_use_id: str
    content: str | list[dict[str, Any]]
    is_error: bool = False
    refused_input: bool = False  # the input did not fit the schema (counts as a correction)
    output: Any = None  # set by the structured-output tool when it accepted the answer


@dataclass(frozen=True, slots=True)
class CallModel:
    pass


@dataclass(frozen=True, slots=True)
class RunTools:
    calls: tuple[ToolCall, ...]


@dataclass(frozen=True, slots=True)
class Pause:
    """Tool calls that need a person's yes, with nobody to ask now: the run stops here
    (its :meth:`Loop.snapshot` resumes it once the decisions come)."""

    calls: tuple[ToolCall, ...]


@dataclass(frozen=True, slots=True)
class Finish:
    reason: str  # end_turn | stop_sequence | max_tokens | refusal | output


Action = CallModel | RunTools | Pause | Finish


@dataclass
class Loop:
    """One run of an agent over a transcript; ``messages`` is always sendable."""

    messages: MutableSequence[dict[str, Any]]  # a list, or the history plus this run's turn
    start: int | None = None  # where this run's turn begins (default: after the given messages)
    model: str = ""
    limits: Limits = field(default_factory=Limits)
    output_tool: str | None = None
    prices: dict[str, tuple[float, float]] | None = None
    # Tools that need a person's yes when nobody can be asked during the run, and the
    # answers already given (tool_use id -> yes or no): together they decide a Pause.
    needs_approval: frozenset[str] = frozenset()
    decisions: dict[str, bool] = field(default_factory=dict)
    steps: int = 0
    usage: Usage = field(default_factory=Usage)
    cost: float = 0.0
    added: int = 0  # messages appended by this run (the turn to commit)
    output: Any = None
    text: str = ""
    finished: Finish | None = None
    _pending: tuple[ToolCall, ...] = ()
    _corrections: int = 0
    _recoveries: int = 0

    def __post_init__(self) -> None:
        self._start = len(self.messages) if self.start is None else self.start

    @property
    def new_messages(self) -> list[dict[str, Any]]:
        """What this run added after the messages it was given."""
        return list(self.messages[self._start :])

    # ------------------------------------------------------------------ decisions

    def next(self) -> Action:
        if self.finished is not None:
            return self.finished
        if self._pending:
            waiting = tuple(
                c
                for c in self._pending
                if c.name in self.needs_approval and c.id not in self.decisions
            )
            return Pause(waiting) if waiting else RunTools(self._pending)
        if self.steps >= self.limits.max_steps:
            raise LimitExceeded(f"the run took {self.steps} model calls, its limit")
        self.check_spend()
        return CallModel()

    def check_spend(self) -> None:
        """Raise :class:`LimitExceeded` if the run has spent its token or cost limit."""
        limits = self.limits
        total = self.usage.input_tokens + self.usage.output_tokens
        total += self.usage.cache_read_input_tokens + self.usage.cache_creation_input_tokens
        if limits.max_tokens_total is not None and total >= limits.max_tokens_total:
            raise LimitExceeded(
                f"the run used {total:,} tokens, its limit is {limits.max_tokens_total:,}"
            )
        if limits.max_cost is not None and self.cost >= limits.max_cost:
            raise LimitExceeded(
                f"the run cost ${self.cost:.4f}, its limit is ${limits.max_cost:.4f}"
            )

    # ------------------------------------------------------------------ facts in

    def on_message(self, message: Message, *, incomplete: list[int] | tuple[int, ...] = ()) -> None:
        """A model reply arrived; ``incomplete`` lists blocks that must not be trusted."""
        self.steps += 1
        self._add_usage(message.usage)
        self.cost += price(message.model or self.model, message.usage, self.prices)
        blocks = list(message.content)
        stop = message.stop_reason or "end_turn"
        cut_tool = False
        if stop == "max_tokens" or incomplete:
            # A tool_use the output limit cut (or whose input never parsed) is dropped.
            keep = []
            for i, block in enumerate(blocks):
                if isinstance(block, ToolUseBlock) and (stop == "max_tokens" or i in incomplete):
                    cut_tool = True
                    continue
                keep.append(block)
            blocks = keep
        content = [to_dict(b) for b in blocks if not _empty_text(b)]
        self.text = "".join(b["text"] for b in content if b.get("type") == "text")
        if content:
            self._append("assistant", content)
        if cut_tool:
            if self._recoveries >= self.limits.max_recoveries:
                self.finished = Finish("max_tokens")
                return
            self._recoveries += 1
            self._append("user", [{"type": "text", "text": TRUNCATED_TOOL_NOTE}])
            return
        calls = tuple(
            ToolCall(b.id, b.name, dict(b.input)) for b in blocks if isinstance(b, ToolUseBlock)
        )
        if calls:
            self._pending = calls
            return
        if stop == "pause_turn":
            if not content:
                self.finished = Finish("end_turn")
            return  # the model continues its own turn on the next call
        if stop in ("end_turn", "stop_sequence") and self.output_tool is not None:
            if self._corrections >= self.limits.max_corrections:
                raise TooManyCorrections(f"the model did not call {self.output_tool} to answer")
            self._corrections += 1
            self._append(
                "user", [{"type": "text", "text": OUTPUT_NUDGE.format(tool=self.output_tool)}]
            )
            return
        self.finished = Finish(stop)

    def on_side_call(self, message: Message) -> None:
        """A call made for the run but outside the conversation (a compaction summary): it
        spends tokens and money, counted against the limits, but takes no step."""
        self._add_usage(message.usage)
        self.cost += price(message.model or self.model, message.usage, self.prices)

    def on_tool_results(self, outcomes: list[ToolOutcome]) -> None:
        """The pending tool calls ran; their results go back in one user message."""
        by_id = {o.tool_use_id: o for o in outcomes}
        missing = [c.id for c in self._pending if c.id not in by_id]
        if missing:
            raise ValueError(f"no result for tool calls {missing}")
        results = []
        for call in self._pending:
            outcome = by_id[call.id]
            block: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": call.id,
                "content": outcome.content,
            }
            if outcome.is_error:
                block["is_error"] = True
            results.append(block)
        self._pending = ()
        self._append("user", results)
        accepted = [o for o in outcomes if o.output is not None]
        if accepted:
            self.output = accepted[-1].output
            self.finished = Finish("output")
            return
        if any(o.refused_input for o in outcomes):
            self._corrections += 1
            if self._corrections > self.limits.max_corrections:
                raise TooManyCorrections(
                    f"the model sent refused tool input {self._corrections} times in a row"
                )
        else:
            self._corrections = 0

    # ------------------------------------------------------------------ pausing

    def snapshot(self) -> dict[str, Any]:
        """The run as plain data (JSON-safe), to resume it later: a run that paused for a
        person's approval is kept aside this way until the answer comes."""
        held = int(getattr(self.messages, "start", 0))
        return {
            # A run over a history held from its last compaction on keeps that part only:
            # the rest is in the session's store, and stays there.
            "offset": held,
            "messages": list(self.messages[held:]),
            "start": self._start,
            "steps": self.steps,
            "cost": self.cost,
            "usage": msgspec.to_builtins(self.usage),
            "pending": [{"id": c.id, "name": c.name, "input": c.input} for c in self._pending],
        }

    @classmethod
    def restore(
        cls,
        data: dict[str, Any],
        *,
        model: str,
        limits: Limits | None = None,
        output_tool: str | None = None,
    ) -> Loop:
        """The run a :meth:`snapshot` describes; ``ValueError`` if it describes none."""
        try:
            offset = int(data.get("offset", 0))
            kept = list(data["messages"])
            loop = cls(
                Extended(History((), start=offset), kept) if offset else kept,
                start=int(data["start"]),
                model=model,
                limits=limits or Limits(),
                output_tool=output_tool,
            )
            loop.steps = int(data["steps"])
            loop.cost = float(data["cost"])
            loop.usage = msgspec.convert(data["usage"], Usage)
            loop._pending = tuple(
                ToolCall(c["id"], c["name"], dict(c["input"])) for c in data["pending"]
            )
        except (KeyError, TypeError, ValueError, msgspec.ValidationError) as exc:
            raise ValueError(f"not a paused run: {exc}") from None
        return loop

    @property
    def turn_start(self) -> int:
        """Where this run's turn begins in ``messages``."""
        return self._start

    # ------------------------------------------------------------------ helpers

    @property
    def pending(self) -> tuple[ToolCall, ...]:
        return self._pending

    @pending.setter
    def pending(self, calls: tuple[ToolCall, ...]) -> None:
        self._pending = calls

    def _append(self, role: str, content: list[dict[str, Any]]) -> None:
        # Never rewrite a message from before this run: committed history stays as it was.
        last = self.messages[-1] if len(self.messages) > self._start else None
        if last is not None and last["role"] == role and isinstance(last["content"], list):
            # Same role twice is one turn to the API; keep it one message here too.
            self.messages[-1] = MessageDict(role=role, content=[*last["content"], *content])
        elif last is not None and last["role"] == role and isinstance(last["content"], str):
            text = {"type": "text", "text": last["content"]}
            self.messages[-1] = MessageDict(role=role, content=[text, *content])
        else:
            self.messages.append(MessageDict(role=role, content=content))

    def _add_usage(self, u: Usage) -> None:
        t = self.usage
        t.input_tokens += u.input_tokens
        t.output_tokens += u.output_tokens
        t.cache_creation_input_tokens += u.cache_creation_input_tokens
        t.cache_read_input_tokens += u.cache_read_input_tokens


def _empty_text(block: Any) -> bool:
    return getattr(block, "type", "") == "text" and not getattr(block, "text", "")
