"""The daemon's threads on fake ports: bar lines, late moves, interrupt and queue, loops, panic, stop.

Tempo 240 bpm with 2 beats to the bar: a bar is 0.5 s. Every test runs its real threads in
virtual time (tests/virtual_time.py): exact times, no sleeping, the same result on every
run. A few run in real time too (``tb`` = "real"), for the wiring: real threads, events
and clock, with loose bounds (the machine is shared); `livegen bench jam` measures the
precise figures.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from livegen import config
from livegen.core import tokens as tk
from livegen.core.notes import left_sounding, note_on_off
from livegen.daemon import Daemon
from livegen.daemon.generator import MAX_CATCH_UP, Inbox
from livegen.daemon.prompt import LiveEncoder
from tests import daemon_fakes
from tests.daemon_fakes import FakeInput, FakeOutput, FakeSink, PatternModel, note_off, note_on
from tests.virtual_time import VirtualInbox, VirtualTime, virtualize

BAR_NS = 500_000_000


class RealTime:
    """Real threads on the real clock; bounds loose for a loaded 2-core machine."""

    name = "real"
    slack_ns = 25_000_000
    clock = staticmethod(time.monotonic_ns)
    event = staticmethod(threading.Event)
    sleep = staticmethod(time.sleep)
    wait_for = staticmethod(daemon_fakes.wait_for)
    jam = {}

    def prepare(self, daemon) -> None:
        pass

    def inbox(self, size: int):
        return Inbox(size)


class Virtual(VirtualTime):
    """The same threads in virtual time: a note due at a nanosecond is sent at it."""

    name = "virtual"
    slack_ns = 1_000  # 1 us: beats to ns round, sleeps end on the ns after
    jam = {"spin_us": 0, "realtime": False}  # no busy-wait on a clock that stands still

    def prepare(self, daemon) -> None:
        virtualize(daemon, self)

    def inbox(self, size: int):
        return VirtualInbox(size, self)


@pytest.fixture
def tb(request):
    """The time base: virtual unless a test asks for ``real`` too (indirect parametrize)."""
    return RealTime() if getattr(request, "param", "virtual") == "real" else Virtual()


both = pytest.mark.parametrize("tb", ["virtual", "real"], indirect=True)


def make(tb, jam=None, model=None, sink=None, out=None, inp=None):
    values = {"tempo_bpm": 240.0, "beats_per_bar": 2, "silence_beats": 1.0, "response_bars": 1,
              "seed": 1, "state_cc": -1, "lead_ms": 20.0, **tb.jam,
              "safety_net": False}  # the pattern model plays its own pitch: no register window
    values.update(jam or {})
    cfg = config.from_dict({"jam": values})
    inp = inp or FakeInput(tb.clock, tb.event)
    out = out or FakeOutput(clock=tb.clock)
    d = Daemon(cfg, inp, out, model or PatternModel(), sink, clock=tb.clock)
    tb.prepare(d)
    return d, inp, out


def play(tb, inp, pitches, on_s=0.06, gap_s=0.02, ch=0):
    for p in pitches:
        inp.put(note_on(p, 100, ch))
        tb.sleep(on_s)
        inp.put(note_off(p, ch))
        tb.sleep(gap_s)


def response_ons(out, pitch=72):
    return [(t, m) for t, m in out.messages() if m[0] & 0xF0 == 0x90 and m[1] == pitch and m[2] > 0]


def on_bar_line(tb, t_ns, d) -> bool:
    k = round((t_ns - d.started_ns) / BAR_NS)
    return abs(t_ns - (d.started_ns + k * BAR_NS)) < tb.slack_ns


def closing(m: bytes) -> bool:
    """A note-off, or All Notes Off / All Sound Off."""
    n = note_on_off(m)
    return (n is not None and n[0] == "off") or (m[0] & 0xF0 == 0xB0 and m[1] in (120, 123))


def end_of(d, r) -> int:
    """When response ``r``'s last bar ends (ns)."""
    return d.beat_clock.state.time_at(r.start_beat + r.bars * d.cfg.jam.beats_per_bar)


