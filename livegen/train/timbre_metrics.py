"""Measures of a rendered note against a real one (numpy): the timbre model's evaluation.

Every function takes mono float audio ``x`` (T,) at ``sample_rate`` whose sample 0 is the
note-on, with the note's nominal f0 (Hz) and how long the key was held (samples) where the
measure needs them. ``livegen.train.timbre.evaluate`` runs them on real and rendered notes.

- :func:`hnr_db`: harmonic-to-noise ratio of the steady part.
- :func:`note_features` and :class:`Classifier`: pitch-normalised timbre features and a
  multinomial logistic regression that tells instruments apart.
- :func:`mrstft_distance`: multi-resolution log-magnitude STFT L1 distance.
- :func:`largest_step`, :func:`dc_offset`, :func:`high_band_db`: clicks, DC, energy above 8 kHz.
- :func:`right_closer_share`, :func:`rises_monotonically`: the pair and morph logic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

FLOOR_DB = -100.0
STEADY_START_S = 0.1  # the steady part: after the attack ...
STEADY_END_S = 0.6  # ... until min(note-off, this)
HNR_FMAX = 7500.0
HNR_WIDTH = 0.1  # harmonic k covers k f0 +- WIDTH f0
N_HARMONIC_FEATURES = 16
OCTAVE_EDGES = tuple(50.0 * 2.0 ** k for k in range(10)) + (24000.0,)  # 50 Hz .. 24 kHz
ENVELOPE_HOP_S = 0.005
ENVELOPE_TIMES_S = (0.01, 0.03, 0.06, 0.1, 0.2, 0.4, 0.6)  # after the note-on
RELEASE_TIMES_S = (0.0, 0.05, 0.15, 0.3, 0.5)  # after the note-off
MRSTFT_FFTS = (2048, 1024, 512, 256, 128, 64)
MRSTFT_EPS = 1e-5  # magnitudes are per unit window, so this is -100 dB of a full-scale sine


def _db(p: np.ndarray | float) -> np.ndarray:
    return np.maximum(10.0 * np.log10(np.maximum(p, 1e-30)), FLOOR_DB)


def steady_span(hold: int, n: int, sample_rate: int) -> tuple[int, int]:
    """Sample range of the steady part: STEADY_START_S .. min(hold, STEADY_END_S), at least 0.1 s."""
    a = int(STEADY_START_S * sample_rate)
    b = min(int(hold), int(STEADY_END_S * sample_rate))
    b = max(b, a + int(0.1 * sample_rate))
    return a, min(b, n)


def power_spectrum(x: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Hann-windowed power spectrum of a whole segment: (power (F,), frequencies Hz (F,))."""
    x = np.asarray(x, np.float64)
    if len(x) < 16:
        raise ValueError(f"segment of {len(x)} samples is too short for a spectrum (need >= 16)")
    n_fft = 1 << (len(x) - 1).bit_length()
    w = np.hanning(len(x))
    p = np.abs(np.fft.rfft(x * w, n_fft)) ** 2 / np.sum(w ** 2)
    return p, np.fft.rfftfreq(n_fft, 1.0 / sample_rate)


def harmonic_mask(freqs: np.ndarray, f0: float, fmax: float, width: float = HNR_WIDTH) -> np.ndarray:
    """Bins within +-width*f0 of a harmonic k*f0 (k >= 1, k*f0 <= fmax)."""
    k = np.round(freqs / f0)
    return (k >= 1) & (k * f0 <= fmax) & (np.abs(freqs - k * f0) <= width * f0)


def hnr_db(x: np.ndarray, f0: float, hold: int, sample_rate: int, fmax: float = HNR_FMAX) -> float:
    """Harmonic-to-noise ratio (dB) of the steady part.

    Power within +-10% of f0 around each harmonic below ``fmax``, over the power of the
    other bins from f0/2 to ``fmax``. A pure harmonic tone scores high, white noise about
    10 log10(0.2 / 0.8) = -6 dB.
    """
    a, b = steady_span(hold, len(x), sample_rate)
    p, freqs = power_spectrum(x[a:b], sample_rate)
    band = (freqs >= 0.5 * f0) & (freqs <= fmax)
    harm = harmonic_mask(freqs, f0, fmax) & band
    h, r = float(p[harm].sum()), float(p[band & ~harm].sum())
    return float(10.0 * math.log10(max(h, 1e-30) / max(r, 1e-30)))


