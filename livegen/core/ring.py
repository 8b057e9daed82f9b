"""A preallocated single-producer, single-consumer ring of audio frames.

The render thread is the only writer (:meth:`AudioRing.write`); the audio
callback is the only reader (:meth:`AudioRing.read_into`). Each side owns one
position counter and only reads the other's, so no lock is needed: a counter
is published after its frames are copied. Nothing here allocates an array after
construction.
"""

from __future__ import annotations

import numpy as np


class AudioRing:
    def __init__(self, capacity: int, channels: int = 1):
        if capacity < 1 or channels < 1:
            raise ValueError(f"capacity and channels must be >= 1, got {capacity}, {channels}")
        self.capacity = capacity
        self.buf = np.zeros((capacity, channels), dtype=np.float32)
        self._written = 0  # frames ever written; owned by the writer
        self._read = 0  # frames ever read; owned by the reader

    def available(self) -> int:
        """Frames ready to read."""
        return self._written - self._read

    def free(self) -> int:
        """Frames that can be written without overwriting unread ones."""
        return self.capacity - (self._written - self._read)

    def write(self, block: np.ndarray) -> int:
        """Writer thread: copy as much of ``block`` (frames, channels) as fits; return frames copied."""
        n = min(len(block), self.free())
        start = self._written % self.capacity
        first = min(n, self.capacity - start)
        self.buf[start:start + first] = block[:first]
        self.buf[:n - first] = block[first:n]
        self._written += n
        return n

    def read_into(self, out: np.ndarray) -> int:
        """Reader (audio callback): fill ``out`` (frames, channels); silence where nothing is ready.

        Returns the frames copied from the ring; fewer than ``len(out)`` is an underrun.
        """
        n = min(len(out), self._written - self._read)
        start = self._read % self.capacity
        first = min(n, self.capacity - start)
        out[:first] = self.buf[start:start + first]
        out[first:n] = self.buf[:n - first]
        out[n:] = 0.0
        self._read += n
        return n


class EventLog:
    """The latest ``capacity`` events of one writer thread, for readers that poll.

    The writer :meth:`append`\\ s (a slot store and a counter increment: it never waits and
    never allocates a container); a reader keeps the count it has seen and asks
    :meth:`since` for what came after it. A reader that fell more than ``capacity // 2``
    behind gets the latest ``capacity // 2`` events (the older half of the slots may be
    being overwritten while it reads) and can tell from the counts how many it missed.
    """

    def __init__(self, capacity: int = 1024):
        if capacity < 2:
            raise ValueError(f"capacity must be >= 2, got {capacity}")
        self.capacity = capacity
        self._slots: list = [None] * capacity
        self.count = 0  # events ever appended; owned by the writer, published after the slot

    def append(self, event) -> None:  # the writer thread only
        self._slots[self.count % self.capacity] = event
        self.count += 1

    def since(self, seen: int) -> tuple[list, int]:
        """(the events after the first ``seen``, the count now)."""
        end = self.count
        start = max(seen, end - self.capacity // 2)
        return [self._slots[i % self.capacity] for i in range(start, end)], end