@both
def test_response_starts_on_the_next_bar_line_and_every_note_is_closed(tb):
    sink = FakeSink()
    d, inp, out = make(tb, sink=sink)
    d.start()
    try:
        play(tb, inp, [60, 62, 64, 65])
        assert tb.wait_for(lambda: d.generator.counts.responses == 1, 3)
        r = d.generator.last
        assert r.start_beat % 2 == 0 and r.bars == 1 and r.moved_bars == 0
        assert tb.wait_for(lambda: len(response_ons(out)) == 4 and not d.sender.responding, 3)
    finally:
        d.stop()
    first = response_ons(out)[0][0]
    assert on_bar_line(tb, first, d)
    assert abs(first - d.beat_clock.state.time_at(r.start_beat)) < tb.slack_ns
    ons = [t for t, _ in response_ons(out)]
    assert all(abs((b - a) - BAR_NS / 4) < tb.slack_ns for a, b in zip(ons, ons[1:]))  # eighths at 240
    assert not left_sounding(out.messages())
    # the player's notes went through to the synth at once, with their arrival times (before
    # the response's bar line), the response too, with its times
    start = d.beat_clock.state.time_at(r.start_beat)
    thru = [m for m, at in sink.got if at is not None and at < start and m[0] & 0xF0 in (0x80, 0x90)]
    assert [m[1] for m in thru if m[0] & 0xF0 == 0x90] == [60, 62, 64, 65]
    timed = [(m, at) for m, at in sink.got if at is not None and at >= start]
    assert len(timed) >= 8 and timed[0][1] == d.beat_clock.state.time_at(r.start_beat)
    # the LSTM was primed while the phrase was played
    assert d.model.fed[0] == 1  # BOS


def test_a_late_response_moves_by_whole_bars_and_plays_in_time(tb):
    # 3 ms per LSTM step. The phrase ends 0.39 s in; the generator guesses its first beat takes
    # 15 ms and picks the bar line at 0.5 s (0.39 + lead 0.085 + 0.015 < 0.5), but the beat takes
    # 39 ms (13 steps): too late for 0.5 s with the lead, so it moves one bar, to 1.0 s
    d, inp, out = make(tb, {"lead_ms": 85.0}, model=PatternModel(step_s=0.003, sleep=tb.sleep))
    d.start()
    try:
        play(tb, inp, [60, 62])
        assert tb.wait_for(lambda: d.generator.counts.responses == 1, 4)
        assert tb.wait_for(lambda: len(response_ons(out)) >= 1, 3)
    finally:
        d.stop()
    r = d.generator.last
    assert r.ready_ms == 39.0 and r.moved_bars == 1 and d.generator.counts.moved == 1
    assert r.start_beat == 4.0
    assert abs(response_ons(out)[0][0] - (d.started_ns + 2 * BAR_NS)) < tb.slack_ns  # on that bar line
    assert d.sender.counts.late_dropped == 0


def test_a_new_phrase_interrupts_the_response_and_its_notes_are_closed(tb):
    d, inp, out = make(tb, {"response_bars": 4})
    d.start()
    try:
        play(tb, inp, [60, 62, 64])
        assert tb.wait_for(lambda: len(response_ons(out)) >= 2, 4)
        first = d.generator.last
        t_new = tb.clock()
        play(tb, inp, [67])  # the player starts again (one note: too short to be answered)
        assert d.control.counts.interrupts == 1
        tb.sleep((end_of(d, first) - tb.clock()) / 1e9 + 0.1)  # past the first response's end
        assert not [t for t, _ in response_ons(out) if t > t_new]  # nothing more of it
        assert not left_sounding(out.messages())
    finally:
        d.stop()
    assert 2 <= len(response_ons(out)) < 16 and d.generator.counts.responses == 1


def test_queue_mode_answers_after_the_running_response(tb):
    d, inp, out = make(tb, {"response_bars": 2, "on_new_phrase": "queue"})
    d.start()
    try:
        play(tb, inp, [60, 62])
        assert tb.wait_for(lambda: d.generator.counts.responses == 1, 3)
        first = d.generator.last
        assert tb.wait_for(lambda: len(response_ons(out)) >= 1, 3)
        play(tb, inp, [64, 65])
        assert tb.wait_for(lambda: d.generator.counts.responses == 2, 3)
        second = d.generator.last
    finally:
        d.stop()
    assert d.control.counts.interrupts == 0
    assert second.start_beat == first.start_beat + 2 * 2  # right after it, 2 bars of 2 beats


