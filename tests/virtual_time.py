"""Virtual time for the daemon's threads: their logic, tested without sleeping.

:class:`VirtualTime` is a monotonic clock in nanoseconds that moves only when every
thread taking part is waiting, and then jumps to the earliest deadline. The threads
take turns: one runs at a time (it holds the turn until it waits), the others wait for
an event or a deadline, in a fixed order. So a test of the daemon runs its real threads
(the sender, the generator, the control thread) on fake ports, as fast as the machine
allows, and every result is exact and the same on every run: a note due on a bar line
is sent at that nanosecond, and "nothing happens for a second" is a second of virtual
time that costs nothing.

What takes part: the thread that made the VirtualTime (the test) and the threads given
to :meth:`VirtualTime.adopt` before they start. What they wait on must be this module's
(:meth:`VirtualTime.event`, :meth:`VirtualTime.sleep`, :class:`VirtualInbox`); a real
lock held across a virtual wait would stop everything (the daemon holds none). A thread
that busy-waits on the clock never gives up its turn: the sender's spin must be off
(``jam.spin_us = 0``).
"""

from __future__ import annotations

import collections
import math
import threading

from livegen.daemon.generator import Inbox


class VirtualEvent:
    """threading.Event's interface, in virtual time."""

    def __init__(self, vt: VirtualTime):
        self._vt = vt
        self._flag = False
        self.waiters: set[threading.Thread] = set()

    def is_set(self) -> bool:
        return self._flag

    def set(self) -> None:
        with self._vt.cv:
            self._flag = True
            for t in sorted(self.waiters, key=self._vt.order.__getitem__):
                self._vt._wake(t)

    def clear(self) -> None:
        self._flag = False

    def wait(self, timeout: float | None = None) -> bool:
        return self._vt._wait(self, timeout)


class VirtualTime:
    def __init__(self, start_ns: int = 1_000_000_000_000):
        self.now = start_ns
        self.cv = threading.Condition(threading.RLock())  # guards everything here
        self._turn: dict[threading.Thread, threading.Condition] = {}  # each thread waits for its turn
        me = threading.current_thread()
        self.order: dict[threading.Thread, int] = {me: 0}  # taking part, in turn order
        self._holder: threading.Thread | None = me  # whose turn it is
        self._runnable: collections.deque[threading.Thread] = collections.deque()
        self._blocked: dict[threading.Thread, tuple[int | None, VirtualEvent | None]] = {}
        self._finished: dict[threading.Thread, VirtualEvent] = {}

    # -- what the threads call -------------------------------------------------------------
    def clock(self) -> int:
        return self.now

    def event(self) -> VirtualEvent:
        return VirtualEvent(self)

    def sleep(self, seconds: float) -> None:
        self._wait(None, seconds)

    def wait_for(self, predicate, timeout: float = 5.0, step: float = 0.002) -> bool:
        """``predicate()`` checked every ``step`` virtual seconds, for ``timeout`` of them."""
        deadline = self.now + round(timeout * 1e9)
        while not predicate():
            if self.now >= deadline:
                return False
            self.sleep(step)
        return True

    def adopt(self, *threads: threading.Thread) -> None:
        """Make ``threads`` (not started yet) take part; their ``join`` waits in virtual time."""
        for t in threads:
            self.order[t] = len(self.order)
            self._finished[t] = self.event()
            run, start, join = t.run, t.start, t.join

            def wrapped_run(t=t, run=run):
                with self.cv:
                    self._await_turn(t)
                try:
                    run()
                finally:
                    with self.cv:
                        self._finished[t].set()
                        del self.order[t]
                        self._holder = None
                        self._pass()

            def wrapped_start(t=t, start=start):
                with self.cv:
                    self._runnable.append(t)  # its first turn comes when the starter waits
                start()

            def wrapped_join(timeout=None, t=t, join=join):
                if t in self.order:
                    self._finished[t].wait(timeout)
                if not self._finished[t].is_set():
                    return  # still running (virtual timeout), as Thread.join would
                join()  # it finished its turn: the real thread ends at once

            t.run, t.start, t.join = wrapped_run, wrapped_start, wrapped_join

    # -- the turns -------------------------------------------------------------------------
    def _wait(self, event: VirtualEvent | None, timeout: float | None) -> bool:
        me = threading.current_thread()
        with self.cv:
            if event is not None and event._flag:
                return True
            if self._holder is not me:
                raise RuntimeError(f"{me.name} waits in virtual time without taking part (adopt it)")
            deadline = None if timeout is None else self.now + max(0, math.ceil(timeout * 1e9))
            self._blocked[me] = (deadline, event)
            if event is not None:
                event.waiters.add(me)
            self._holder = None
            self._pass()
            self._await_turn(me)
            return event._flag if event is not None else False

    def _await_turn(self, me: threading.Thread) -> None:
        """(cv held) Until it is ``me``'s turn."""
        turn = self._turn.setdefault(me, threading.Condition(self.cv))
        while self._holder is not me:
            if self._holder is None and not self._runnable and me in self._blocked:
                raise RuntimeError("virtual time: every thread waits without a deadline")
            turn.wait()

    def _wake(self, t: threading.Thread) -> None:
        """(cv held) ``t`` waits no more: it runs when its turn comes."""
        if t in self._blocked:
            _, event = self._blocked.pop(t)
            if event is not None:
                event.waiters.discard(t)
            self._runnable.append(t)
            if self._holder is None:
                self._pass()

    def _pass(self) -> None:
        """(cv held, nobody's turn) Give the turn to the next runnable thread; if none, move
        time on to the earliest deadline and wake who waited for it."""
        if self._holder is not None:
            return
        while not self._runnable:
            deadlines = [(d, self.order[t], t) for t, (d, _) in self._blocked.items() if d is not None]
            if not deadlines:  # nothing can run: a deadlock (or every thread has finished)
                for turn in self._turn.values():
                    turn.notify()  # (they see it and say so)
                return
            self.now = max(self.now, min(deadlines, key=lambda x: x[:2])[0])
            for _, _, t in sorted((x for x in deadlines if x[0] <= self.now), key=lambda x: x[:2]):
                _, event = self._blocked.pop(t)
                if event is not None:
                    event.waiters.discard(t)
                self._runnable.append(t)
        self._holder = self._runnable.popleft()
        turn = self._turn.get(self._holder)
        if turn is not None:  # else it has not waited yet: it finds its turn when it first looks
            turn.notify()


