"""The agent: a model, a system prompt and tools, driven by the pure :class:`Loop`.

::

    agent = Agent(model="claude-sonnet-4-5", system="Be brief.", tools=[get_weather], client=claude)
    result = await agent.run("Weather in Paris?")        # result.output, .usage, .messages
    async for event in agent.stream("Weather in Paris?"): ...

This module is the thin async driver: it streams model calls through the
client (the one retry loop), runs tool calls concurrently under a limit with a
timeout each, asks for approval where a tool needs it, and feeds every fact
back to the loop. Decisions stay in :mod:`chorus.agent.loop`.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any

import msgspec

from chorus.agent.capability import Capability
from chorus.agent.events import (
    AgentEvent,
    Done,
    RunResult,
    TextChunk,
    ThinkingChunk,
    ToolCallStarted,
    ToolInputDelta,
    ToolResult,
    UsageUpdate,
)
from chorus.agent.loop import (
    CallModel,
    Finish,
    Limits,
    Loop,
    Pause,
    RunTools,
    ToolCall,
    ToolOutcome,
)
from chorus.agent.output import OutputTool
from chorus.agent.tools import Tool, ToolContext, ToolInputError, ToolRetry, from_function
from chorus.agent.toolsets import Toolset
from chorus.context.cache import with_cache_breakpoints
from chorus.context.compaction import ContextState
from chorus.context.history import Extended, MessageDict
from chorus.context.manager import ContextManager, Layout, Lookup
from chorus.context.policy import ContextPolicy
from chorus.errors import ConfigError, PromptTooLongError
from chorus.protocol.types import (
    ContentBlockDeltaEvent,
    ContentBlockStartEvent,
    InputJSONDelta,
    TextDelta,
    ThinkingDelta,
    ToolUseBlock,
)

__all__ = ["Agent", "Approver"]

Approver = Callable[[ToolCall], Awaitable[bool] | bool]
_MAX_ERROR = 500
_COUNTED = frozenset({"model", "messages", "system", "tools", "tool_choice", "thinking"})
_encode = msgspec.json.Encoder().encode


class Agent:
    """A model, a system prompt and tools, run by the pure loop through the client.

    ``run()`` returns a :class:`RunResult`; ``stream()`` yields events as they
    happen; ``iter()`` is the run itself, which ``Session`` drives to commit turns.
    ``context`` decides what each model call sends (a :class:`ContextPolicy`, a
    :class:`ContextManager`, or False to send the history as it is)."""

    def __init__(
        self,
        *,
        model: str,
        system: str | list[dict[str, Any]] | None = None,
        tools: Iterable[Tool | Toolset | Callable[..., Any]] = (),
        client: Any = None,
        output_type: Any = None,
        max_tokens: int = 4096,
        limits: Limits | None = None,
        tool_concurrency: int = 8,
        approve: Approver | None = None,
        name: str = "agent",
        capabilities: Iterable[Capability] = (),
        request: dict[str, Any] | None = None,
        cache: bool = True,
        context: ContextPolicy | ContextManager | bool = True,
        metrics: Any = None,
    ) -> None:
        if not isinstance(model, str) or not model:
            raise ConfigError("Agent(model=...) needs a model name")
        if tool_concurrency < 1:
            raise ConfigError("tool_concurrency must be at least 1")
        self.model = model
        self.system = system
        self.max_tokens = max_tokens
        self.limits = limits or Limits()
        self.tool_concurrency = tool_concurrency
        self.approve = approve
        self.name = name
        self.capabilities = tuple(capabilities)  # what it offers a team (chorus.team)
        if not all(isinstance(c, Capability) for c in self.capabilities):
            raise ConfigError("Agent(capabilities=...) takes Capability objects")
        self.extra_request = dict(request or {})
        self.cache = cache  # prompt-cache breakpoints at stable anchors (context.cache)
        # What each call sends: windows within the input limit, compaction, recall.
        if context is True:
            self.context: ContextManager | None = ContextManager()
        elif context is False or context is None:
            self.context = None
        elif isinstance(context, ContextPolicy):
            self.context = ContextManager(context)
        elif isinstance(context, ContextManager):
            self.context = context
        else:
            raise ConfigError("Agent(context=...) takes a ContextPolicy, ContextManager or bool")
        self.metrics = metrics  # a chorus.observe.ContextMetrics, or None
        self.tools: dict[str, Tool] = {}
        self.toolsets: list[Toolset] = []
        for item in tools:
            if isinstance(item, Toolset):
                self.toolsets.append(item)
                continue
            t = item if isinstance(item, Tool) else from_function(item)
            if t.name in self.tools:
                raise ConfigError(f"two tools are named {t.name!r}")
            self.tools[t.name] = t
        self.output = OutputTool(output_type) if output_type is not None else None
        if self.output is not None and self.output.name in self.tools:
            raise ConfigError(
                f"a tool may not be named {self.output.name!r}: it is the output tool"
            )
        self._client = client

    def with_output(self, output_type: Any) -> Agent:
        """This agent answering in ``output_type``: a copy that shares the model, tools,
        client and context policy (a team asks every member for one type this way)."""
        output = OutputTool(output_type)
        if output.name in self.tools:
            raise ConfigError(f"a tool may not be named {output.name!r}: it is the output tool")
        twin = copy.copy(self)
        twin._client = self.client  # one client (its pool, its limits) for both
        twin.output = output
        return twin

    @property
    def client(self) -> Any:
        if self._client is None:
            from chorus.client import Claude

            self._client = Claude()
        return self._client

    async def count_tokens(
        self,
        prompt: str | list[dict[str, Any]],
        *,
        history: Sequence[dict[str, Any]] = (),
        context: ContextState | None = None,
    ) -> int:
        """What the API counts for the next call with ``prompt`` (as this agent would send it:
        its window, system prompt and tools); the count also calibrates the local estimate."""
        tools, definitions = await self._tools_and_definitions()
        messages = [*history, {"role": "user", "content": prompt}]
        layout = None
        if self.context is not None:
            state = ContextState(list(context.summaries)) if context is not None else None
            layout = self.context.layout(
                messages,
                state or ContextState(),
                model=self.model,
                max_tokens=self.max_tokens,
                system=self.system,
                tools=definitions,
            )
            request = self._request(layout.messages, definitions, bool(tools), system=layout.system)
        else:
            request = self._request(messages, definitions, bool(tools))
        counted = await self.client.messages.count_tokens(
            **{k: v for k, v in request.items() if k in _COUNTED}
        )
        if self.context is not None and layout is not None:
            self.context.estimator.observe(
                self.model, estimated_raw=layout.raw_tokens, actual=counted.input_tokens
            )
        return int(counted.input_tokens)

    # ------------------------------------------------------------------ running

    async def run(
        self,
        prompt: str | list[dict[str, Any]],
        *,
        history: Sequence[dict[str, Any]] = (),
        session_id: str | None = None,
        context: ContextState | None = None,
    ) -> RunResult:
        """Run to the end and return the result. ``context`` carries summaries and recalls
        between runs over the same history (a session does this for you)."""
        result: RunResult | None = None
        async for event in self.iter(prompt, history, session_id, live=False, state=context):
            if isinstance(event, Done):
                result = event.result
        assert result is not None
        return result

    async def resume(
        self,
        paused: dict[str, Any],
        decisions: dict[str, bool],
        *,
        session_id: str | None = None,
        lookup: Lookup | None = None,
    ) -> RunResult:
        """Continue a run that paused for approval, with a person's yes or no per tool call."""
        result: RunResult | None = None
        async for event in self.stream_resume(
            paused, decisions, session_id=session_id, lookup=lookup, live=False
        ):
            if isinstance(event, Done):
                result = event.result
        assert result is not None
        return result

    async def stream_resume(
        self,
        paused: dict[str, Any],
        decisions: dict[str, bool],
        *,
        session_id: str | None = None,
        lookup: Lookup | None = None,
        live: bool = True,
    ) -> AsyncIterator[AgentEvent]:
        """:meth:`resume`, yielding the run's events as they happen (the approved tools'
        results, then the model's reply), then Done."""
        async for event in self.iter(
            "", (), session_id, live=live, paused=paused, decisions=decisions, lookup=lookup
        ):
            yield event

    async def stream(
        self,
        prompt: str | list[dict[str, Any]],
        *,
        history: Sequence[dict[str, Any]] = (),
        session_id: str | None = None,
        context: ContextState | None = None,
    ) -> AsyncIterator[AgentEvent]:
        """Run, yielding events as they happen; the last one is :class:`Done`."""
        async for event in self.iter(prompt, history, session_id, live=True, state=context):
            yield event

    async def iter(
        self,
        prompt: str | list[dict[str, Any]],
        history: Sequence[dict[str, Any]] = (),
        session_id: str | None = None,
        *,
        live: bool = True,
        paused: dict[str, Any] | None = None,
        decisions: dict[str, bool] | None = None,
        state: ContextState | None = None,
        lookup: Lookup | None = None,
    ) -> AsyncIterator[AgentEvent]:
        """One run, as its events; the last is :class:`Done`. What :meth:`run`,
        :meth:`stream`, :meth:`resume` and a :class:`~chorus.agent.session.Session`
        all drive.

        ``live``: stream each model call and report its deltas; otherwise ask for
        whole replies, which costs less when nobody watches them arrive (and a
        failed model call is then always retried whole). ``paused`` and
        ``decisions``: continue a run that paused for approval. ``state``: the
        context state (summaries, recalls) carried between runs over one history.
        ``lookup``: where recall finds evicted turns that ``history`` does not hold (a
        session's store; see :meth:`~chorus.context.ContextManager.prepare`).
        """
        tools, definitions = await self._tools_and_definitions()
        if paused is not None:
            loop = _restore(paused, self)
            state = ContextState.decode(_encode(paused.get("context") or {}))
        else:
            if not prompt:
                raise ConfigError("the prompt is empty")
            # The run reads the history it was given and keeps what it adds apart: nothing
            # is copied to start a turn, however long the conversation.
            loop = Loop(
                Extended(history, [MessageDict(role="user", content=prompt)]),
                start=len(history),
                model=self.model,
                limits=self.limits,
                output_tool=self.output.name if self.output is not None else None,
            )
        decisions = dict(decisions or {})
        if self.approve is None:  # nobody to ask during the run: such calls pause it
            loop.needs_approval = frozenset(n for n, t in tools.items() if t.needs_approval)
        loop.decisions = decisions
        state = state.copy() if state is not None else ContextState()
        if paused is None:
            # A new turn: recall is decided afresh, and summaries of a longer history
            # than this one (a rewound conversation) no longer describe it.
            state.recalls, state.notes = {}, {}
            if state.summaries and state.summaries[-1].end > loop.turn_start:  # in order
                state.summaries = [s for s in state.summaries if s.end <= loop.turn_start]
        manager = self.context
        scale = 1.0  # < 1 once the API said the prompt is too long
        names: dict[str, str] = {}
        while True:
            action = loop.next()
            if isinstance(action, Finish):
                break
            if isinstance(action, CallModel):
                while True:
                    layout = await self._layout(manager, loop, state, definitions, scale, lookup)
                    if layout is None:
                        request = self._request(list(loop.messages), definitions, bool(tools))
                    else:
                        request = self._request(
                            layout.messages, definitions, bool(tools), system=layout.system
                        )
                    try:
                        if live:
                            async with self.client.messages.stream(**request) as stream:
                                async for event in stream:
                                    translated = _translate(event, names)
                                    if translated is not None:
                                        yield translated
                                message = await stream.get_final_message()
                                incomplete = stream.incomplete
                        else:
                            message = await self.client.messages.create(**request)
                            incomplete = []
                    except PromptTooLongError as exc:
                        if scale < 1.0 or not exc.tokens or not exc.maximum:
                            raise  # compact once, retry once: never loop
                        # Learn the real count and limit, then compact (the conversation
                        # itself stays whole in the session) and send once more.
                        manager = self._too_long(
                            manager, layout, exc.tokens, exc.maximum, loop.messages, definitions
                        )
                        scale = 0.9
                        continue
                    break
                if layout is not None and manager is not None:
                    error = manager.observe(self.model, layout, message.usage)
                    if error is not None and self.metrics is not None:
                        self.metrics.estimate_observed(self.model, error)
                loop.on_message(message, incomplete=incomplete)
                yield UsageUpdate(loop.usage, loop.cost)
            elif isinstance(action, Pause):
                # Nobody to ask now: pause, keeping everything needed to resume.
                yield Done(
                    RunResult(
                        output=None,
                        text=loop.text,
                        stop_reason="paused",
                        messages=loop.new_messages,
                        usage=loop.usage,
                        cost=loop.cost,
                        steps=loop.steps,
                        pending=list(action.calls),
                        paused=_snapshot(loop, state),
                        context=state,
                    )
                )
                return
            elif isinstance(action, RunTools):
                outcomes = await self._run_tools(action.calls, session_id, tools, decisions)
                for call, outcome in zip(action.calls, outcomes, strict=True):
                    yield ToolResult(call.id, call.name, outcome.content, outcome.is_error)
                loop.on_tool_results(outcomes)
        finish = loop.finished
        assert finish is not None
        output = loop.output.value if isinstance(loop.output, _Accepted) else loop.text
        yield Done(
            RunResult(
                output=output,
                text=loop.text,
                stop_reason=finish.reason,
                messages=loop.new_messages,
                usage=loop.usage,
                cost=loop.cost,
                steps=loop.steps,
                context=state,
            )
        )

    async def _layout(
        self,
        context: ContextManager | None,
        loop: Loop,
        state: ContextState,
        definitions: list[dict[str, Any]],
        scale: float,
        lookup: Lookup | None = None,
    ) -> Layout | None:
        """Compact and recall as the policy says, then lay out what this call sends."""
        if context is None:
            return None
        options: dict[str, Any] = {"system": self.system, "tools": definitions}

        async def summarize(request: dict[str, Any]) -> str:
            loop.check_spend()  # a summary is spending too: never past the run's limits
            message = await self.client.messages.create(**request)
            loop.on_side_call(message)
            return "".join(getattr(b, "text", "") for b in message.content)

        layout = await context.prepare(
            loop.messages,
            state,
            model=self.model,
            max_tokens=self.max_tokens,
            prompt_index=loop.turn_start,
            summarize=summarize,
            scale=scale,
            lookup=lookup,
            **options,
        )
        if self.metrics is not None:
            self.metrics.laid_out(self.model, layout)
        return layout

    def _too_long(
        self,
        manager: ContextManager | None,
        layout: Layout | None,
        tokens: int,
        maximum: int,
        messages: Sequence[dict[str, Any]],
        definitions: list[dict[str, Any]],
    ) -> ContextManager:
        """Learn from "prompt is too long" (the real count, the real limit); the manager
        that lays out the retry and the rest of the run."""
        if manager is None or layout is None:
            # Context management is off: from now on in this run, send the latest turns
            # that fit, measured by an estimate that has learned from this refusal.
            limit = max(256, maximum - self.max_tokens)
            manager = ContextManager(
                ContextPolicy(max_input_tokens=limit, compaction=False, recall=0)
            )
            raw = manager.raw_estimate(messages, system=self.system, tools=definitions)
        else:
            raw = layout.raw_tokens
        manager.estimator.observe(self.model, estimated_raw=raw, actual=tokens)
        manager.learn_window(self.model, maximum)
        return manager

    async def _tools_and_definitions(self) -> tuple[dict[str, Tool], list[dict[str, Any]]]:
        """The tools of this run and the definitions sent for them (the output tool too)."""
        tools = await self._resolve_tools()
        definitions = [t.definition() for t in tools.values()]
        if self.output is not None:
            definitions.append(self.output.definition())
        return tools, definitions

    async def _resolve_tools(self) -> dict[str, Tool]:
        if not self.toolsets:
            return self.tools
        tools = dict(self.tools)
        for toolset in self.toolsets:
            for t in await toolset.list_tools():
                if t.name in tools:
                    raise ConfigError(
                        f"two tools are named {t.name!r}; use Prefixed to tell them apart"
                    )
                tools[t.name] = t
        return tools

    def _request(
        self,
        messages: list[dict[str, Any]],
        definitions: list[dict[str, Any]],
        has_tools: bool,
        *,
        system: Any = ...,
    ) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "messages": messages,
            **self.extra_request,
        }
        system = self.system if system is ... else system
        if system:
            request["system"] = system
        if definitions:
            request["tools"] = definitions
        if self.output is not None and "tool_choice" not in request:
            request["tool_choice"] = (
                {"type": "tool", "name": self.output.name} if not has_tools else {"type": "any"}
            )
        return with_cache_breakpoints(request) if self.cache else request

    # ------------------------------------------------------------------ tools

    async def _run_tools(
        self,
        calls: Sequence[ToolCall],
        session_id: str | None,
        tools: dict[str, Tool],
        decisions: dict[str, bool],
    ) -> list[ToolOutcome]:
        gate = asyncio.Semaphore(self.tool_concurrency)

        async def one(call: ToolCall) -> ToolOutcome:
            async with gate:
                return await self._run_tool(call, session_id, tools, decisions)

        return list(await asyncio.gather(*(one(c) for c in calls)))

    async def _run_tool(
        self,
        call: ToolCall,
        session_id: str | None,
        tools: dict[str, Tool],
        decisions: dict[str, bool],
    ) -> ToolOutcome:
        if self.output is not None and call.name == self.output.name:
            try:
                value = self.output.validate(call.input)
            except ToolInputError as exc:
                return ToolOutcome(call.id, str(exc), is_error=True, refused_input=True)
            return ToolOutcome(call.id, "Answer received.", output=_Accepted(value))
        tool = tools.get(call.name)
        if tool is None:
            known = ", ".join(sorted(tools)) or "none"
            return ToolOutcome(
                call.id, f"There is no tool named {call.name!r} (tools: {known}).", True
            )
        try:
            tool.parse(call.input)
        except ToolInputError as exc:
            return ToolOutcome(call.id, str(exc), is_error=True, refused_input=True)
        if tool.needs_approval:
            approved = decisions[call.id] if call.id in decisions else await self._ask(call)
            if not approved:
                return ToolOutcome(
                    call.id, "A person declined this tool call; do not retry it.", True
                )
        context = ToolContext(
            tool_use_id=call.id,
            idempotency_key=idempotency_key(session_id, call.id),
            session_id=session_id,
            agent=self.name,
        )
        try:
            async with asyncio.timeout(tool.timeout):
                value = await tool.run(call.input, context)
        except ToolRetry as exc:
            return ToolOutcome(call.id, str(exc) or "Try again differently.", is_error=True)
        except TimeoutError:
            return ToolOutcome(
                call.id, f"{tool.name} did not finish within {tool.timeout:g} s.", True
            )
        except ToolInputError as exc:
            return ToolOutcome(call.id, str(exc), is_error=True, refused_input=True)
        except Exception as exc:  # a tool's failure is the model's information, not our crash
            return ToolOutcome(call.id, _sanitized(tool.name, exc), is_error=True)
        return ToolOutcome(call.id, _as_content(value))

    async def _ask(self, call: ToolCall) -> bool:
        if self.approve is None:
            return False
        decision = self.approve(call)
        if inspect.isawaitable(decision):
            decision = await decision
        return bool(decision)


