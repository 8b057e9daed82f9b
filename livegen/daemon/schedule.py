"""The daemon's pure timing and bookkeeping logic (no threads, no devices).

- bar logic: where a response starts (:func:`response_start`), moving a late
  response by whole bars (:func:`move_late`), its length (:func:`response_bars`);
- :class:`Schedule`: the sender's heap of (beat, message) with tags, so one
  response can be cancelled;
- :class:`EchoFilter`: recognises MIDI livegen sent that comes back through a loop;
- :class:`Controls`: the values the player changes by MIDI CC, replaced whole.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import deque
from dataclasses import dataclass, replace

from livegen.core.clock import next_bar
from livegen.core.controls import FOLLOW, Steering
from livegen.core.notes import is_note_on


# -- bars --------------------------------------------------------------------------

def response_start(ready_beat: float, beats_per_bar: int, after_beat: float = -math.inf) -> float:
    """The first bar line at or after ``ready_beat`` (when the response can be ready)
    and at or after ``after_beat`` (the end of a response it queues behind)."""
    return next_bar(max(ready_beat, after_beat), beats_per_bar)


def move_late(start_beat: float, ready_beat: float, beats_per_bar: int) -> tuple[float, int]:
    """(start, bars moved): a response ready only at ``ready_beat`` moves on by whole bars."""
    if ready_beat <= start_beat:
        return start_beat, 0
    bars = math.ceil((ready_beat - start_beat) / beats_per_bar - 1e-9)
    return start_beat + bars * beats_per_bar, bars


def response_bars(phrase_beats: float, beats_per_bar: int, configured: int, max_bars: int) -> int:
    """Bars to answer with: ``configured``, or (0) as many bars as the phrase took, 1..max_bars."""
    if configured > 0:
        return configured
    bars = math.ceil(phrase_beats / beats_per_bar - 1e-6)
    return max(1, min(max_bars, bars))


# -- the sender's schedule ------------------------------------------------------------

class Schedule:
    """Messages waiting to be sent, earliest beat first; at one beat, note-offs first.

    Owned by the sender thread.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, int, bytes, str]] = []
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._heap)

    def add(self, beat: float, msg: bytes, tag: str) -> None:
        heapq.heappush(self._heap, (beat, int(is_note_on(msg)), next(self._seq), msg, tag))

    def peek(self) -> tuple[float, bytes, str] | None:
        if not self._heap:
            return None
        beat, _, _, msg, tag = self._heap[0]
        return beat, msg, tag

    def pop(self) -> tuple[float, bytes, str]:
        beat, _, _, msg, tag = heapq.heappop(self._heap)
        return beat, msg, tag

    def cancel(self, tag: str | None = None) -> int:
        """Drop every message with ``tag`` (None: all); returns how many."""
        before = len(self._heap)
        self._heap = [e for e in self._heap if tag is not None and e[4] != tag]
        heapq.heapify(self._heap)
        return before - len(self._heap)

    def last_beat(self, tag: str) -> float | None:
        beats = [e[0] for e in self._heap if e[4] == tag]
        return max(beats) if beats else None


# -- MIDI loops ----------------------------------------------------------------------

class EchoFilter:
    """Recognises input that is an echo of what livegen sent.

    The sender appends (time_ns, message) to :attr:`sent` (a bounded deque: one
    writer, one reader); the control thread calls :meth:`is_echo` for each
    incoming message: a message equal to one sent less than ``window_ns`` before
    it arrived is an echo, and each sent message explains at most one echo.
    """

    def __init__(self, window_ns: int, maxlen: int = 4096):
        self.window_ns = window_ns
        self.sent: deque[tuple[int, bytes]] = deque(maxlen=maxlen)
        self._pending: dict[bytes, deque[int]] = {}  # reader-owned
        self._order: deque[tuple[int, bytes]] = deque()
        self.echoes = 0

    def _take_sent(self, now_ns: int) -> None:
        while self.sent:
            t, msg = self.sent.popleft()
            self._pending.setdefault(msg, deque()).append(t)
            self._order.append((t, msg))
        while self._order and now_ns - self._order[0][0] > self.window_ns:
            t, msg = self._order.popleft()
            times = self._pending.get(msg)
            if times and times[0] == t:
                times.popleft()
                if not times:
                    del self._pending[msg]

    def is_echo(self, msg: bytes, t_ns: int) -> bool:
        if self.window_ns <= 0:
            return False
        self._take_sent(t_ns)
        times = self._pending.get(msg)
        while times and t_ns - times[0] > self.window_ns:
            times.popleft()
        if times and times[0] <= t_ns:
            times.popleft()
            if not times:
                del self._pending[msg]
            self.echoes += 1
            return True
        return False


# -- control by CC --------------------------------------------------------------------

@dataclass(frozen=True)
class Controls:
    """What the player changes while playing. Written by the control thread only,
    replaced whole; the generator reads the current object."""

    temperature: float
    response_bars: int  # 0 = follow the phrase
    loop: bool = False
    mute: bool = False
    steering: Steering = FOLLOW  # texture, register, density: followed from the phrase or set

    def with_(self, **changes) -> "Controls":
        return replace(self, **changes)


def cc_temperature(value: int) -> float:
    return round(0.1 + 1.9 * value / 127, 3)


def cc_length_bars(value: int) -> int:
    return round(8 * value / 127)