def test_midi_looped_back_is_ignored(tb):
    inp = FakeInput(tb.clock, tb.event)
    out = FakeOutput(loop_to=inp, clock=tb.clock)  # everything livegen sends comes back (a DAW thru loop)
    d, inp, out = make(tb, {"thru": "midi", "state_cc": 85}, inp=inp, out=out)
    d.start()
    try:
        play(tb, inp, [60, 62, 64])
        assert tb.wait_for(lambda: len(response_ons(out)) == 4 and not d.sender.responding, 4)
        tb.sleep(1.2)
    finally:
        d.stop()
    assert d.control.counts.phrases == 1  # the echoed phrase and response are not phrases
    assert d.generator.counts.responses == 1
    assert d.control.counts.echoes >= 6 + 8  # 3 notes thru, 4 response notes, state CCs


def test_panic_cc_ends_everything_at_once(tb):
    d, inp, out = make(tb, {"response_bars": 4})
    d.start()
    try:
        play(tb, inp, [60, 62])
        assert tb.wait_for(lambda: len(response_ons(out)) >= 2, 4)
        t_panic = tb.clock()
        inp.put(bytes((0xB0, 24, 127)))
        assert tb.wait_for(lambda: d.control.counts.panics == 1, 2)
        tb.sleep((end_of(d, d.generator.last) - tb.clock()) / 1e9 + 0.1)  # past the response's end
        after = [(t, m) for t, m in out.messages() if t >= t_panic]
        # the panic's closing messages, at once, and nothing else after it
        assert after and all(t - t_panic < tb.slack_ns for t, _ in after)
        assert all(closing(m) for _, m in after), after
    finally:
        d.stop()
    offs = [m for _, m in out.messages() if m[0] & 0xF0 == 0xB0 and m[1] == 123]
    assert {m[0] & 0x0F for m in offs} == set(range(16))
    assert not left_sounding(out.messages())


@both
def test_stop_mid_response_closes_every_note(tb):
    long_notes = PatternModel()
    long_notes.pattern = [long_notes.pattern[0], long_notes.pattern[1], 0 + 370 - 1]  # ON, T96 (held)
    d, inp, out = make(tb, {"response_bars": 4}, model=long_notes)
    d.start()
    play(tb, inp, [60, 62])
    assert tb.wait_for(lambda: len(response_ons(out)) >= 1, 4)
    d.stop()
    assert not left_sounding(out.messages())
    assert out.messages()[-1][1] == bytes((0xB0, 123, 0))


def test_a_note_held_too_long_is_ended(tb):
    held = PatternModel()
    held.pattern = [held.pattern[0], held.pattern[1], 370 - 1]  # VEL, ON72, then time only
    d, inp, out = make(tb, {"response_bars": 4, "max_note_s": 0.2}, model=held)
    d.start()
    try:
        play(tb, inp, [60, 62])
        assert tb.wait_for(lambda: d.sender.counts.held_closed >= 1, 4)
        on = response_ons(out)[0][0]
        off = next(t for t, m in out.messages() if t > on and note_on_off(m) == ("off", 0, 72))
    finally:
        d.stop()
    # ended once held 0.2 s, at the sender's next check (ten a second) or wake (at least 20 a second)
    assert 0.2e9 - tb.slack_ns <= off - on <= 0.35e9 + tb.slack_ns


