"""livegen.core.spectral (numpy) and its torch twin livegen.train.spectral_loss."""

from __future__ import annotations

import numpy as np
import pytest

from livegen.core import spectral

SR = 48000


def tone(f0: float, seconds: float = 0.5, slope: float = 1.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    x = sum(k ** -slope * np.sin(2 * np.pi * k * f0 * t) for k in range(1, 20) if k * f0 < SR / 2)
    return (amp * x / np.abs(x).max()).astype(np.float32)


def test_a_full_scale_sine_peaks_near_half_at_every_size():
    x = np.sin(2 * np.pi * 1000.0 * np.arange(SR) / SR).astype(np.float32)
    for n in (64, 256, 2048):
        m = spectral.stft_magnitude(x, n)
        assert m.shape == (1 + SR // (n // 4), n // 2 + 1)
        assert m[len(m) // 2].max() == pytest.approx(0.5, rel=0.1)


def test_frames_of_a_short_signal_are_zero_padded():
    f = spectral.frames(np.ones(10, np.float32), 64, 16, center=False)
    assert f.shape == (1, 64) and f.sum() == 10


def test_mel_filterbank_covers_its_range_with_triangles():
    fb = spectral.mel_filterbank(SR, 2048, 64, 40.0, 20000.0)
    assert fb.shape == (64, 1025) and fb.max() <= 1.0
    freqs = np.fft.rfftfreq(2048, 1 / SR)
    assert fb[:, (freqs > 100) & (freqs < 19000)].sum(0).min() > 0.5  # no holes inside the range
    assert fb[:, freqs > 20100].sum() == 0.0
    np.testing.assert_allclose(spectral.mel_to_hz(spectral.hz_to_mel(440.0)), 440.0)


def test_distance_is_zero_to_itself_symmetric_and_grows_with_the_difference():
    a, b = tone(220.0), tone(330.0, slope=2.0)
    assert spectral.distance(a, a) == 0.0
    assert spectral.distance(a, b) == pytest.approx(spectral.distance(b, a))
    assert spectral.distance(a, 0.9 * a) < spectral.distance(a, 0.5 * a) < spectral.distance(a, b)
    assert spectral.distance(a, tone(220.0, slope=1.2)) < spectral.distance(a, b)
    # zero-padded to the longer: a note cut short costs
    assert spectral.distance(a, a[:len(a) // 2]) > spectral.distance(a, 0.9 * a)


def test_weights_and_sizes_are_arguments():
    a = 0.1 * np.random.default_rng(0).standard_normal(SR // 4).astype(np.float32)  # every bin above eps
    b = 0.5 * a
    log_only = spectral.MultiResolution(sizes=(512,), lin_weight=0.0, log_weight=1.0)
    both = spectral.MultiResolution(sizes=(512,), lin_weight=1.0, log_weight=1.0)
    assert spectral.distance(a, b, log_only) == pytest.approx(np.log(2.0), rel=0.01)  # half the level
    assert spectral.distance(a, b, both) > spectral.distance(a, b, log_only)
    with pytest.raises(ValueError, match="different lengths"):
        spectral.spectra_distance(spectral.spectra(np.zeros(4800)), spectral.spectra(np.zeros(9600)))


@pytest.mark.train
def test_the_training_loss_equals_the_numpy_distance():
    torch = pytest.importorskip("torch")
    from livegen.train.spectral_loss import TRAINING, MultiResolutionLoss

    rng = np.random.default_rng(0)
    a = np.stack([tone(220.0, 0.2), tone(523.0, 0.2, slope=2.0)]) + 0.01 * rng.standard_normal((2, 9600))
    b = np.stack([tone(233.0, 0.2, slope=0.5), 0.3 * tone(523.0, 0.2)]).astype(np.float32)
    a = a.astype(np.float32)
    for mr in (TRAINING, spectral.DISTANCE, spectral.MultiResolution(sizes=(256, 64), lin_weight=2.0, log_weight=0.5)):
        want = np.mean([spectral.distance(x, y, mr) for x, y in zip(a, b)])
        got = float(MultiResolutionLoss(mr)(torch.from_numpy(a), torch.from_numpy(b)))
        assert got == pytest.approx(want, rel=1e-4), mr


@pytest.mark.train
def test_the_average_spectrum_loss_sees_the_noise_floor_that_random_phase_hides():
    torch = pytest.importorskip("torch")
    from livegen.train.spectral_loss import AverageSpectrumLoss

    g = torch.Generator().manual_seed(0)
    x = torch.from_numpy(np.stack([tone(220.0, 0.2)] * 2))
    n1, n2 = (0.01 * torch.randn(2, x.shape[1], generator=g) for _ in range(2))
    f = AverageSpectrumLoss()
    assert float(f(x, x)) == 0.0
    # the same noise floor drawn twice is closer than no floor at all against one
    assert float(f(x + n1, x + n2)) < 0.2 * float(f(x, x + n2))