class VirtualInbox(Inbox):
    """The generator's :class:`~livegen.daemon.generator.Inbox`, waiting in virtual time."""

    def __init__(self, size: int, vt: VirtualTime):
        super().__init__(size)
        self._vt = vt
        self._ready_event = vt.event()

    def put(self, item) -> bool:
        with self._vt.cv:
            put = super().put(item)  # its lock is never contended: one thread runs at a time
            if put:
                self._ready_event.set()
        return put

    def get(self, timeout: float):
        with self._vt.cv:
            if not self._items:
                self._ready_event.clear()
        if not self._items:
            self._ready_event.wait(timeout)
        return self._items.popleft() if self._items else None


def virtualize(daemon, vt: VirtualTime) -> None:
    """Put a :class:`~livegen.daemon.Daemon` (made with ``clock=vt.clock``, not started) on
    virtual time: its threads' events and the generator's inbox become virtual, and its
    threads take part. (The input port's ``wake`` must be ``vt.event()`` already: the
    control thread took it.)"""
    assert daemon.clock == vt.clock, "make the Daemon with clock=vt.clock"
    s, g, c = daemon.sender, daemon.generator, daemon.control
    s.wake, s.stopping = vt.event(), vt.event()
    g.stopping = vt.event()
    g._inbox = VirtualInbox(g._inbox.size, vt)
    c.stopping = vt.event()
    assert isinstance(c.wake, VirtualEvent), "give the input port wake = vt.event()"
    for t in (s, g, c):  # a real event left (a thread renamed or added one) would wait in real time
        real = [k for k, v in vars(t).items() if k not in ("_started", "_tstate_lock")
                and isinstance(v, (threading.Event, threading.Condition, Inbox)) and not isinstance(v, VirtualInbox)]
        assert not real, f"{t.name}: {real} still real: make them virtual here"
    vt.adopt(s, g, c)
