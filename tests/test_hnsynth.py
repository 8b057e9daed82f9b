"""The harmonic-plus-noise synthesiser (livegen.core.hnsynth): pure numpy, and equal to the
trainer's differentiable twin."""

from __future__ import annotations

import numpy as np
import pytest

from livegen.core import hnsynth

D = hnsynth.SynthDims()


def test_note_features():
    t_on = np.array([[0.0, 0.5, 1.0]])
    t_off = np.array([[-1.0, -1.0, 0.25]])
    f = hnsynth.note_features(np.array([261.63]), np.array([127]), t_on, t_off)
    assert f.shape == (1, 3, hnsynth.N_NOTE_FEATURES)
    assert f[0, 0, 0] == pytest.approx(0.0, abs=1e-6) and f[0, 0, 1] == pytest.approx(1.0)
    assert list(f[0, :, 2]) == [1.0, 1.0, 0.0]  # the gate
    assert f[0, 0, 3] == pytest.approx(1.0) and f[0, 2, 3] < 1e-6  # fast onset decay
    n_on = len(hnsynth.ONSET_TAUS)
    assert (f[0, :2, 3 + n_on:] == 0).all()  # release features only after note-off
    assert f[0, 2, 3 + n_on] == pytest.approx(np.exp(-0.25 / hnsynth.RELEASE_TAUS[0]), rel=1e-5)


@pytest.mark.parametrize("rate", [44100, 48000])
def test_band_matrix_has_no_dc_and_covers_every_bin(rate):
    m = hnsynth.band_matrix(D, rate)
    hop = D.hop(rate)
    assert m.shape == (D.noise_bands, hop + 1)
    assert (m[:, 0] == 0).all() and (m[:, -1] == 0).all()
    assert np.allclose(m[:, 1:-1].sum(0), 1.0)  # interpolation weights


def test_harmonic_mask_and_amplitudes():
    mask = hnsynth.harmonic_mask(np.array([1000.0, 10000.0]), 8, 48000)
    assert mask[0].sum() == 8 and mask[1].tolist() == [1, 1] + [0] * 6
    amps = hnsynth.harmonic_amplitudes(np.array([[2.0], [2.0]]), np.full((2, 8), 1 / 8), mask)
    assert np.allclose(amps.sum(1), 2.0) and (amps[1, 2:] == 0).all()


def test_a_frame_of_one_harmonic_is_a_sine_with_a_continuous_phase():
    fs = hnsynth.FrameSynth(D, 48000)
    bank = hnsynth.VoiceBank.new(1, fs.hop)
    bank.f0[:] = 440.0
    amps = np.zeros((1, D.n_harmonics), np.float32)
    amps[0, 0] = 0.5
    u = np.zeros((1, fs.bins), np.float32)
    out = [fs.render(bank, np.array([0]), amps, np.array([440.0]), np.zeros((1, D.noise_bands)), u, 0.0)
           for _ in range(10)]
    x = np.concatenate(out, axis=1)[0]
    t = np.arange(len(x)) / 48000
    # frame 0 fades in from silence, then a steady sine of amplitude 0.5 at 440 Hz
    want = 0.5 * np.sin(2 * np.pi * 440 * t)
    assert np.max(np.abs(x[fs.hop:] - want[fs.hop:])) < 2e-3
    assert np.allclose(x[:fs.hop], want[:fs.hop] * np.arange(fs.hop) / fs.hop, atol=2e-3)


def test_noise_is_shaped_by_its_bands_and_stationary():
    fs = hnsynth.FrameSynth(D, 48000)
    bank = hnsynth.VoiceBank.new(1, fs.hop)
    rng = np.random.default_rng(0)
    gains = np.zeros((1, D.noise_bands), np.float32)
    centers = hnsynth.band_centers(D)
    gains[0, (centers > 2000) & (centers < 6000)] = 1.0
    x = np.concatenate([fs.render(bank, np.array([0]), np.zeros((1, D.n_harmonics)), np.array([440.0]),
                                  gains, rng.random((1, fs.bins), dtype=np.float32))
                        for _ in range(400)], axis=1)[0]
    spec = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / 48000)
    inside = spec[(freqs > 2500) & (freqs < 5500)].mean()
    assert spec[freqs < 1000].mean() < 0.01 * inside and spec[freqs > 8000].mean() < 0.01 * inside
    quarters = x.reshape(4, -1).std(axis=1)
    assert quarters.max() / quarters.min() < 1.1  # sqrt-Hann grains: a constant level
    assert abs(float(x.mean())) < 1e-3


@pytest.mark.train
@pytest.mark.parametrize("rate", [44100, 48000])
def test_numpy_synthesiser_equals_the_trainers_torch_twin(rate):
    torch = pytest.importorskip("torch")
    from livegen.train.timbre.model import Dims, Synthesis, controls
    d = Dims()
    syn, fs = Synthesis(d, rate), hnsynth.FrameSynth(d.synth, rate)
    B, F = 3, 24
    g = torch.Generator().manual_seed(0)
    raw = torch.randn(B, F, d.n_controls, generator=g)
    raw[..., 1:1 + d.n_harmonics] -= 0.08 * torch.arange(d.n_harmonics)  # a falling spectrum
    f0 = torch.tensor([82.0, 261.6, 1000.0])
    u = torch.rand(B, F + 1, syn.hop + 1, generator=g)
    want = syn.render(raw, f0, torch.zeros(B, dtype=torch.int64), F, u).numpy()
    amp, dist, dev, noise = [t.numpy() for t in controls(raw, d)]
    mask = hnsynth.harmonic_mask(f0.numpy() * 2 ** (d.max_dev_cents / 1200), d.n_harmonics, rate)
    bank = hnsynth.VoiceBank.new(B, fs.hop)
    bank.f0[:] = f0.numpy()
    got = np.concatenate([
        fs.render(bank, np.arange(B), hnsynth.harmonic_amplitudes(amp[:, f], dist[:, f], mask),
                  hnsynth.f0_of(f0.numpy(), dev[:, f]), noise[:, f], u[:, f + 1].numpy())
        for f in range(F)], axis=1)
    # the wavetable's interpolation and the noise phases' 4096 steps are the only differences
    assert np.max(np.abs(got - want)) < 5e-3 * np.max(np.abs(want))


def test_a_phase_just_below_a_whole_cycle_reads_the_table_safely():
    """A phase of 1 - 1e-9 cycles rounds to the table's length in float32: it must read the
    wrap sample, not past the end (found by the evaluation of the shipped model)."""
    fs = hnsynth.FrameSynth(D, 48000)
    bank = hnsynth.VoiceBank.new(2, fs.hop)
    bank.phase[:] = 1.0 - 1e-9
    bank.f0[:] = 1e-6  # the phase hardly moves within the frame
    amps = np.full((2, D.n_harmonics), 0.01, np.float32)
    out = fs.render(bank, np.array([0, 1]), amps, np.array([1e-6, 1e-6]), np.zeros((2, D.noise_bands)),
                    np.zeros((2, fs.bins), np.float32), 0.0)
    assert np.isfinite(out).all()
