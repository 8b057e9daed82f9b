"""Spectra of audio (numpy): framing, the STFT magnitude, the mel filterbank, and the one
multi-resolution STFT distance (DDSP style) that the encoder's refinement, the evaluation and
(through its torch twin, ``livegen.train.spectral_loss``) the training loss use.

Magnitudes are per unit window (|STFT| / sum of the Hann window: a full-scale sine peaks near
0.5 whatever the FFT size), so ``eps`` is a level: 1e-5 is -100 dB of a full-scale sine.
Frames are centred: the signal is zero-padded by half an FFT on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def frames(x: np.ndarray, n_fft: int, hop: int, center: bool = True) -> np.ndarray:
    """(n_frames, n_fft) windows of x, ``hop`` apart; zero-padded by n_fft // 2 on both sides
    when ``center``. A signal shorter than one frame gives one zero-padded frame."""
    x = np.asarray(x, np.float32)
    if center:
        x = np.pad(x, (n_fft // 2, n_fft // 2))
    if len(x) < n_fft:
        x = np.pad(x, (0, n_fft - len(x)))
    n = 1 + (len(x) - n_fft) // hop
    return x[np.arange(n_fft)[None, :] + hop * np.arange(n)[:, None]]


def hann(n: int) -> np.ndarray:
    """The periodic Hann window (as torch.hann_window)."""
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)).astype(np.float32)


def stft_magnitude(x: np.ndarray, n_fft: int, hop: int | None = None, center: bool = True) -> np.ndarray:
    """|STFT| per unit window, (n_frames, n_fft // 2 + 1) float32, Hann window, hop n_fft / 4."""
    w = hann(n_fft)
    f = frames(x, n_fft, hop or n_fft // 4, center)
    return (np.abs(np.fft.rfft(f * w, axis=1)) / np.float32(w.sum())).astype(np.float32)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """Triangular mel filters (n_mels, n_fft // 2 + 1), HTK mel scale, fmax capped at Nyquist."""
    fmax = min(fmax, sample_rate / 2)
    pts = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    fb = np.zeros((n_mels, len(freqs)))
    for m in range(n_mels):
        lo, c, hi = pts[m], pts[m + 1], pts[m + 2]
        fb[m] = np.clip(np.minimum((freqs - lo) / (c - lo), (hi - freqs) / (hi - c)), 0.0, None)
    return fb.astype(np.float32)


def hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, np.float64) / 700.0)


def mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, np.float64) / 2595.0) - 1.0)


@dataclass(frozen=True)
class MultiResolution:
    """A multi-resolution STFT distance: for each FFT size (hop size / 4), ``lin_weight`` times
    the mean |A - B| of the magnitudes plus ``log_weight`` times the mean
    |log(A + eps) - log(B + eps)|; the distance is the mean over the sizes."""

    sizes: tuple[int, ...] = (2048, 1024, 512, 256, 128, 64)
    lin_weight: float = 0.0
    log_weight: float = 1.0
    eps: float = 1e-5


# the evaluation's and livegen encode's: log magnitudes only (level differences in dB count alike
# at every level and frequency)
DISTANCE = MultiResolution()


def spectra(x: np.ndarray, mr: MultiResolution = DISTANCE, length: int | None = None) -> tuple:
    """The magnitudes (and their logs) of x, zero-padded or cut to ``length``, at each size:
    ((mag, log mag), ...), to compare many times with :func:`spectra_distance`."""
    x = np.asarray(x, np.float32)
    if length is not None:
        x = np.pad(x[:length], (0, max(0, length - len(x))))
    out = []
    for n in mr.sizes:
        m = stft_magnitude(x, n)
        out.append((m if mr.lin_weight else None, np.log(m + np.float32(mr.eps)) if mr.log_weight else None))
    return tuple(out)


def spectra_distance(a: tuple, b: tuple, mr: MultiResolution = DISTANCE) -> float:
    """The distance of two :func:`spectra` of equal length."""
    if len(a) != len(b) or any(u[1 if mr.log_weight else 0].shape != w[1 if mr.log_weight else 0].shape
                               for u, w in zip(a, b)):
        raise ValueError("spectra of different lengths or sizes cannot be compared")
    total = 0.0
    for (ma, la), (mb, lb) in zip(a, b):
        if mr.lin_weight:
            total += mr.lin_weight * float(np.mean(np.abs(ma - mb)))
        if mr.log_weight:
            total += mr.log_weight * float(np.mean(np.abs(la - lb)))
    return total / len(a)


def distance(a: np.ndarray, b: np.ndarray, mr: MultiResolution = DISTANCE) -> float:
    """The multi-resolution STFT distance of two signals; the shorter is zero-padded to the
    longer, so a note cut short costs."""
    n = max(len(a), len(b))
    return spectra_distance(spectra(a, mr, n), spectra(b, mr, n), mr)