def test_loop_mutate_mute_and_temperature_by_cc(tb):
    d, inp, out = make(tb)
    d.start()
    try:
        inp.put(bytes((0xB0, 20, 127)))  # temperature 2.0
        assert tb.wait_for(lambda: d.control.controls.temperature == 2.0, 1)
        inp.put(bytes((0xB0, 20, 64)))
        play(tb, inp, [60, 62])
        assert tb.wait_for(lambda: d.generator.counts.responses == 1, 3)
        inp.put(bytes((0xB3, 22, 127)))  # loop on (any channel)
        assert tb.wait_for(lambda: d.generator.counts.responses >= 3, 3)
        assert d.generator.last.kind == "loop"
        inp.put(bytes((0xB0, 22, 0)))  # loop off
        inp.put(bytes((0xB0, 23, 127)))  # mutate: a variation on the next bar
        assert tb.wait_for(lambda: d.generator.last.kind == "variation", 2)
        inp.put(bytes((0xB0, 25, 127)))  # mute
        assert tb.wait_for(lambda: d.control.controls.mute, 1)
        play(tb, inp, [64, 65])
        assert tb.wait_for(lambda: d.generator.counts.muted == 1, 3)
    finally:
        d.stop()
    starts = [r.start_beat for r in d.responses]
    assert all(s % 2 == 0 for s in starts)
    assert starts[1] == starts[0] + 2  # the loop follows back to back
    assert not [m for _, m in out.messages() if m[0] & 0xF0 == 0xB0 and m[1] in (20, 22, 23, 25)]


def test_state_is_reported_with_a_controller(tb):
    d, inp, out = make(tb, {"state_cc": 85})
    d.start()
    try:
        play(tb, inp, [60, 62])
        assert tb.wait_for(lambda: len(response_ons(out)) == 4 and not d.sender.responding, 4)
        tb.sleep(0.1)
    finally:
        d.stop()
    states = [m[2] for _, m in out.messages() if m[:2] == bytes((0xBF, 85))]
    # idle when it starts (a DAW may still show the state of an earlier run that crashed or lost
    # its server), listening, responding, idle
    assert states == [0, 64, 127, 0]


@both
def test_the_state_controller_goes_to_idle_on_a_stop_in_the_middle_of_a_response(tb):
    d, inp, out = make(tb, {"state_cc": 85})
    d.start()
    try:
        play(tb, inp, [60, 62])
        assert tb.wait_for(lambda: len(response_ons(out)) >= 1 and d.sender.responding, 4)
    finally:
        d.stop()  # as livegen run does on SIGTERM or SIGINT, and on an error
    states = [m[2] for _, m in out.messages() if m[:2] == bytes((0xBF, 85))]
    assert states == [0, 64, 127, 0]


@both
def test_a_flood_of_input_does_not_stall_the_clock_or_phrases(tb):
    d, inp, out = make(tb, {"thru": "both"}, sink=FakeSink())
    d.start()
    try:
        t0 = tb.clock()
        for i in range(20000):  # 20000 messages at once: a flood
            inp.queue.append((t0, bytes((0xA0, 60, i % 128))))  # poly aftertouch
        inp.wake.set()
        play(tb, inp, [60, 62])
        assert tb.wait_for(lambda: not inp.queue, 5)
        handled = tb.clock() - t0
        assert tb.wait_for(lambda: d.generator.counts.responses == 1, 3)
    finally:
        d.stop()
    assert handled < 5e9
    assert d.control.counts.messages >= 20004


@both
def test_a_port_whose_peer_is_gone_does_not_stop_livegen(tb):
    d, inp, out = make(tb, out=FakeOutput(fail=True, clock=tb.clock))
    d.start()
    try:
        play(tb, inp, [60, 62])
        assert tb.wait_for(lambda: d.sender.counts.errors >= 1, 3)
        assert d.sender.is_alive() and d.control.is_alive()
    finally:
        d.stop()


def test_tempo_change_moves_what_is_still_to_come(tb):
    d, inp, out = make(tb, {"response_bars": 2})
    d.start()
    try:
        play(tb, inp, [60, 62])
        assert tb.wait_for(lambda: len(response_ons(out)) >= 1, 3)
        now = tb.clock()
        d.beat_clock.set_bpm(120.0, now)  # the test stands in for the control thread here
        assert tb.wait_for(lambda: len(response_ons(out)) >= 4, 3)
    finally:
        d.stop()
    ons = [t for t, _ in response_ons(out)]
    later = [b - a for a, b in zip(ons, ons[1:]) if a > now + tb.slack_ns]
    assert later and all(abs(gap - 250_000_000) < tb.slack_ns for gap in later)  # eighths at 120


