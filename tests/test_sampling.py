"""Sampling: temperature, top-p, seeds, the key constraint, the anti-copy guard, timing."""

from __future__ import annotations

import numpy as np
import pytest

from livegen.core import controls as ctl
from livegen.core import sampling
from livegen.core import tokens as tk
from livegen.core.tokens import Note


def test_same_seed_same_tokens_and_top_p_keeps_the_nucleus():
    logits = np.random.default_rng(0).normal(size=tk.VOCAB_SIZE) * 3
    a = [sampling.sample_token(logits, np.random.default_rng(7), 1.0, 0.9) for _ in range(3)]
    b = [sampling.sample_token(logits, np.random.default_rng(7), 1.0, 0.9) for _ in range(3)]
    assert a == b
    p = np.exp(logits - logits.max())
    p /= p.sum()
    order = np.argsort(-p)
    nucleus = set(order[:np.searchsorted(np.cumsum(p[order]), 0.5) + 1].tolist())
    rng = np.random.default_rng(1)
    drawn = {sampling.sample_token(logits, rng, 1.0, 0.5) for _ in range(300)}
    assert drawn <= nucleus and len(drawn) > 1
    # a tiny top-p is greedy
    assert {sampling.sample_token(logits, rng, 1.0, 1e-9) for _ in range(20)} == {int(np.argmax(logits))}


def test_temperature_sharpens_and_flattens():
    logits = np.zeros(tk.VOCAB_SIZE)
    logits[tk.NOTE_ON + 60] = 3.0
    rng = np.random.default_rng(0)
    share = lambda temp: np.mean([sampling.sample_token(logits, rng, temp) == tk.NOTE_ON + 60 for _ in range(2000)])
    assert share(0.25) > 0.9 > share(1.0) > share(4.0)


def test_banned_tokens_pad_and_bos_are_never_drawn_unless_nothing_else_is_left():
    logits = np.full(tk.VOCAB_SIZE, -50.0)
    logits[[tk.PAD, tk.BOS, 10, 11]] = 10.0
    rng = np.random.default_rng(0)
    assert {sampling.sample_token(logits, rng, banned=[10]) for _ in range(50)} == {11}
    everything = range(tk.VOCAB_SIZE)
    assert sampling.sample_token(logits, rng, banned=everything) in (10, 11)


def test_options_are_checked_and_name_the_allowed_range():
    from livegen.errors import ConfigError  # the CLI's one message and exit status 2

    with pytest.raises(ConfigError, match="top_p must be in range"):
        sampling.SamplingOptions(top_p=0)
    with pytest.raises(ConfigError, match="temperature must be > 0"):
        sampling.SamplingOptions(temperature=0)
    with pytest.raises(ConfigError, match="no_copy"):
        sampling.SamplingOptions(no_copy=1)


def scale(tonic: int, steps, start=60):
    return [Note(i * 0.5, i * 0.5 + 0.5, start + tonic + s, 80) for i, s in enumerate(steps)]


def test_estimate_key_finds_major_and_minor():
    major = sampling.estimate_key(scale(2, [0, 2, 4, 5, 7, 9, 11, 12, 7, 4, 0, 0]))  # D major
    assert (major.tonic, major.minor) == (2, False)
    minor = sampling.estimate_key(scale(9, [0, 2, 3, 5, 7, 8, 11, 12, 7, 3, 0, 0], start=48))  # A harmonic minor
    assert (minor.tonic, minor.minor) == (9, True)
    assert str(minor) == "A minor" and 8 in minor.pitch_classes  # G# is the leading tone
    assert sampling.estimate_key([]) is None


class Copier:
    """A fake model that wants to replay the prompt: after token t at prompt
    position i it puts its mass on prompt[i + 1]."""

    def __init__(self, prompt):
        self.prompt = list(prompt)

    def step(self, token, pos, controls=None):
        pos = 0 if pos is None else pos + 1
        logits = np.full(tk.VOCAB_SIZE, -20.0)
        logits[self.prompt[(pos + 1) % len(self.prompt)]] = 0.0
        logits[tk.TIME_SHIFT + 11] = -3.0  # a second choice, so a ban leaves something
        logits[tk.NOTE_ON + 61] = -3.0
        return logits, pos


def motif_prompt():
    notes = [Note(i * 0.5, i * 0.5 + 0.5, p, 80) for i, p in enumerate([60, 62, 64, 65, 67, 65, 64, 62] * 2)]
    toks = tk.encode_notes(notes, bos=True)
    return notes, toks


def test_without_the_guard_a_copier_copies_and_with_it_no_8_token_run_is_copied():
    def copies_prompt(prompt, continuation, run):
        grams = {tuple(prompt[i:i + run]) for i in range(len(prompt) - run + 1)}
        return any(tuple(continuation[i:i + run]) in grams for i in range(len(continuation) - run + 1))

    _, prompt = motif_prompt()
    for guard, expect in ((0, True), (8, False)):
        model = Copier(prompt)
        opts = sampling.SamplingOptions(temperature=1.0, top_p=1.0, key_penalty=0, no_copy=guard)
        toks = sampling.continue_phrase(model.step, None, prompt, beats=8, rng=np.random.default_rng(0), options=opts)
        assert copies_prompt(prompt, toks, 8) is expect
        assert tk.tokens_duration_ticks(toks) == 8 * tk.TICKS_PER_BEAT


