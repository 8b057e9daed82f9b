"""The phrase model's vocabulary: round trips, what is dropped and counted, robustness."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from livegen.core import tokens as tk
from livegen.core.tokens import Note, NoteMessage

T = tk.TICKS_PER_BEAT


def test_vocabulary_layout_is_contiguous_and_complete():
    assert tk.VOCAB_SIZE == 2 + 128 + 128 + 16 + 96
    names = {tk.token_name(i) for i in range(tk.VOCAB_SIZE)}
    assert len(names) == tk.VOCAB_SIZE
    assert not any(n.startswith("?") for n in names)
    assert tk.token_name(tk.VOCAB_SIZE) == f"?{tk.VOCAB_SIZE}"


def test_velocity_bins_are_monotone_and_idempotent():
    bins = [tk.velocity_bin(v) for v in range(1, 128)]
    assert bins[0] == 0 and bins[-1] == tk.NUM_VELOCITY_BINS - 1
    assert all(a <= b for a, b in zip(bins, bins[1:]))
    assert set(bins) == set(range(tk.NUM_VELOCITY_BINS))
    for v in range(1, 128):
        q = tk.quantize_velocity(v)
        assert tk.velocity_bin(q) == tk.velocity_bin(v)
        assert tk.quantize_velocity(q) == q


@st.composite
def grid_notes(draw):
    """Notes on the 1/24-beat grid with no two notes of one pitch overlapping."""
    notes = []
    for pitch in draw(st.lists(st.integers(0, 127), min_size=1, max_size=6, unique=True)):
        t = draw(st.integers(0, 200))
        for _ in range(draw(st.integers(1, 5))):
            dur = draw(st.integers(1, 300))
            notes.append(Note(t / T, (t + dur) / T, pitch, draw(st.integers(1, 127))))
            t += dur + draw(st.integers(0, 250))
    return sorted(notes, key=lambda n: (n.start, n.pitch, n.end))


@settings(max_examples=150, deadline=None)
@given(grid_notes())
def test_round_trip_on_the_grid_keeps_notes_times_and_binned_velocities(notes):
    stats = tk.TokenStats()
    toks = tk.encode_notes(notes, bos=True, stats=stats)
    assert toks[0] == tk.BOS
    assert all(0 < t < tk.VOCAB_SIZE for t in toks)
    back = tk.decode_tokens(toks)
    want = [Note(n.start, n.end, n.pitch, tk.quantize_velocity(n.velocity)) for n in notes]
    assert [(round(n.start * T), round(n.end * T), n.pitch, n.velocity) for n in back] == \
           [(round(n.start * T), round(n.end * T), n.pitch, n.velocity) for n in want]
    assert stats.notes_in == len(notes) and stats.dropped() == 0 and stats.notes_retriggered == 0


def test_32nd_notes_and_triplets_are_on_the_grid():
    triplet = [Note(i / 3, (i + 1) / 3, 60 + i, 80) for i in range(3)]
    thirty_seconds = [Note(1 + i / 8, 1 + (i + 1) / 8, 70, 80) for i in range(8)]
    notes = triplet + thirty_seconds
    back = tk.decode_tokens(tk.encode_notes(notes))
    got = [(round(n.start * T, 9), round(n.end * T, 9), n.pitch) for n in back]
    assert got == [(round(n.start * T), round(n.end * T), n.pitch) for n in notes]
    assert got[:3] == [(0, 8, 60), (8, 16, 61), (16, 24, 62)]  # triplet eighths are 8 ticks


def test_long_gaps_become_several_time_shifts_and_keep_their_length():
    notes = [Note(0, 1, 60, 80), Note(30.5, 31, 62, 80)]
    toks = tk.encode_notes(notes)
    assert sum(tk.is_time_shift(t) for t in toks) >= 8  # 30.5 beats = 732 ticks, at most 96 per token
    assert tk.tokens_duration_ticks(toks) == 31 * T
    assert tk.decode_tokens(toks)[1].start == 30.5


def test_origin_offsets_encoding_and_decoding():
    notes = [Note(10.0, 10.5, 64, 90)]
    toks = tk.encode_notes(notes, origin=8.0)
    assert tk.tokens_duration_ticks(toks) == round(2.5 * T)
    assert tk.decode_tokens(toks, origin=8.0)[0].start == 10.0


def test_off_grid_times_are_rounded_to_the_nearest_tick():
    back = tk.decode_tokens(tk.encode_notes([Note(0.01, 0.49, 60, 80)]))
    assert (back[0].start, back[0].end) == (0.0, 12 / T)


def test_notes_shorter_than_a_tick_are_lengthened_and_counted():
    stats = tk.TokenStats()
    back = tk.decode_tokens(tk.encode_notes([Note(1.0, 1.001, 60, 80), Note(2.0, 2.0, 61, 80)], stats=stats))
    assert [(n.start, n.end) for n in back] == [(1.0, 1 + 1 / T), (2.0, 2 + 1 / T)]
    assert stats.notes_lengthened == 2


def test_overlapping_notes_of_one_pitch_retrigger_and_are_counted():
    stats = tk.TokenStats()
    notes = [Note(0, 2, 60, 80), Note(1, 3, 60, 80)]
    back = tk.decode_tokens(tk.encode_notes(notes, stats=stats))
    assert [(n.start, n.end) for n in back] == [(0, 1), (1, 3)]
    assert stats.notes_retriggered == 1


def test_unison_doubling_is_one_note_held_to_the_later_end():
    stats = tk.TokenStats()
    back = tk.decode_tokens(tk.encode_notes([Note(0, 1, 67, 80), Note(0, 2, 67, 80)], stats=stats))
    assert [(n.start, n.end) for n in back] == [(0, 2)]
    assert stats.notes_merged == 1


def test_out_of_range_notes_are_dropped_and_counted():
    stats = tk.TokenStats()
    toks = tk.encode_notes([Note(0, 1, 128, 80), Note(0, 1, 60, 0), Note(-1, 1, 60, 80), Note(0, 1, 61, 80)],
                           stats=stats)
    assert stats.out_of_range == 3
    assert [n.pitch for n in tk.decode_tokens(toks)] == [61]


def test_velocity_tokens_only_when_the_bin_changes():
    toks = tk.encode_notes([Note(i, i + 1, 60, 100) for i in range(4)] + [Note(4, 5, 60, 20)])
    assert sum(tk.VELOCITY <= t < tk.TIME_SHIFT for t in toks) == 2


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-5, tk.VOCAB_SIZE + 5), max_size=300))
def test_decoding_any_token_sequence_never_crashes_and_closes_every_note(toks):
    stats = tk.TokenStats()
    notes = tk.decode_tokens(toks, stats=stats)
    assert all(n.end > n.start and 0 <= n.pitch < 128 and 1 <= n.velocity <= 127 for n in notes)
    bad = sum(1 for t in toks if not 0 < t < tk.VOCAB_SIZE)
    assert stats.invalid_tokens == bad
    # what comes back encodes again without loss
    again = tk.decode_tokens(tk.encode_notes(notes))
    assert len(again) <= len(notes)


def test_messages_pair_note_ons_with_offs_and_count_the_rest():
    stats = tk.TokenStats()
    msgs = [
        NoteMessage(0.0, True, 60, 100),
        NoteMessage(0.5, True, 60, 0),  # velocity-0 note-on ends the note
        NoteMessage(0.5, False, 61),  # nothing sounding: orphan
        NoteMessage(1.0, True, 62, 90),
        NoteMessage(1.5, True, 62, 70),  # retrigger
        NoteMessage(2.0, False, 62),
        NoteMessage(2.0, True, 64, 80, channel=1),
        NoteMessage(2.5, True, 64, 80, channel=2),  # another channel: its own note
        NoteMessage(3.0, False, 64, channel=1),
        NoteMessage(3.0, True, 200, 80),  # out of range
    ]
    notes = tk.notes_from_messages(msgs, stats, end_time=4.0)
    assert [(n.start, n.end, n.pitch, n.velocity) for n in notes] == [
        (0.0, 0.5, 60, 100), (1.0, 1.5, 62, 90), (1.5, 2.0, 62, 70), (2.0, 3.0, 64, 80), (2.5, 4.0, 64, 80)]
    assert (stats.orphan_note_offs, stats.notes_retriggered, stats.notes_unterminated, stats.out_of_range) == (1, 1, 1, 1)


def test_transpose_tokens_moves_notes_only_and_refuses_to_leave_the_range():
    toks = np.array(tk.encode_notes([Note(0, 1, 60, 80), Note(1, 2, 120, 80)], bos=True))
    up = tk.transpose_tokens(toks, 5)
    assert [n.pitch for n in tk.decode_tokens(up)] == [65, 125]
    assert tk.tokens_duration_ticks(up) == tk.tokens_duration_ticks(toks)
    assert tk.transpose_tokens(toks, 8) is None
    assert tk.transpose_tokens(toks, -61) is None


def test_a_unison_doubling_in_messages_is_one_note_ended_by_the_first_note_off():
    stats = tk.TokenStats()
    msgs = [NoteMessage(0.0, True, 65, 80), NoteMessage(0.0, True, 65, 90),
            NoteMessage(1.0, False, 65), NoteMessage(2.0, False, 65)]
    notes = tk.notes_from_messages(msgs, stats)
    assert [(n.start, n.end, n.velocity) for n in notes] == [(0.0, 1.0, 80)]
    assert (stats.notes_merged, stats.orphan_note_offs, stats.notes_retriggered) == (1, 0, 0)