def test_a_phrase_started_while_the_answer_is_being_generated_cancels_it(tb):
    slow = PatternModel(step_s=0.005, sleep=tb.sleep)  # ~0.4 s to generate
    d, inp, out = make(tb, {"response_bars": 2}, model=slow)
    d.start()
    try:
        play(tb, inp, [60, 62])
        assert tb.wait_for(lambda: d.control.counts.phrases == 1, 3)
        inp.put(note_on(67))  # the player goes on before the answer is ready
        assert tb.wait_for(lambda: d.generator.counts.responses + d.generator.counts.aborted == 1, 3)
        assert d.generator.counts.aborted == 1  # cut short while being sampled
        tb.sleep(0.1)
        assert not d.sender.responding
        inp.put(note_off(67))  # a phrase of one note: too short to be answered
        tb.sleep(2.0)  # past where the first answer (2 bars) would have ended
    finally:
        d.stop()
    assert d.control.counts.interrupts == 1
    assert response_ons(out) == []  # the first answer never sounded


def test_midi_start_cancels_what_was_to_come(tb):
    d, inp, out = make(tb, {"response_bars": 4})
    d.start()
    try:
        play(tb, inp, [60, 62])
        assert tb.wait_for(lambda: len(response_ons(out)) >= 1, 3)
        r, t_start = d.generator.last, tb.clock()
        inp.put(b"\xfa")  # the DAW starts its transport: a new timeline
        assert tb.wait_for(lambda: not d.sender.responding, 1)
        tb.sleep((end_of(d, r) - tb.clock()) / 1e9 + 0.1)  # past where the response would have ended
        assert not [t for t, _ in response_ons(out) if t > t_start]
    finally:
        d.stop()
    assert not left_sounding(out.messages())


class GatedModel(PatternModel):
    """A PatternModel whose steps wait while ``gate`` is closed: a generator that has fallen behind."""

    def __init__(self, tb):
        super().__init__()
        self.gate = tb.event()

    def step(self, token, state, controls=None):
        self.gate.wait()
        return super().step(token, state, controls)