def test_an_infinite_key_penalty_keeps_every_note_in_key():
    notes, prompt = motif_prompt()
    key = sampling.estimate_key(notes)
    rng = np.random.default_rng(3)

    def random_model(token, state, controls=None):
        logits = rng.normal(size=tk.VOCAB_SIZE)
        logits[tk.NOTE_ON:tk.NOTE_OFF] += 2.0  # mostly note-ons, of any pitch
        return logits, state

    opts = sampling.SamplingOptions(key_penalty=np.inf, no_copy=0)
    toks = sampling.continue_phrase(random_model, None, prompt, beats=32, rng=np.random.default_rng(0),
                                    options=opts, key=key, steering=ctl.FOLLOW.with_(safety_net=False))
    pitches = [t - tk.NOTE_ON for t in toks if tk.is_note_on(t)]
    assert len(pitches) > 20
    assert all(p % 12 in key.pitch_classes for p in pitches)
    free = sampling.continue_phrase(random_model, None, prompt, beats=32, rng=np.random.default_rng(0),
                                    options=sampling.SamplingOptions(key_penalty=0, no_copy=0), key=key,
                                    steering=ctl.FOLLOW.with_(safety_net=False))
    assert any((t - tk.NOTE_ON) % 12 not in key.pitch_classes for t in free if tk.is_note_on(t))


def test_generation_stops_exactly_at_the_requested_time_or_the_token_budget():
    def shifts(token, state, controls=None):
        logits = np.full(tk.VOCAB_SIZE, -30.0)
        logits[tk.TIME_SHIFT + 95] = 0.0  # always 4 beats
        return logits, state

    toks = sampling.continue_phrase(shifts, None, [tk.BOS], beats=6, rng=np.random.default_rng(0))
    assert tk.tokens_duration_ticks(toks) == 6 * tk.TICKS_PER_BEAT

    def never_moves(token, state, controls=None):
        logits = np.full(tk.VOCAB_SIZE, -30.0)
        logits[tk.NOTE_ON + 60] = 0.0
        return logits, state

    opts = sampling.SamplingOptions(max_tokens_per_beat=10, no_copy=0, key_penalty=0)
    toks = sampling.continue_phrase(never_moves, None, [tk.BOS], beats=4, rng=np.random.default_rng(0), options=opts,
                                    steering=ctl.FOLLOW.with_(safety_net=False))
    assert len(toks) == 40


def test_draws_follow_the_tempered_and_truncated_distribution():
    logits = np.full(tk.VOCAB_SIZE, -np.inf)
    support = [tk.NOTE_ON + 60, tk.NOTE_ON + 62, tk.NOTE_ON + 64, tk.TIME_SHIFT + 11]
    logits[support] = np.log([0.4, 0.3, 0.2, 0.1])
    rng = np.random.default_rng(5)
    n = 40000
    for temperature, top_p, want in ((1.0, 1.0, [0.4, 0.3, 0.2, 0.1]),
                                     (1.0, 0.65, [0.4 / 0.7, 0.3 / 0.7, 0, 0]),
                                     (0.5, 1.0, np.array([16, 9, 4, 1]) / 30)):
        draws = np.array([sampling.sample_token(logits, rng, temperature, top_p) for _ in range(n)])
        got = [np.mean(draws == t) for t in support]
        np.testing.assert_allclose(got, want, atol=0.01)


def test_the_first_note_comes_before_any_rest_when_asked_and_a_model_insisting_on_rests_gets_them():
    def rests_first(token, state, controls=None):  # a rest, then notes: what a bar line must not get
        logits = np.full(tk.VOCAB_SIZE, -30.0)
        logits[tk.TIME_SHIFT + 2] = 5.0
        logits[tk.NOTE_ON + 60] = 0.0
        return logits, state

    def only_rests(token, state, controls=None):
        logits = np.full(tk.VOCAB_SIZE, -np.inf)
        logits[tk.TIME_SHIFT + 2] = 0.0
        logits[tk.NOTE_OFF + 60] = -5.0  # a model that will not play a note
        return logits, state

    opts = sampling.SamplingOptions(no_copy=0, key_penalty=0)
    for seed in range(5):
        toks = sampling.generate(rests_first, None, np.asarray(rests_first(0, None)[0]), ticks=48,
                                 rng=np.random.default_rng(seed), options=opts)[0]
        assert tk.is_time_shift(toks[0])  # free: the model's rest comes first
        on = sampling.SamplingOptions(no_copy=0, key_penalty=0, first_note_at_start=True)
        toks = sampling.generate(rests_first, None, np.asarray(rests_first(0, None)[0]), ticks=48,
                                 rng=np.random.default_rng(seed), options=on)[0]
        first = next(i for i, t in enumerate(toks) if tk.is_note_on(t))
        assert not any(tk.is_time_shift(t) for t in toks[:first])  # the first note at tick 0
        toks = sampling.generate(only_rests, None, np.asarray(only_rests(0, None)[0]), ticks=48,
                                 rng=np.random.default_rng(seed), options=on)[0]
        assert tk.tokens_duration_ticks(toks) == 48  # it still moves on (after FIRST_NOTE_TRIES tokens)
        assert sum(1 for t in toks if not tk.is_time_shift(t)) == sampling.FIRST_NOTE_TRIES
