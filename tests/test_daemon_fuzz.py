"""Fuzzing the daemon's input: whatever bytes arrive, livegen keeps answering and closes every note.

Each example pours generated junk into a running daemon (fake ports, the pattern model):
random bytes in random packets, running status across packets, sysex of any length,
truncated messages, note-offs without note-ons, note-ons that never end, channel, pitch
and velocity at their limits, clock without Start, Stop, Song Position, and clock ticks at
tempo extremes (stamped microseconds or seconds apart). Then a DAW starts its transport
with a steady clock and plays a phrase: livegen must answer it on a bar line, and when it
stops, no note it sent (passed through or its own) may be left sounding.
"""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from livegen import config
from livegen.core import clock as clk
from livegen.core.notes import left_sounding
from livegen.daemon import Daemon
from tests.daemon_fakes import FakeInput, FakeOutput, FakeSink, PatternModel, note_off, note_on, wait_for

BPM = 240.0
TICK_S = 60.0 / BPM / 24

data_byte = st.integers(0, 127)
status_byte = st.integers(0x80, 0xFF)
limits = st.sampled_from([0, 1, 63, 64, 126, 127])
channel_message = st.builds(lambda s, a, b: bytes((s, a, b)), st.integers(0x80, 0xEF), limits | data_byte,
                            limits | data_byte)
running_status = st.lists(data_byte, min_size=1, max_size=12).map(bytes)  # data bytes alone
sysex = st.builds(lambda body, end: b"\xf0" + bytes(body) + (b"\xf7" if end else b""),
                  st.lists(data_byte, max_size=300), st.booleans())
transport = st.sampled_from([b"\xfa", b"\xfb", b"\xfc", b"\xf8", b"\xf2\x00\x00", b"\xf2\x7f\x7f", b"\xf2\x10"])
junk_packet = st.one_of(st.binary(min_size=1, max_size=16), channel_message, running_status, sysex, transport,
                        st.builds(lambda s: bytes((s,)), status_byte))
# ticks stamped 1 us to 2 s apart: tempos from 2.5 million to 1.25 bpm
tick_gaps_ns = st.lists(st.sampled_from([1_000, 100_000, 2_000_000, 10_417_000, 250_000_000, 2_000_000_000]),
                        max_size=60)


def make():
    cfg = config.from_dict({"jam": {"tempo_bpm": BPM, "beats_per_bar": 2, "silence_beats": 1.0,
                                    "response_bars": 1, "seed": 1, "state_cc": 85, "lead_ms": 20.0,
                                    "thru": "both", "max_phrase_beats": 16.0, "max_note_s": 2.0,
                                    "safety_net": False}})  # the pattern model plays its own pitch
    inp, out, sink = FakeInput(), FakeOutput(), FakeSink()
    return Daemon(cfg, inp, out, PatternModel(), sink), inp, out, sink


def run_clock(inp, stop: threading.Event) -> None:
    """A DAW's transport: Start, then 24 ticks a beat at BPM until stopped."""
    inp.put(b"\xfa")
    nxt = time.monotonic()
    while not stop.is_set():
        inp.put(b"\xf8")
        nxt += TICK_S
        time.sleep(max(0.0, nxt - time.monotonic()))


def response_ons(out):
    return [(t, m) for t, m in out.messages() if m[0] & 0xF0 == 0x90 and m[1] == 72 and m[2] > 0]


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])  # no shrinking: minutes per failure
@given(packets=st.lists(junk_packet, min_size=1, max_size=200), gaps=tick_gaps_ns)
def test_after_any_input_livegen_still_answers_and_leaves_no_note_sounding(packets, gaps):
    d, inp, out, sink = make()
    d.start()
    ticking = threading.Event()
    clock_thread = None
    try:
        t = time.monotonic_ns() - sum(gaps) - 1_000_000
        for gap in gaps:  # clock ticks at extreme tempos, in the past
            t += gap
            inp.queue.append((t, b"\xf8"))
        for p in packets:
            inp.queue.append((time.monotonic_ns(), p))
        inp.wake.set()
        assert wait_for(lambda: not inp.queue)
        s = d.beat_clock.state
        assert clk.MIN_BPM <= s.bpm <= clk.MAX_BPM, s
        # a fresh start: the DAW's panic (All Notes Off on every channel), then its transport
        for ch in range(16):
            inp.put(bytes((0xB0 | ch, 123, 0)))
        clock_thread = threading.Thread(target=run_clock, args=(inp, ticking), daemon=True)
        clock_thread.start()
        assert wait_for(lambda: d.beat_clock.state.source == "midi" and abs(d.beat_clock.state.bpm - BPM) < 5)
        before = d.generator.counts.responses
        time.sleep(1.2)  # the junk's own phrase, if it made one, is over and answered
        before = d.generator.counts.responses
        for p in (60, 62, 64, 65):
            inp.put(note_on(p, 100))
            time.sleep(0.06)
            inp.put(note_off(p))
            time.sleep(0.02)
        assert wait_for(lambda: d.generator.counts.responses > before), d.status()
        r = d.generator.last
        assert r.start_beat % 2 == 0
    finally:
        ticking.set()
        if clock_thread is not None:
            clock_thread.join(2)
        d.stop()
    assert not left_sounding(out.messages())
    st_ = d.status()
    assert st_.counts["send_errors"] == 0


def test_clock_ticks_at_extreme_tempos_stay_in_the_allowed_range():
    c = clk.BeatClock(120.0, 0)
    c.on_message(0xFA, 0)
    t = 0
    for _ in range(48):  # 1 us apart: 2.5 million bpm as sent
        t += 1_000
        c.on_message(0xF8, t)
    assert c.state.bpm == clk.MAX_BPM
    for _ in range(48):  # 0.9 s apart: 2.8 bpm as sent
        t += 900_000_000
        c.on_message(0xF8, t)
    assert c.state.bpm == clk.MIN_BPM
    c.check_timeout(t + 10 * 60 * clk.NS)
    assert c.state.source == "internal" and c.state.bpm == clk.MIN_BPM
