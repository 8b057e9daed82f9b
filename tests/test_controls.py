"""The phrase model's controls (texture, register, density) and the sampler's safety net."""

from __future__ import annotations

import numpy as np
import pytest

from livegen.core import controls as ctl
from livegen.core import sampling
from livegen.core import tokens as tk
from livegen.core.tokens import Note


def line(pitches, step=0.5, hold=1.0, start=0.0):
    return [Note(start + i * step, start + i * step + step * hold, p, 80) for i, p in enumerate(pitches)]


def chords(count, voicing=(48, 55, 60, 64), beat=1.0):
    return [Note(i * beat, (i + 1) * beat, p, 80) for i in range(count) for p in voicing]


def test_a_line_a_legato_line_two_voices_and_chords_measure_as_such():
    melody = line([60, 62, 64, 65, 67, 65, 64, 62] * 2)
    assert ctl.phrase_controls(melody, 8).texture == 1.0
    legato = line([60, 62, 64, 65, 67, 65, 64, 62] * 2, hold=1.1)  # each note overlaps the next a little
    assert ctl.phrase_controls(legato, 8).texture == 1.0
    two = melody + [Note(i * 1.0, i + 1.0, 48 + (i % 3), 80) for i in range(8)]
    assert 1.5 <= ctl.phrase_controls(two, 8).texture <= 2.0
    c = ctl.phrase_controls(chords(8), 8)
    assert c.texture == 4.0 and c.density == 1.0  # a chord is one onset
    assert c.centre == pytest.approx(np.mean([48, 55, 60, 64])) and c.spread == pytest.approx(np.std([48, 55, 60, 64]))
    m = ctl.phrase_controls(melody, 8)
    assert m.density == 2.0 and m.centre == pytest.approx(np.mean([n.pitch for n in melody]))
    assert ctl.phrase_controls([], 8) is None


def test_stream_controls_describe_what_follows_each_token_within_its_piece():
    a = line([72, 74, 76, 77] * 8)  # 16 beats of a line around E5
    b = chords(16)  # then a piece of chords
    stream = np.array(tk.encode_notes(a, bos=True) + tk.encode_notes(b, bos=True))
    cts = ctl.stream_controls(stream, horizon_beats=8)
    assert cts.shape == (len(stream), ctl.NUM_CONTROLS) and cts.dtype == np.float32
    second = int(np.flatnonzero(stream == tk.BOS)[1])
    np.testing.assert_allclose(cts[0], ctl.phrase_controls(a[:16], 8).vector(), atol=1e-6)  # the first 8 beats
    np.testing.assert_allclose(cts[second], ctl.phrase_controls(b[:32], 8).vector(), atol=1e-6)
    # the line's last tokens do not see the chords of the next piece
    assert np.all(cts[:second, 0] == 0.0)  # texture 1 everywhere in the line
    assert np.all(cts[second:, 0] == pytest.approx((4.0 - 1.0) / 2.0))
    # after its last note a piece keeps the texture and register of what came before, density 0
    assert cts[second - 1, 3] == pytest.approx(np.log2(1 / 16) / 2)


def test_a_transposed_window_moves_only_the_centre():
    v = ctl.PhraseControls(2.0, 60.0, 4.0, 1.0).vector()
    moved = ctl.transposed(v[None], 5)[0]
    np.testing.assert_allclose(moved, ctl.PhraseControls(2.0, 65.0, 4.0, 1.0).vector(), atol=1e-6)


def test_running_controls_measure_the_phrase_so_far_at_each_time_shift():
    toks = tk.encode_notes(line([60, 64, 67, 72]), bos=True)
    run = ctl.RunningControls()
    vecs = [run.feed(t) for t in toks]
    np.testing.assert_array_equal(vecs[0], ctl.UNKNOWN.vector())  # nothing known at the BOS
    last_shift = max(i for i, t in enumerate(toks) if tk.is_time_shift(t))
    np.testing.assert_allclose(vecs[last_shift], ctl.measure(toks[:last_shift]).vector())


def test_steering_overrides_what_is_set_and_follows_the_rest():
    measured = ctl.PhraseControls(1.0, 81.0, 3.0, 2.0)
    got = ctl.Steering(texture=3.5, density=0.5).target(measured)
    assert got == ctl.PhraseControls(3.5, 81.0, 3.0, 0.5)
    assert ctl.FOLLOW.target(measured) == measured and ctl.FOLLOW.target(None) == ctl.UNKNOWN


@pytest.mark.parametrize("value, want", [(0, 0.0), (1, 1.0), (42, 1.0), (43, 2.0), (85, 2.0), (86, 3.5), (127, 3.5)])
def test_the_texture_switch(value, want):
    assert ctl.cc_texture(value) == want


def test_the_register_and_density_knobs():
    assert ctl.cc_register(0) == 0.0 and ctl.cc_register(69) == 69.0
    assert ctl.cc_density(0) == 0.0
    assert ctl.cc_density(1) == pytest.approx(0.25) and ctl.cc_density(127) == pytest.approx(8.0)
    assert all(ctl.cc_density(v) < ctl.cc_density(v + 1) for v in range(1, 127))