def harmonic_levels_db(p: np.ndarray, freqs: np.ndarray, f0: float, n: int = N_HARMONIC_FEATURES) -> np.ndarray:
    """Power of harmonics 1..n (each the sum over k f0 +- 10% f0), in dB relative to the strongest."""
    half = HNR_WIDTH * f0
    levels = np.full(n, 1e-30)
    for k in range(1, n + 1):
        m = np.abs(freqs - k * f0) <= half
        if m.any():
            levels[k - 1] = p[m].sum()
    return _db(levels / levels.max())


def rms_envelope_db(x: np.ndarray, sample_rate: int, hop_s: float = ENVELOPE_HOP_S) -> np.ndarray:
    """RMS per frame of ``hop_s`` (frame k covers [k hop, (k+1) hop)), dB relative to the peak frame."""
    hop = max(1, int(hop_s * sample_rate))
    n = -(-len(x) // hop)
    pad = np.pad(np.asarray(x, np.float64), (0, n * hop - len(x))).reshape(n, hop)
    ms = (pad ** 2).mean(1)
    return _db(ms / max(ms.max(), 1e-30))


def note_features(x: np.ndarray, f0: float, hold: int, sample_rate: int) -> np.ndarray:
    """Pitch-normalised timbre features of one note (float64 vector, fixed length).

    - harmonic levels 1..16 in dB relative to the strongest (steady part);
    - octave band energies 50 Hz .. 24 kHz relative to the total (steady part);
    - spectral flatness (dB) of 100 Hz .. 8 kHz (steady part);
    - the RMS envelope: dB relative to the peak at fixed times after the note-on and after
      the note-off, and the attack time to 90% of the peak (log10 seconds).
    Absolute level is left out on purpose (a model may render at another loudness).
    """
    x = np.asarray(x, np.float64)
    a, b = steady_span(hold, len(x), sample_rate)
    p, freqs = power_spectrum(x[a:b], sample_rate)
    total = max(float(p.sum()), 1e-30)
    bands = [p[(freqs >= lo) & (freqs < hi)].sum() / total for lo, hi in zip(OCTAVE_EDGES[:-1], OCTAVE_EDGES[1:])]
    fl = p[(freqs >= 100.0) & (freqs <= 8000.0)]
    fl = fl + 1e-10 * max(float(fl.max()), 1e-30)  # floored 100 dB under the peak: level-free
    flatness = 10.0 * (np.mean(np.log10(fl)) - np.log10(np.mean(fl)))
    env = rms_envelope_db(x, sample_rate)
    hop = ENVELOPE_HOP_S

    def at(t_s: float) -> float:
        return float(env[min(int(t_s / hop), len(env) - 1)])

    on = [at(t) for t in ENVELOPE_TIMES_S]
    off = [at(hold / sample_rate + t) for t in RELEASE_TIMES_S]
    attack = (int(np.argmax(env >= 20.0 * math.log10(0.9))) + 1) * hop
    return np.concatenate([harmonic_levels_db(p, freqs, f0), _db(np.asarray(bands)), [flatness],
                           on, off, [math.log10(attack)]])


@dataclass
class Classifier:
    """Multinomial logistic regression on standardised features (numpy, full-batch gradient descent)."""

    mean: np.ndarray  # (D,)
    scale: np.ndarray  # (D,)
    weights: np.ndarray  # (D, K)
    bias: np.ndarray  # (K,)

    @classmethod
    def fit(cls, features: np.ndarray, labels: np.ndarray, n_classes: int, l2: float = 1e-2,
            steps: int = 3000, lr: float = 0.5) -> "Classifier":
        """features (N, D), labels (N,) int in [0, n_classes)."""
        X = np.asarray(features, np.float64)
        y = np.asarray(labels, np.int64)
        if X.ndim != 2 or len(X) != len(y) or len(X) == 0:
            raise ValueError(f"features {X.shape} and labels {y.shape} must be (N, D) and (N,), N > 0")
        if y.min() < 0 or y.max() >= n_classes:
            raise ValueError(f"labels must be in 0..{n_classes - 1}, got {y.min()}..{y.max()}")
        mean, scale = X.mean(0), X.std(0) + 1e-6
        Xs = (X - mean) / scale
        onehot = np.eye(n_classes)[y]
        W, b = np.zeros((X.shape[1], n_classes)), np.zeros(n_classes)
        for _ in range(steps):
            g = _softmax(Xs @ W + b) - onehot  # (N, K) gradient of the mean cross-entropy * N
            W -= lr * (Xs.T @ g / len(X) + l2 * W)
            b -= lr * g.mean(0)
        return cls(mean, scale, W, b)

    def proba(self, features: np.ndarray) -> np.ndarray:
        """(N, D) -> class probabilities (N, K)."""
        return _softmax(((np.asarray(features, np.float64) - self.mean) / self.scale) @ self.weights + self.bias)

    def predict(self, features: np.ndarray) -> np.ndarray:
        return np.argmax(self.proba(features), axis=1)


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def stft_magnitude(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """|STFT| per unit window (frames, n_fft // 2 + 1): a full-scale sine peaks near 0.5."""
    x = np.pad(np.asarray(x, np.float32), (n_fft // 2, n_fft // 2))
    n = 1 + max(0, (len(x) - n_fft) // hop)
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n)[:, None]
    w = np.hanning(n_fft).astype(np.float32)
    return np.abs(np.fft.rfft(x[idx] * w, axis=1)) / np.float32(w.sum())


def log_spectra(x: np.ndarray, length: int | None = None, ffts: tuple[int, ...] = MRSTFT_FFTS,
                eps: float = MRSTFT_EPS) -> tuple[np.ndarray, ...]:
    """log(|STFT| + eps) at each FFT size (hop n_fft / 4) of x zero-padded (or cut) to ``length``."""
    x = np.asarray(x, np.float32)
    if length is not None:
        x = np.pad(x[:length], (0, max(0, length - len(x))))
    return tuple(np.log(stft_magnitude(x, f, f // 4).astype(np.float32) + np.float32(eps)) for f in ffts)


def log_spectra_distance(a: tuple[np.ndarray, ...], b: tuple[np.ndarray, ...]) -> float:
    """Mean over FFT sizes of the mean absolute difference of two :func:`log_spectra`."""
    if len(a) != len(b) or any(u.shape != w.shape for u, w in zip(a, b)):
        raise ValueError(f"log spectra of different shapes: {[u.shape for u in a]} vs {[w.shape for w in b]}")
    return float(np.mean([np.mean(np.abs(u - w)) for u, w in zip(a, b)]))


def mrstft_distance(a: np.ndarray, b: np.ndarray, ffts: tuple[int, ...] = MRSTFT_FFTS,
                    eps: float = MRSTFT_EPS) -> float:
    """Multi-resolution STFT distance: mean over FFT sizes of the mean |log(|A| + eps) - log(|B| + eps)|.

    The shorter signal is zero-padded to the longer one, so a note cut short costs.
    """
    n = max(len(a), len(b))
    return log_spectra_distance(log_spectra(a, n, ffts, eps), log_spectra(b, n, ffts, eps))


def largest_step(x: np.ndarray, start: int = 0, end: int | None = None) -> float:
    """The largest |x[n+1] - x[n]| with both samples in [start, end): a click shows as a big step."""
    seg = np.asarray(x[max(0, start):end], np.float64)
    return float(np.abs(np.diff(seg)).max()) if len(seg) > 1 else 0.0


def dc_offset(x: np.ndarray) -> float:
    """The mean of the note."""
    return float(np.mean(np.asarray(x, np.float64)))


def high_band_db(x: np.ndarray, sample_rate: int, f_lo: float = 8000.0) -> float:
    """Energy above ``f_lo`` relative to the whole note's, dB (floored at -100)."""
    p, freqs = power_spectrum(x, sample_rate)
    return float(_db(p[freqs > f_lo].sum() / max(float(p.sum()), 1e-30)))


def right_closer_share(dist: np.ndarray, truth: np.ndarray) -> tuple[int, int]:
    """dist (N, K): distance of note n to the rendering with preset k; truth (N,): the right k.

    Returns (pairs where the right preset is strictly closer than a wrong one, all ordered
    (note, wrong preset) pairs).
    """
    dist = np.asarray(dist, np.float64)
    truth = np.asarray(truth, np.int64)
    right = dist[np.arange(len(dist)), truth][:, None]
    wrong = np.ones_like(dist, bool)
    wrong[np.arange(len(dist)), truth] = False
    return int(((right < dist) & wrong).sum()), int(wrong.sum())


def rises_monotonically(p: np.ndarray, tolerance: float = 0.02) -> bool:
    """Whether p never falls by more than ``tolerance`` from one step to the next and ends above its start."""
    p = np.asarray(p, np.float64)
    return bool(len(p) >= 2 and np.all(np.diff(p) >= -tolerance) and p[-1] > p[0])