def flood(inp, pairs: int, t: int) -> None:
    for i in range(2 * pairs):  # all at once, as a stuck sequencer sends them
        p = 40 + (i // 2) % 40
        inp.queue.append((t, note_on(p) if i % 2 == 0 else note_off(p)))
    inp.wake.set()


def test_a_phrase_end_is_never_dropped_when_the_generator_is_behind(tb):
    # regression (CI): the generator's queue was full of the phrase's notes when its end
    # came, the end was dropped like a note, and the phrase was never answered
    model = GatedModel(tb)
    d, inp, out = make(tb, {"max_phrase_beats": 64.0}, model=model)
    d.generator._inbox = tb.inbox(64)
    d.start()
    t = tb.clock()
    try:
        flood(inp, 100, t)
        assert tb.wait_for(lambda: d.control.counts.phrases == 1, 10)
        assert d.generator.counts.requests_dropped > 0  # notes were dropped...
        model.gate.set()
        assert tb.wait_for(lambda: d.generator.counts.responses == 1, 10)  # ...the end was not
    finally:
        model.gate.set()
        d.stop()
    # the phrase was primed whole and in order: the notes that got through, then the rest at its end
    beat = d.beat_clock.state.beat_at(t)
    enc = LiveEncoder(beat)
    for i in range(200):
        enc.feed(beat, i % 2 == 0, 40 + (i // 2) % 40, 100 if i % 2 == 0 else 0)
    enc.close_all(beat)
    enc.advance_to(d.generator.last.start_beat)
    assert d.generator._primed.prompt == enc.tokens


def test_a_flooded_phrase_is_answered_from_its_last_notes_in_time(tb):
    model = GatedModel(tb)
    d, inp, out = make(tb, {"max_phrase_beats": 64.0}, model=model)
    d.start()
    try:
        flood(inp, 3000, tb.clock())  # more than the generator's queue holds
        assert tb.wait_for(lambda: d.control.counts.phrases == 1, 20)
        model.gate.set()
        assert tb.wait_for(lambda: d.generator.counts.responses == 1, 20)
    finally:
        model.gate.set()
        d.stop()
    r = d.generator.last
    assert r.start_beat % 2 == 0
    # primed on the phrase's last notes only, not on 3000 notes one by one
    assert d.generator.counts.reprimed >= 1
    assert model.steps < 3 * MAX_CATCH_UP + r.tokens + 50


def test_all_notes_off_ends_a_phrase_a_stuck_key_kept_open(tb):
    d, inp, out = make(tb, {"max_phrase_beats": 64.0})
    d.start()
    try:
        inp.put(note_on(48))  # never released by the DAW
        play(tb, inp, [60, 62, 64])
        tb.sleep(0.5)
        assert d.control.state == "listening" and d.generator.counts.responses == 0
        inp.put(bytes((0xB0, 123, 0)))  # the DAW stops: All Notes Off
        assert tb.wait_for(lambda: d.generator.counts.responses == 1, 3)  # not after 64 beats (16 s)
    finally:
        d.stop()
    assert not left_sounding(out.messages())


def test_midi_start_discards_a_phrase_being_played(tb):
    d, inp, out = make(tb)
    d.start()
    try:
        inp.put(note_on(60))
        assert tb.wait_for(lambda: d.control.state == "listening", 1)
        inp.put(b"\xfa")  # a new timeline: the half-played phrase's beats mean nothing in it
        assert tb.wait_for(lambda: d.control.detector.discarded == 1 and d.control.state == "idle", 1)
        inp.put(note_off(60))
        tb.sleep(0.6)  # a beat of silence would end a phrase: there is none to end
        assert d.control.counts.phrases == 0 and d.control.state == "idle"
    finally:
        d.stop()


class FailingModel(PatternModel):
    """A PatternModel whose steps fail (as ONNX Runtime can) while ``failing`` is set."""

    def __init__(self):
        super().__init__()
        self.failing = False

    def step(self, token, state, controls=None):
        from livegen.engine.lstm import LstmStepError

        if self.failing:
            raise LstmStepError("tiny.onnx: ONNX Runtime failed a step: test")
        return super().step(token, state, controls)


@both
def test_a_failing_model_drops_that_phrase_only_and_the_next_is_answered(tb):
    model = FailingModel()
    d, inp, out = make(tb, model=model)
    d.start()
    try:
        model.failing = True
        play(tb, inp, [60, 62, 64, 65])
        assert tb.wait_for(lambda: d.generator.counts.failures >= 1 and d.control.counts.phrases == 1, 3)
        tb.sleep(0.3)
        assert d.generator.counts.responses == 0 and d.generator.is_alive()
        model.failing = False
        play(tb, inp, [60, 62, 64, 65])
        assert tb.wait_for(lambda: d.generator.counts.responses == 1, 3)
        assert tb.wait_for(lambda: len(response_ons(out)) == 4 and not d.sender.responding, 3)
    finally:
        d.stop()
    assert not left_sounding(out.messages())


def test_the_phrase_is_primed_with_its_controls_so_far_and_answered_as_steered_by_cc(tb):
    from livegen.core import controls as ctl
    from livegen.core import tokens as tk

    model = PatternModel()
    d, inp, out = make(tb, model=model)
    d.start()
    try:
        inp.put(bytes((0xB0, 26, 127)))  # texture switch: chords
        inp.put(bytes((0xB0, 27, 84)))  # register centre: C6
        play(tb, inp, [60, 62, 64, 65])
        assert tb.wait_for(lambda: d.generator.counts.responses == 1, 3)
        assert tb.wait_for(lambda: not d.sender.responding, 3)
    finally:
        d.stop()
    assert d.control.controls.steering == ctl.Steering(texture=3.5, centre=84.0, safety_net=False)
    p = d.generator._primed
    assert p.measured.texture == 1.0 and abs(p.measured.centre - 62.75) < 1e-9
    assert p.target == p.measured.with_(texture=3.5, centre=84.0)
    fed = list(zip(model.fed, model.controls_fed))
    first_shift = next(i for i, (t, _) in enumerate(fed) if tk.is_time_shift(t))
    np.testing.assert_array_equal(fed[0][1], ctl.UNKNOWN.vector())  # nothing known at the BOS
    assert fed[first_shift + 1][1][0] == 0.0  # then the phrase so far: one line
    answer = [c for _, c in fed[len(p.prompt) + 1:]]  # after BOS and the prompt (with the gap)
    assert answer and all(np.array_equal(c, p.target.vector()) for c in answer)


class RestFirstModel(PatternModel):
    """Wants a rest of 1/8 beat before each note (as in a run with a real MIDI clock: "first
    note at beat 12.1250"); a note-on of 72 is its second choice there."""

    def __init__(self):
        super().__init__()
        self.pattern = [tk.TIME_SHIFT + 2, tk.VELOCITY + 10, tk.NOTE_ON + 72, tk.TIME_SHIFT + 5,
                        tk.NOTE_OFF + 72]

    def step(self, token: int, state, controls=None):
        logits, nxt = super().step(token, state, controls)
        logits[tk.NOTE_ON + 72] = max(logits[tk.NOTE_ON + 72], 10.0)
        return logits, nxt


@pytest.mark.parametrize("pickup", [False, True])
def test_the_first_note_of_an_answer_falls_on_its_bar_line_unless_the_phrase_began_off_the_beat(tb, pickup):
    d, inp, out = make(tb, model=RestFirstModel())
    d.start()
    try:
        if pickup:  # the player's phrase begins half a beat after livegen's beat 0
            tb.sleep(BAR_NS / 2 / 2 / 1e9)
        play(tb, inp, [60, 62])
        assert tb.wait_for(lambda: d.generator.counts.responses == 1 and len(response_ons(out)) >= 1, 4)
    finally:
        d.stop()
    [phrase] = d.phrases
    r = d.generator.last
    t, _ = response_ons(out)[0]
    if not pickup:
        assert abs(phrase.start_beat - round(phrase.start_beat)) < 0.01
        assert r.notes[0].start == 0.0 and on_bar_line(tb, t, d), (r.start_beat, r.notes[0])
    else:  # the model's own rest is kept: the answer begins off its bar line, as the phrase did
        assert abs(phrase.start_beat - 0.5) < 0.01
        assert r.notes[0].start == 3 / tk.TICKS_PER_BEAT and not on_bar_line(tb, t, d), (r.start_beat, r.notes[0])


def test_a_full_sender_keeps_every_panic_cancel_and_note_off_and_counts_what_it_drops():
    """The sender's queues past their bounds (nothing taken yet: the thread has not started):
    adds and pass-through note-ons are dropped and counted; the panic, the cancel and every
    pass-through note-off still go out, in order."""
    from livegen.core.clock import BeatClock
    from livegen.daemon.sender import Sender

    out = FakeOutput()
    beat_clock = BeatClock(120.0, time.monotonic_ns())
    s = Sender(out, lambda: beat_clock.state)
    for i in range(1100):  # more requests than the inbox holds
        s.schedule([(1e6 + i, note_on(60))])
    s.cancel()
    s.panic()
    for i in range(2500):  # more pass-through than its queue holds: pairs, so the later note-ons are dropped
        s.now(note_on(40 + i % 40, 100, 1))
        s.now(note_off(40 + i % 40, 1))
    assert s.schedule_dropped == 1100 - 1024
    assert s.thru_dropped == 2500 - 2048  # the note-ons past the bound; no note-off
    s.start()
    try:
        assert daemon_fakes.wait_for(lambda: not s._now and not s._inbox)
        assert not s._open_thru  # every pass-through note that went out was ended
    finally:
        s.stop()
    sent = [m for _, m in out.messages()]
    thru = [m for m in sent if m[0] & 0x0F == 1 and m[0] & 0xF0 in (0x80, 0x90)]
    assert sum(m[0] & 0xF0 == 0x90 for m in thru) == 2048
    assert s.counts.cancelled == 1024  # the cancel came: what was scheduled before it is gone
    assert {m[0] & 0x0F for m in sent if m[0] & 0xF0 == 0xB0 and m[1] == 123} == set(range(16))  # the panic
