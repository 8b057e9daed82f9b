"""MIDI ports: one small base that every backend fills in (mido's ``ports.py`` idea).

The rest of livegen sees only these two interfaces, whatever the backend:

- :class:`InputPort`: ``queue`` of (monotonic_ns, bytes), ``dropped`` (messages the
  bounded queue had no room for), ``wake`` (an Event the reader may set here, set on
  each message) and ``close()``;
- :class:`OutputPort`: ``send(msg, at_ns=None)`` and ``close()``. ``at_ns`` is when the
  message is due on the monotonic clock; a backend that can place a message at its
  time (JACK, :mod:`livegen.io.jackmidi`) wants it at least ``lead_ns`` before then,
  a backend that sends at once (rtmidi, :mod:`livegen.io.midi`) has ``lead_ns = 0``
  and its caller waits until the message is due.

A backend implements ``_close`` (and ``_send`` for outputs); its receiving thread
calls :meth:`InputPort._deliver`, which only stamps, appends and wakes.
"""

from __future__ import annotations

from livegen.core.queues import BoundedQueue, second_midi_key


class Port:
    """What every port has: a name, ``closed``, a ``close()`` that runs once, and the
    ``implementation`` that moves its bytes (for ``livegen devices`` and the status screen)."""

    lead_ns = 0
    implementation = "in-process"

    def __init__(self, name: str):
        self.name = name
        self.closed = False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._close()

    def _close(self) -> None:  # pragma: no cover - every backend has one
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}{' closed' if self.closed else ''}>"


class InputPort(Port):
    """Messages land in ``queue`` as (monotonic_ns, bytes), appended by the backend's thread.

    The queue is bounded (:class:`~livegen.core.queues.BoundedQueue`): when its reader
    falls behind, new messages are counted in ``dropped`` rather than blocking the
    backend's thread, except note-offs and resets, which are always kept (a flood never
    leaves a note hanging). ``maxlen = None``: unbounded (a recorder that keeps a whole
    run). ``dropped`` also counts what the backend itself lost (``backend_dropped``).
    """

    def __init__(self, name: str, maxlen: int | None = 65536):
        super().__init__(name)
        self.queue = BoundedQueue(maxlen, second_midi_key)
        self.maxlen = maxlen
        self.backend_dropped = 0  # lost before this queue (the backend's own ring was full)
        self.wake = None  # a threading.Event the reader may set here, to be woken on each message

    @property
    def dropped(self) -> int:
        return self.queue.dropped + self.backend_dropped

    def _deliver(self, t_ns: int, data: bytes) -> None:  # the backend's thread
        if not self.queue.put((t_ns, data)):
            return
        wake = self.wake
        if wake is not None and not wake.is_set():  # (appended first: a reader that clears it
            wake.set()  # after this look drains the queue next, this message included)

    def post(self, t_ns: int, item) -> None:
        """Another thread's message for the reader (the control surface's CCs and commands),
        into the same bounded queue, woken the same way."""
        self._deliver(t_ns, item)


class OutputPort(Port):
    """``send(msg, at_ns=None)``: a complete message (bytes or a list of ints), due at
    ``at_ns`` (monotonic ns; None: as soon as possible)."""

    def send(self, msg, at_ns: int | None = None) -> None:
        self._send(bytes(msg), at_ns)

    def _send(self, msg: bytes, at_ns: int | None) -> None:  # pragma: no cover
        raise NotImplementedError


class Recorder:
    """Everything an input port received, kept for a whole run (demo, benchmarks, tests).

    ``snapshot()`` moves what arrived into ``messages`` (this object's owner is the only
    reader) and returns a copy: [(monotonic_ns, bytes), ...] in arrival order.
    """

    def __init__(self, port: InputPort):
        self.port = port
        self.messages: list[tuple[int, bytes]] = []

    def snapshot(self) -> list[tuple[int, bytes]]:
        queue = self.port.queue
        while queue:
            self.messages.append(queue.popleft())
        return list(self.messages)

    def close(self) -> None:
        self.port.close()