def test_polyphony_cap_and_register_window():
    assert [ctl.polyphony_cap(t) for t in (1.0, 1.29, 1.3, 2.0, 3.5, 4.0)] == [1, 1, 2, 2, 4, 4]
    assert ctl.register_window(ctl.PhraseControls(1.0, 69.0, 2.0, 1.0)) == (62, 76)  # a fifth either side
    assert ctl.register_window(ctl.PhraseControls(3.0, 60.0, 8.0, 1.0)) == (42, 78)
    assert ctl.register_window(ctl.PhraseControls(1.0, 125.0, 2.0, 1.0)) == (118, 127)


class Chorale:
    """A fake model that wants a four-note chord on every beat, anywhere on the keyboard."""

    def step(self, token, state):
        state = (state or 0) + 1
        logits = np.full(tk.VOCAB_SIZE, -5.0)
        logits[tk.NOTE_ON + 30:tk.NOTE_ON + 100] = 2.0
        logits[tk.NOTE_OFF:tk.VELOCITY] = 0.5
        logits[tk.TIME_SHIFT + 5] = 1.0
        return logits, state


def test_the_safety_net_keeps_a_chordal_model_to_one_line_in_register():
    target = ctl.PhraseControls(1.0, 76.0, 2.5, 2.0)
    limits = sampling.Limits.of(target)
    assert (limits.max_sounding, limits.low, limits.high) == (1, 69, 83)
    model = Chorale()
    for seed in range(5):
        toks, _ = sampling.generate(model.step, None, model.step(tk.BOS, None)[0], ticks=8 * tk.TICKS_PER_BEAT,
                                    rng=np.random.default_rng(seed), limits=limits)
        notes = tk.decode_tokens(toks)
        assert notes and all(69 <= n.pitch <= 83 for n in notes)
        assert all(sum(m.start <= n.start < m.end for m in notes) == 1 for n in notes)
        free, _ = sampling.generate(model.step, None, model.step(tk.BOS, None)[0], ticks=8 * tk.TICKS_PER_BEAT,
                                    rng=np.random.default_rng(seed))
        free_notes = tk.decode_tokens(free)
        assert max(sum(m.start <= n.start < m.end for m in free_notes) for n in free_notes) > 1  # without it


class Stacker:
    """A fake model that starts a new note on every eighth and never ends one."""

    def step(self, token, state):
        state = (state or 0) + 1
        logits = np.full(tk.VOCAB_SIZE, -9.0)
        if tk.is_time_shift(token) or token == tk.BOS:
            logits[tk.NOTE_ON + 70 + state % 5] = 5.0
        else:
            logits[tk.TIME_SHIFT + 11] = 5.0
        return logits, state


def test_a_note_beyond_the_texture_ends_the_oldest_one_so_a_stacking_model_plays_a_line():
    model = Stacker()
    limits = sampling.Limits(max_sounding=1, low=60, high=90)
    toks, _ = sampling.generate(model.step, None, model.step(tk.BOS, None)[0], ticks=4 * tk.TICKS_PER_BEAT,
                                rng=np.random.default_rng(0), limits=limits)
    notes = tk.decode_tokens(toks)
    assert len(notes) == 8  # one every eighth, each ended by the next
    assert all(a.end == b.start for a, b in zip(notes, notes[1:]))
    free, _ = sampling.generate(model.step, None, model.step(tk.BOS, None)[0], ticks=4 * tk.TICKS_PER_BEAT,
                                rng=np.random.default_rng(0))
    assert max(sum(m.start <= n.start < m.end for m in tk.decode_tokens(free)) for n in tk.decode_tokens(free)) > 2


class Busy:
    """A fake model that starts a note on every tick it can."""

    def step(self, token, state):
        state = (state or 0) + 1
        logits = np.full(tk.VOCAB_SIZE, -9.0)
        if tk.is_note_on(token):
            logits[tk.NOTE_OFF + token - tk.NOTE_ON] = 5.0
        elif tk.is_note_off(token):
            logits[tk.TIME_SHIFT + 2] = 5.0
        else:
            logits[tk.NOTE_ON + 64 + state % 3] = 5.0
        return logits, state


def test_the_safety_net_keeps_a_busy_model_near_the_target_density():
    target = ctl.PhraseControls(1.0, 65.0, 2.0, 1.0)  # one onset per beat
    limits = sampling.Limits.of(target)
    assert limits.max_density == pytest.approx(1.3)
    model = Busy()
    toks, _ = sampling.generate(model.step, None, model.step(tk.BOS, None)[0], ticks=8 * tk.TICKS_PER_BEAT,
                                rng=np.random.default_rng(0), limits=limits)
    got = ctl.phrase_controls(tk.decode_tokens(toks), 8)
    assert 0.9 <= got.density <= 1.3 * 9 / 8
    free, _ = sampling.generate(model.step, None, model.step(tk.BOS, None)[0], ticks=8 * tk.TICKS_PER_BEAT,
                                rng=np.random.default_rng(0))
    assert ctl.phrase_controls(tk.decode_tokens(free), 8).density > 4
