"""Fakes for the daemon's tests: ports, a model and a synth sink, no devices.

Each takes the clock (and the input its wake event, the model its sleep) so that the
same fakes run in real time and in virtual time (tests/virtual_time.py)."""

from __future__ import annotations

import threading
import time
from collections import deque

import numpy as np

from livegen.core import tokens as tk


class FakeInput:
    def __init__(self, clock=time.monotonic_ns, event=threading.Event):
        self.queue: deque = deque()
        self.dropped = 0
        self.clock = clock
        self.wake = event()

    def put(self, msg: bytes, t: int | None = None) -> None:
        self.queue.append((self.clock() if t is None else t, bytes(msg)))
        self.wake.set()


class FakeOutput:
    def __init__(self, loop_to: FakeInput | None = None, fail: bool = False, clock=time.monotonic_ns):
        self.sent: list[tuple[int, bytes]] = []
        self.lock = threading.Lock()
        self.loop_to = loop_to  # a MIDI loop: everything sent comes back here
        self.fail = fail
        self.clock = clock

    lead_ns = 0  # sends at once, as rtmidi does

    def send(self, msg, at_ns=None) -> None:
        if self.fail:
            raise OSError("peer gone")
        with self.lock:
            self.sent.append((self.clock(), bytes(msg)))
        if self.loop_to is not None:
            self.loop_to.put(bytes(msg))

    def messages(self) -> list[tuple[int, bytes]]:
        with self.lock:
            return list(self.sent)


class FakeSink:
    def __init__(self):
        self.got: list[tuple[bytes, int | None]] = []
        self.closed = False

    def send(self, msg: bytes, at_ns: int | None = None) -> None:
        self.got.append((bytes(msg), at_ns))

    def close(self) -> None:
        self.closed = True

    def status(self) -> dict:
        return {"voices": 0, "load": 0.0, "underruns": 0}


class PatternModel:
    """A 'model' that always plays pitch ``pitch`` as eighth notes: ON, T6, OFF, T6, ...

    The state is the position in the pattern; ``steps`` counts calls.
    """

    def __init__(self, pitch: int = 72, step_s: float = 0.0, sleep=time.sleep):
        self.pattern = [tk.VELOCITY + 10, tk.NOTE_ON + pitch, tk.TIME_SHIFT + 5, tk.NOTE_OFF + pitch,
                        tk.TIME_SHIFT + 5]
        self.steps = 0
        self.step_s = step_s  # the time a step costs (slept with ``sleep``)
        self.sleep = sleep
        self.fed: list[int] = []
        self.controls_fed: list = []  # the controls given with each token fed

    def initial_state(self):
        return 0

    def step(self, token: int, state, controls=None):
        self.steps += 1
        self.fed.append(token)
        self.controls_fed.append(None if controls is None else np.array(controls))
        if self.step_s:
            self.sleep(self.step_s)
        nxt = state + 1 if token == self.pattern[state % len(self.pattern)] else state
        logits = np.full(tk.VOCAB_SIZE, -30.0, np.float32)
        logits[self.pattern[nxt % len(self.pattern)]] = 30.0
        return logits, nxt


def note_on(pitch: int, vel: int = 100, ch: int = 0) -> bytes:
    return bytes((0x90 | ch, pitch, vel))


def note_off(pitch: int, ch: int = 0) -> bytes:
    return bytes((0x80 | ch, pitch, 0))


def wait_for(predicate, timeout: float = 60.0, step: float = 0.005) -> bool:
    """Polls ``predicate`` until it holds (True) or ``timeout`` seconds pass (False). A test
    waits for a state, never for a time: the deadline is generous, for a slow or busy machine."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()
