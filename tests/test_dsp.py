"""livegen.core.dsp and livegen.core.pitch: mu-law, the excitation oscillator, features, YIN, log-mel."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livegen.core import dsp
from livegen.core.pitch import cents, in_tune, note_pitch

SR = dsp.SAMPLE_RATE


def test_mu_law_round_trip_is_within_one_step():
    x = np.linspace(-1, 1, 10001)
    q = dsp.mu_law_encode(x)
    assert q.dtype == np.uint8 and q.min() == 0 and q.max() == 255
    y = dsp.mu_law_decode(q)
    # the quantisation step of mu-law at x is about (1 + 255|x|) * ln(256) / 255 / 127.5
    step = (1 + 255 * np.abs(x)) * math.log(256) / 255 / 127.5
    assert np.all(np.abs(y - x) <= step * 0.51 + 1e-6)


def test_mu_law_is_monotonic_and_silence_is_near_zero():
    q = dsp.mu_law_encode(np.linspace(-1, 1, 2001))
    assert np.all(np.diff(q.astype(int)) >= 0)
    assert abs(dsp.mu_law_decode(dsp.mu_law_encode(np.zeros(1)))[0]) < 1e-3


@settings(max_examples=30, deadline=None)
@given(f0=st.floats(30.0, 2000.0), splits=st.lists(st.integers(1, 300), min_size=1, max_size=6),
       phase0=st.floats(0.0, 6.28))
def test_excitation_blocks_equal_one_long_block(f0, splits, phase0):
    a = dsp.Excitation(f0, 3, phase0)
    parts = np.concatenate([a.block(n) for n in splits])
    b = dsp.Excitation(f0, 3, phase0).block(sum(splits))
    np.testing.assert_allclose(parts, b, atol=2e-5)


def test_excitation_is_sin_and_cos_of_harmonics_at_f0():
    e = dsp.Excitation(220.0, 2).block(400)
    t = np.arange(400) / SR
    np.testing.assert_allclose(e[:, 0], np.sin(2 * np.pi * 220 * t), atol=1e-5)
    np.testing.assert_allclose(e[:, 1], np.sin(4 * np.pi * 220 * t), atol=1e-5)
    np.testing.assert_allclose(e[:, 2], np.cos(2 * np.pi * 220 * t), atol=1e-5)
    np.testing.assert_allclose(e[:, 3], np.cos(4 * np.pi * 220 * t), atol=1e-5)


def test_excitation_phase_stays_wrapped_on_a_long_note():
    osc = dsp.Excitation(1000.0, 1)
    for _ in range(100):
        osc.block(16000)
    assert 0.0 <= osc.phase < 2 * math.pi


def test_frame_features_follow_the_gate():
    z = np.arange(4, dtype=np.float32)
    held = dsp.frame_features(z, 440.0, 100, 0.5, None)
    released = dsp.frame_features(z, 440.0, 100, 0.5, 0.1)
    assert held.shape == (4 + 2 + dsp.N_TIME_FEATURES,)
    np.testing.assert_array_equal(held[:4], z)
    assert held[6] == 1.0 and released[6] == 0.0  # gate
    assert np.all(held[-2:] == 0.0) and np.all(released[-2:] > 0.0)
    assert dsp.normalized_log_f0(261.63) == pytest.approx(0.0, abs=1e-4)
    frames = dsp.note_frame_features(z, 440.0, 100, 1000, 500)
    assert frames.shape[0] == math.ceil(1000 / dsp.FRAME)
    gates = frames[:, 6]
    assert np.all(gates[: 500 // dsp.FRAME] == 1) and np.all(gates[math.ceil(500 / dsp.FRAME):] == 0)


def test_mix_z_interpolates_and_clips():
    a, b = np.zeros(3), np.ones(3)
    np.testing.assert_allclose(dsp.mix_z(a, b, 0.25), 0.25)
    np.testing.assert_allclose(dsp.mix_z(a, b, 2.0), 1.0)


@pytest.mark.parametrize("f0", [82.41, 196.0, 440.0, 987.77])
def test_yin_finds_the_pitch_of_a_harmonic_tone(f0):
    t = np.arange(SR // 2) / SR
    x = sum(a * np.sin(2 * np.pi * k * f0 * t + k) for k, a in ((1, 1.0), (2, 0.6), (3, 0.4), (5, 0.2)))
    assert abs(cents(note_pitch(x, SR, 0.05), f0)) < 10


def test_yin_reports_noise_and_silence_as_unvoiced_or_off():
    assert math.isnan(note_pitch(np.zeros(SR // 2), SR))
    assert not in_tune(float("nan"), 440.0)


def test_log_mel_distance_orders_similar_sounds():
    t = np.arange(SR // 2) / SR
    a = np.sin(2 * np.pi * 440 * t)
    b = np.sin(2 * np.pi * 440 * t) + 0.01 * np.sin(2 * np.pi * 880 * t)
    c = np.random.default_rng(0).standard_normal(len(t)) * 0.3
    assert dsp.log_mel_distance(a, a) == 0.0
    assert dsp.log_mel_distance(a, b) < dsp.log_mel_distance(a, c)
