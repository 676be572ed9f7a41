"""A conversation's messages, kept as their JSON bytes and decoded when read. Pure.

A session held in memory between turns needs its transcript at hand (reading it back from
the store every turn costs more the longer it lives), but as dicts a message costs about
twice its text in memory. :class:`History` keeps each message as its encoded bytes and
decodes one when it is read; what a turn reads stays decoded (so it is the same object
every call of the turn) until :meth:`History.cool` drops it again. A decoded message is a
plain dict: what the context manager works out about it (its measure, the bytes a request
sends for it) it keeps beside the history (``History.window``), so a message held between
turns is only its own few objects for the collector to walk (a user's text, none at all).

:class:`Extended` is what one run works on: the history it was given, read through, and
the messages the run adds, kept apart, so a run that fails leaves the history as it was
and nothing is copied to start one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, MutableSequence, Sequence
from typing import Any, overload

import msgspec

__all__ = ["Extended", "History", "MessageDict", "identity"]

Message = dict[str, Any]
_encoder = msgspec.json.Encoder().encode
_decode_message = msgspec.json.Decoder(dict[str, Any]).decode


def _encode(message: Message) -> bytes:
    # Copied into a bytes object of exactly its size: the encoder's own buffer is allocated
    # with room to grow, about 1.5x what a short message needs, and kept so.
    return bytes(memoryview(_encoder(message)))


class MessageDict(dict):  # type: ignore[type-arg]
    """A message a run adds, as a dict that carries what the context manager measured about
    it, so no cache elsewhere has to keep it alive to remember (each call of the run
    measures the run's messages again). ``json``: the message's own JSON, when it has it,
    which a client sends as it is. Read, never changed: what changes one makes a new one
    (as every layout step does)."""

    __slots__ = ("__weakref__", "json", "marked", "measured")

    def __init__(self, fields: Any = (), /, **more: Any) -> None:
        super().__init__(fields, **more)
        self.measured: Any = None
        self.marked: bool | None = None  # whether a block carries cache_control (context.cache)
        self.json: msgspec.Raw | None = None


class History(Sequence[Message]):
    """An append-only transcript of encoded messages, decoded on demand.

    ``start``: the index of the first message held. The ones before it are in the store
    only (summarised, and reached by recall through the store); reading one is an
    ``IndexError`` that says so. :meth:`forget_before` moves ``start`` on."""

    __slots__ = ("_hot", "_raw", "start", "window")

    def __init__(self, messages: Iterable[Message] = (), *, start: int = 0) -> None:
        self._raw: list[bytes] = [_encode(m) for m in messages]
        self._hot: dict[int, Message] = {}  # decoded since the last cool(), by raw index
        self.start = start
        # What a reader worked out over the decoded messages (the context manager: each
        # one measured, in order), kept for its next read: the history only grows, so the
        # next read works out only what is new. Dropped with the decoded messages.
        self.window: Any = None

    def __len__(self) -> int:
        return self.start + len(self._raw)

    @overload
    def __getitem__(self, index: int) -> Message: ...

    @overload
    def __getitem__(self, index: slice) -> list[Message]: ...

    def __getitem__(self, index: int | slice) -> Message | list[Message]:
        if isinstance(index, slice):
            return [self._get(i) for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("history index out of range")
        return self._get(index)

    def __iter__(self) -> Iterator[Message]:
        if self.start:  # never a silent short read: the head is in the store
            raise IndexError(f"this history holds messages from {self.start} on only")
        return (self._get(i) for i in range(len(self._raw)))

    def _get(self, index: int) -> Message:
        at = index - self.start
        if at < 0:
            raise IndexError(
                f"message {index} is in the store only (this history starts at {self.start})"
            )
        found = self._hot.get(at)
        if found is None:
            found = self._hot[at] = _decode_message(self._raw[at])
        return found

    def token(self, index: int) -> object:
        """An object that stands for message ``index`` as long as it is the same message:
        its encoded bytes (a decoded dict is a new object after :meth:`cool`)."""
        if index - self.start < 0:
            raise IndexError(f"message {index} is in the store only")
        return self._raw[index - self.start]

    def forget_before(self, index: int) -> None:
        """Hold only messages from ``index`` on (the rest stays in the store)."""
        drop = min(index, len(self)) - self.start
        if drop > 0:
            self._hot.clear()
            self.window = None
            del self._raw[:drop]
            self.start += drop

    def extend(self, messages: Iterable[Message]) -> None:
        """Append copies: the bytes of each message as it is now."""
        self._raw.extend(_encode(m) for m in messages)

    def append(self, message: Message) -> None:
        self._raw.append(_encode(message))

    def cool(self) -> None:
        """Forget the decoded messages; only the bytes stay (an idle session's footprint)."""
        self._hot.clear()
        self.window = None

    def encoded(self) -> list[bytes]:
        """The JSON bytes of each message held (from ``start``), in order; shared: do not
        change the list."""
        return self._raw

    def __repr__(self) -> str:
        return f"History({len(self)} messages, held from {self.start})"


class Extended(MutableSequence[Message]):
    """``base`` followed by messages of this run only: appended and rewritten here, while
    ``base`` is only ever read."""

    __slots__ = ("_split", "added", "base")

    def __init__(self, base: Sequence[Message], added: Iterable[Message] = ()) -> None:
        self.base = base
        self._split = len(base)
        self.added: list[Message] = list(added)

    def __len__(self) -> int:
        return self._split + len(self.added)

    @property
    def start(self) -> int:
        """The first message held (see :attr:`History.start`)."""
        return int(getattr(self.base, "start", 0))

    def __iter__(self) -> Iterator[Message]:
        yield from self.base
        yield from self.added

    @overload
    def __getitem__(self, index: int) -> Message: ...

    @overload
    def __getitem__(self, index: slice) -> list[Message]: ...

    def __getitem__(self, index: int | slice) -> Message | list[Message]:
        split = self._split
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step == 1:
                head = list(self.base[start : min(stop, split)]) if start < split else []
                return head + self.added[max(0, start - split) : max(0, stop - split)]
            return [self[i] for i in range(start, stop, step)]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("message index out of range")
        return self.base[index] if index < split else self.added[index - split]

    def __setitem__(self, index: Any, value: Any) -> None:
        if not isinstance(index, int):
            raise TypeError("messages are replaced one at a time")
        if index < 0:
            index += len(self)
        if index < self._split:
            raise IndexError("a message from before this run is never rewritten")
        self.added[index - self._split] = value

    def __delitem__(self, index: Any) -> None:
        raise TypeError("messages are never removed from a run")

    def insert(self, index: int, value: Message) -> None:
        if index != len(self):
            raise IndexError("messages are only ever added at the end")
        self.added.append(value)

    def token(self, index: int) -> object:
        """See :meth:`History.token`; a message of this run is its own token."""
        if index < 0:
            index += len(self)
        if index < self._split:
            return identity(self.base, index)
        return self.added[index - self._split]


def identity(messages: Sequence[Message], index: int) -> object:
    """What stands for ``messages[index]`` across reads: its token if the sequence has
    them (:class:`History`, :class:`Extended`), else the message object itself."""
    token = getattr(messages, "token", None)
    return token(index) if token is not None else messages[index]