def _snapshot(loop: Loop, state: ContextState) -> dict[str, Any]:
    """A paused run as plain data: the loop's own snapshot and the context state."""
    return {**loop.snapshot(), "context": msgspec.to_builtins(state)}


def _restore(state: dict[str, Any], agent: Agent) -> Loop:
    try:
        return Loop.restore(
            state,
            model=agent.model,
            limits=agent.limits,
            output_tool=agent.output.name if agent.output is not None else None,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


class _Accepted:
    """Wraps a validated output so that a falsy answer (0, "", []) still counts."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def idempotency_key(session_id: str | None, tool_use_id: str) -> str:
    """Stable across retries and restarts: the same tool_use in the same session, the same key."""
    return hashlib.sha256(f"{session_id or '-'}\x1f{tool_use_id}".encode()).hexdigest()[:32]


def _as_content(value: Any) -> str | list[dict[str, Any]]:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, dict) and "type" in v for v in value):
        return value  # already content blocks (text, image, ...)
    try:
        return _encode(value).decode()
    except (TypeError, msgspec.EncodeError):
        return str(value)


def _sanitized(name: str, exc: BaseException) -> str:
    """One line, no traceback, bounded: what a model (and a log) may see of a failure."""
    text = " ".join(str(exc).split())
    if len(text) > _MAX_ERROR:
        text = text[: _MAX_ERROR - 1] + "…"
    return f"{name} failed: {type(exc).__name__}" + (f": {text}" if text else "")


def _translate(event: Any, names: dict[str, str]) -> AgentEvent | None:
    if isinstance(event, ContentBlockDeltaEvent):
        delta = event.delta
        if isinstance(delta, TextDelta):
            return TextChunk(delta.text)
        if isinstance(delta, ThinkingDelta):
            return ThinkingChunk(delta.thinking)
        if isinstance(delta, InputJSONDelta):
            tool_id = names.get(f"#{event.index}", "")
            return ToolInputDelta(tool_id, delta.partial_json)
        return None
    if isinstance(event, ContentBlockStartEvent) and isinstance(event.content_block, ToolUseBlock):
        block = event.content_block
        names[f"#{event.index}"] = block.id
        return ToolCallStarted(block.id, block.name)
    return None
