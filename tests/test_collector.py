"""livegen.realtime.Collector: Python's full garbage collections at moments livegen chooses
(the automatic ones held the interpreter lock 7-15 ms in a MIDI flood and underran the synth)."""

from __future__ import annotations

import gc

import pytest

from livegen import realtime
from livegen.realtime import Collector


@pytest.fixture
def restore_gc():
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)
    gc.unfreeze()


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_full_collections_come_only_when_quiet_and_at_least_every_ten_minutes(restore_gc):
    clock, quiet = Clock(), [False]
    looks = []

    def is_quiet():
        looks.append(clock.t)
        return quiet[0]

    c = Collector(is_quiet, clock)
    before = gc.get_threshold()
    young = before[:2]
    c.start()
    assert gc.get_threshold() == (*young, realtime.NEVER)  # no automatic full collection
    assert gc.get_freeze_count() > 0  # what start-up allocated is never scanned again
    full = []
    gc.callbacks.append(cb := lambda phase, info: phase == "stop" and info["generation"] == 2 and full.append(1))
    try:
        clock.t += realtime.FULL_EVERY_S - 1
        c.tick()
        assert c.full == 0 and looks == []  # too soon: not even asked
        clock.t += 1
        c.tick()
        assert c.full == 0 and len(looks) == 1  # due, but something sounds
        quiet[0] = True
        clock.t += 0.2
        c.tick()
        assert c.full == 1 and len(full) == 1
        quiet[0] = False
        clock.t += realtime.FULL_MAX_S  # never quiet for ten minutes: collected anyway
        c.tick()
        assert c.full == 2 and len(full) == 2
    finally:
        gc.callbacks.remove(cb)
    c.stop()
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0

