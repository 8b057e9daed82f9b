"""The daemon's pure logic: bar lines, the send schedule, loop echoes, live tokens, CC values."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livegen.core import tokens as tk
from livegen.daemon.prompt import LiveEncoder
from livegen.daemon.schedule import (EchoFilter, Schedule, cc_length_bars, cc_temperature, move_late,
                                     response_bars, response_start)


# -- bars -------------------------------------------------------------------------------

@pytest.mark.parametrize("ready, bpb, after, want", [
    (0.0, 4, float("-inf"), 0.0),
    (0.1, 4, float("-inf"), 4.0),
    (3.99, 4, float("-inf"), 4.0),
    (4.0, 4, float("-inf"), 4.0),
    (4.0 + 1e-12, 4, float("-inf"), 4.0),  # a hair past a bar line counts as that bar
    (5.0, 3, float("-inf"), 6.0),
    (1.0, 4, 9.0, 12.0),  # queued behind a response that ends at beat 9
    (13.0, 4, 8.0, 16.0),
])
def test_response_starts_on_the_next_bar_line(ready, bpb, after, want):
    assert response_start(ready, bpb, after) == want


@pytest.mark.parametrize("start, ready, want", [
    (8.0, 7.5, (8.0, 0)), (8.0, 8.0, (8.0, 0)), (8.0, 8.01, (12.0, 1)), (8.0, 12.0, (12.0, 1)),
    (8.0, 12.5, (16.0, 2)),
])
def test_a_late_response_moves_by_whole_bars(start, ready, want):
    assert move_late(start, ready, 4) == want


@pytest.mark.parametrize("phrase_beats, configured, want", [
    (3.0, 0, 1), (4.0, 0, 1), (4.5, 0, 2), (0.1, 0, 1), (100.0, 0, 8), (3.0, 2, 2), (30.0, 3, 3)])
def test_response_length_follows_the_phrase_or_the_config(phrase_beats, configured, want):
    assert response_bars(phrase_beats, 4, configured, max_bars=8) == want


# -- the send schedule -------------------------------------------------------------------

def test_schedule_orders_by_beat_with_note_offs_first_and_cancels_by_tag():
    s = Schedule()
    s.add(2.0, b"\x90\x40\x40", "response")
    s.add(1.0, b"\x90\x3c\x40", "response")
    s.add(2.0, b"\x80\x3c\x00", "response")
    s.add(1.5, b"\xb0\x01\x02", "other")
    s.add(2.0, b"\x90\x3c\x00", "response")  # velocity 0: an off
    assert s.last_beat("response") == 2.0
    order = []
    while len(s):
        order.append(s.pop()[:2])
    assert order == [(1.0, b"\x90\x3c\x40"), (1.5, b"\xb0\x01\x02"), (2.0, b"\x80\x3c\x00"),
                     (2.0, b"\x90\x3c\x00"), (2.0, b"\x90\x40\x40")]
    s.add(1.0, b"\x90\x3c\x40", "response")
    s.add(1.0, b"\xb0\x01\x02", "other")
    assert s.cancel("response") == 1 and len(s) == 1 and s.last_beat("response") is None
    assert s.cancel(None) == 1 and len(s) == 0


# -- loop echoes ---------------------------------------------------------------------------

def test_echo_filter_drops_what_came_back_and_keeps_the_players_notes():
    f = EchoFilter(window_ns=50_000_000)
    on, off = b"\x90\x3c\x64", b"\x80\x3c\x00"
    f.sent.append((1_000_000_000, on))
    f.sent.append((1_000_000_000, off))
    assert f.is_echo(on, 1_010_000_000)  # came back 10 ms later
    assert not f.is_echo(on, 1_011_000_000)  # a second one: the player (one echo per sent message)
    assert not f.is_echo(b"\x90\x3d\x64", 1_012_000_000)  # another note
    assert not f.is_echo(off, 1_200_000_000)  # too late to be the echo
    assert f.echoes == 1


def test_echo_filter_off_and_with_many_messages():
    assert not EchoFilter(0).is_echo(b"\x90\x3c\x64", 0)
    f = EchoFilter(window_ns=10**9, maxlen=100000)
    for i in range(10000):
        f.sent.append((i, bytes((0x90, i % 128, 1))))
    assert sum(f.is_echo(bytes((0x90, i % 128, 1)), 20000) for i in range(10000)) == 10000
    assert not f.is_echo(b"\x90\x00\x01", 20000)


# -- live tokens: streaming equals offline -------------------------------------------------

@st.composite
def phrases(draw):
    """Notes on the tick grid: chords, overlaps, repeated pitches, notes shorter than a tick."""
    n = draw(st.integers(1, 14))
    notes = []
    t = 0
    for _ in range(n):
        t += draw(st.sampled_from([0, 0, 1, 3, 6, 12, 24, 100]))
        length = draw(st.sampled_from([0, 1, 2, 6, 12, 24, 50]))
        pitch = draw(st.integers(55, 66))  # a narrow range: repeated pitches happen
        notes.append(tk.Note(t / 24, (t + length) / 24, pitch, draw(st.integers(1, 127))))
    return notes


def live_tokens(notes, origin):
    """Feed the notes' messages as a player sends them: in time order; within a tick the keys
    released first, then the keys pressed (a chord in any order: reversed here), then the
    releases of notes pressed in that same tick."""
    events = [(n.start, 1, -i, True, n) for i, n in enumerate(notes)]
    events += [(n.end, 0 if round(n.end * 24) > round(n.start * 24) else 2, -i, False, n)
               for i, n in enumerate(notes)]
    enc = LiveEncoder(origin)
    out = []
    for time, _, _, on, n in sorted(events, key=lambda e: (round(e[0] * 24), e[1], e[2])):
        out += enc.feed(time, on, n.pitch, n.velocity if on else 0)
    out += enc.close_all(max(n.end for n in notes))
    return enc, out


@settings(max_examples=300, deadline=None)
@given(phrases(), st.floats(-10, 10).map(lambda x: round(x * 24) / 24))
def test_live_encoder_gives_the_tokens_of_the_whole_phrase(notes, origin):
    """Streaming equals offline, chords, overlaps and notes shorter than a tick included."""
    notes = [tk.Note(n.start + origin, n.end + origin, n.pitch, n.velocity) for n in notes]
    start = min(n.start for n in notes)
    enc, live = live_tokens(notes, start)
    assert live == tk.encode_notes(notes, origin=start)
    assert enc.tokens == live


def test_live_encoder_holds_a_tick_back_and_closes_held_keys():
    enc = LiveEncoder(10.0)
    assert enc.feed(10.0, True, 64, 100) == []  # held back until time moves on (a chord may follow)
    assert enc.feed(10.0, True, 60, 100) == []
    assert enc.feed(10.0, False, 60, 0) == []  # shorter than a tick: ends one tick later
    assert enc.feed(10.5, True, 67, 100) == [tk.VELOCITY + tk.velocity_bin(100), tk.NOTE_ON + 60,
                                             tk.NOTE_ON + 64, tk.TIME_SHIFT, tk.NOTE_OFF + 60]
    assert enc.feed(10.5, False, 99, 0) == []  # an off of nothing
    assert enc.close_all(11.0) == [tk.TIME_SHIFT + 10, tk.NOTE_ON + 67, tk.TIME_SHIFT + 11,
                                   tk.NOTE_OFF + 64, tk.NOTE_OFF + 67]
    assert enc.advance_to(16.0) == tk.time_shift_tokens(5 * 24)
    assert enc.advance_to(15.0) == []  # never back in time


# -- control values ------------------------------------------------------------------------

def test_cc_values_map_to_their_ranges():
    assert cc_temperature(0) == 0.1 and cc_temperature(127) == 2.0
    assert cc_length_bars(0) == 0 and cc_length_bars(127) == 8 and cc_length_bars(64) == 4
