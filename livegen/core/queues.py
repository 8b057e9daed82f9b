"""The one bounded queue that every inbox between livegen's threads is.

A producer never blocks and never waits: past the queue's ``limit`` an ordinary item is
refused and counted (``dropped``). Some items must never be lost: a note-off (else a
note hangs), All Notes Off, All Sound Off, Reset All Controllers, a panic, a cancel, a
phrase's end. The queue's ``keep`` function names them: it gives such an item a key
(any hashable), and an ordinary item ``None``. A must-keep item is always accepted.

Why must-keep items cannot grow without bound. Past the limit, a must-keep item whose
key equals that of one still waiting *since the last ordinary item accepted* is
folded into that one (counted in ``merged``) instead of appended: between the two,
only must-keep items of other keys came, and nothing a must-keep item does is undone by
another must-keep item (a second note-off of a key that nothing turned on again, a
second All Notes Off, a second panic or cancel do nothing the first did not). So past
the limit the queue grows by at most one item per key: its length never exceeds
``limit`` plus the number of keys (for MIDI: 16 channels × 128 note-offs and 3 resets,
2,096; for the sender: a panic and a cancel per tag). Below the limit nothing is
folded: the consumer sees exactly what was put.

Order is kept: items come out in the order they were accepted. Any number of threads
may put and take (a lock guards the few lines that count; nothing waits while holding
it); waiting for an item is the owner's business (an Event or a Condition around it).
"""

from __future__ import annotations

import collections
import threading
from typing import Any, Callable, Hashable

RESETS = (120, 121, 123)  # All Sound Off, Reset All Controllers, All Notes Off
# A consumer thread that finds a backlog (a flood) takes at most BATCH items per wake-up
# and pauses BREATH_S before the next batch (livegen.daemon.control, .generator): its share
# of the interpreter stays bounded, and the synth's render thread is never starved of it.
BATCH = 32
BREATH_S = 0.001


def never(_item) -> None:
    """``keep`` for a queue whose items may all be dropped past the limit."""
    return None


def midi_key(msg: bytes) -> Hashable | None:
    """The must-keep key of a MIDI message: a note-off (or a note-on of velocity 0) is
    keyed by channel and pitch, a reset controller by channel and controller; anything
    else (a note-on, another controller, clock) is ordinary: None, and so is an item that is
    not MIDI (the control surface's pad commands share the input queue: the next move
    supersedes one)."""
    if type(msg) is not bytes or len(msg) < 3:
        return None
    kind, ch = msg[0] & 0xF0, msg[0] & 0x0F
    if kind == 0x80 or (kind == 0x90 and msg[2] == 0):
        return ch, msg[1]
    if kind == 0xB0 and msg[1] in RESETS:
        return ch, 128 + msg[1]
    return None


def first_midi_key(item) -> Hashable | None:
    """``keep`` for items whose first element is a MIDI message: (msg, time)."""
    return midi_key(item[0])


def second_midi_key(item) -> Hashable | None:
    """``keep`` for items whose second element is a MIDI message: (time, msg)."""
    return midi_key(item[1])


class BoundedQueue:
    """A FIFO of at most ``limit`` ordinary items (None: unbounded) plus must-keep ones.

    ``put(item)`` -> True if it is (or is folded into one) in the queue, False if it
    was dropped (counted). ``popleft()`` (IndexError when empty), ``len()`` and truth as
    a deque's. ``dropped``: ordinary items refused; ``merged``: must-keep items folded
    into one still waiting (see the module).
    """

    def __init__(self, limit: int | None, keep: Callable[[Any], Hashable | None] = never):
        if limit is not None and limit < 1:
            raise ValueError(f"a queue's limit must be at least 1, not {limit}")
        self.limit = limit
        self.keep = keep
        self.dropped = 0
        self.merged = 0
        self._items: collections.deque = collections.deque()  # (seq, key, item)
        self._lock = threading.Lock()
        self._seq = 0  # of the next item accepted
        self._tail_from = 0  # must-keep items from this seq on came after the last ordinary item
        self._tail: dict[Hashable, int] = {}  # their keys, and how many of each still wait

    def put(self, item) -> bool:
        key = self.keep(item)
        with self._lock:
            if self.limit is None or len(self._items) < self.limit:
                if key is None:
                    self._tail.clear()
                    self._tail_from = self._seq + 1
                else:
                    self._tail[key] = self._tail.get(key, 0) + 1
            elif key is None:
                self.dropped += 1
                return False
            elif key in self._tail:
                self.merged += 1
                return True
            else:
                self._tail[key] = 1
            self._items.append((self._seq, key, item))
            self._seq += 1
        return True

    def popleft(self):
        with self._lock:
            seq, key, item = self._items.popleft()
            if key is not None and seq >= self._tail_from:
                left = self._tail[key] - 1
                if left:
                    self._tail[key] = left
                else:
                    del self._tail[key]
        return item

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._tail.clear()
            self._tail_from = self._seq

    def __len__(self) -> int:
        return len(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    def __iter__(self):
        """The items waiting, oldest first (a snapshot)."""
        with self._lock:
            return iter([item for _, _, item in self._items])
