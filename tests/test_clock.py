import random

import pytest

from livegen.core.clock import NS, BeatClock, next_bar

MS = 1_000_000


def ticks(clock, bpm, start_ns, count, jitter_ns=0, seed=0):
    rng = random.Random(seed)
    period = 60 * NS / bpm / 24
    t = start_ns
    for k in range(count):
        t = start_ns + round(k * period)
        clock.on_message(0xF8, t + rng.randint(-jitter_ns, jitter_ns))
    return start_ns + round((count - 1) * period)


def test_internal_tempo_maps_time_to_beats_and_back():
    c = BeatClock(120.0, now_ns=5 * NS)
    assert c.state.beat_at(5 * NS + NS) == pytest.approx(2.0)
    assert c.state.time_at(3.0) == 5 * NS + 1.5 * NS
    c.set_bpm(60.0, 6 * NS)
    assert c.state.beat_at(6 * NS) == pytest.approx(2.0)  # continuous at the change
    assert c.state.beat_at(7 * NS) == pytest.approx(3.0)


def test_next_bar():
    assert next_bar(0.0, 4) == 0.0
    assert next_bar(0.01, 4) == 4.0
    assert next_bar(4.0 + 1e-12, 4) == 4.0
    assert next_bar(7.9, 3) == 9.0


def test_follows_midi_clock_tempo_and_position_with_jitter():
    c = BeatClock(120.0, now_ns=0)
    c.on_message(0xFA, 1 * NS)  # Start: the tick that follows is beat 0
    last = ticks(c, 93.0, 1 * NS, 24 * 8 + 1, jitter_ns=MS // 2)
    s = c.state
    assert s.source == "midi" and s.running
    assert s.bpm == pytest.approx(93.0, rel=0.01)
    assert s.beat_at(last) == pytest.approx(8.0, abs=0.02)
    # the position error stays well under a millisecond's worth of beats despite 0.5 ms jitter
    assert abs(s.time_at(8.0) - last) < 2 * MS


def test_stop_freezes_and_continue_resumes_song_position():
    c = BeatClock(120.0, now_ns=0)
    c.on_message(0xFA, 0)
    last = ticks(c, 120.0, 0, 24 * 2 + 1)
    c.on_message(0xFC, last + 10 * MS)
    frozen = c.state.beat_at(last + 10 * MS)
    assert c.state.beat_at(last + 5 * NS) == frozen
    c.on_message(0xF2, last + 20 * MS, bytes([16, 0]))  # sixteenth 16 = beat 4
    assert c.state.beat_at(last + 30 * MS) == pytest.approx(4.0)
    c.on_message(0xFB, 10 * NS)
    assert c.state.running and c.state.beat_at(10 * NS) == pytest.approx(4.0)


def test_clock_without_start_gives_tempo_but_keeps_position():
    c = BeatClock(120.0, now_ns=0)
    assert c.state.beat_at(NS) == 2.0
    last = ticks(c, 140.0, NS, 48)
    assert c.state.bpm == pytest.approx(140.0, rel=0.01)
    elapsed_min = (last - NS) / NS / 60
    # no jump: the position moved on from 2.0 at a tempo between the old and the new one
    assert 2.0 + elapsed_min * 120 - 0.01 <= c.state.beat_at(last) <= 2.0 + elapsed_min * 140 + 0.01


def test_ticks_that_stop_fall_back_to_internal_time_at_the_last_tempo():
    c = BeatClock(120.0, now_ns=0)
    c.on_message(0xFA, 0)
    last = ticks(c, 100.0, 0, 49)
    c.check_timeout(last + NS // 10)
    assert c.state.source == "midi"
    c.check_timeout(last + 3 * NS)
    assert c.state.source == "internal" and c.state.running
    assert c.state.bpm == pytest.approx(100.0, rel=0.01)


def test_follow_off_ignores_the_clock():
    c = BeatClock(120.0, now_ns=0, follow_midi=False)
    c.on_message(0xFA, 0)
    ticks(c, 60.0, 0, 48)
    assert c.state.bpm == 120.0 and c.state.source == "internal"


def test_absurd_ticks_do_not_crash():
    c = BeatClock(120.0, now_ns=0)
    c.on_message(0xFA, 0)
    for t in (0, 0, 5, 5, 10 * NS, 10 * NS + 1):
        c.on_message(0xF8, t)
    c.on_message(0xF2, 0, b"")  # short song position: ignored
    assert c.state.bpm > 0
