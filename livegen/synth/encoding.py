"""The encoder's input: log-mel frames of a note (numpy), shared by training and ``livegen encode``.

A note's audio at the model's rate -> (enc_frames, n_mels) float32: log-mel power in dB / 40
(floored at -100 dB), frames ``enc_hop`` decoder frames apart from the note-on, zero-padded
past the note's end.
"""

from __future__ import annotations

import numpy as np

FLOOR_DB = -100.0
FMIN, FMAX = 40.0, 20000.0


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float = FMIN,
                   fmax: float = FMAX) -> np.ndarray:
    """Triangular mel filters (n_mels, n_fft // 2 + 1), HTK mel scale."""
    fmax = min(fmax, sample_rate / 2)
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731
    inv = lambda m: 700.0 * (10.0 ** (m / 2595.0) - 1.0)  # noqa: E731
    pts = inv(np.linspace(mel(fmin), mel(fmax), n_mels + 2))
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    fb = np.zeros((n_mels, len(freqs)))
    for m in range(n_mels):
        lo, c, hi = pts[m], pts[m + 1], pts[m + 2]
        fb[m] = np.clip(np.minimum((freqs - lo) / (c - lo), (hi - freqs) / (hi - c)), 0.0, None)
    return fb.astype(np.float32)


def encoder_input(x: np.ndarray, sample_rate: int, hop: int, n_frames: int, n_mels: int) -> np.ndarray:
    """Log-mel frames (n_frames, n_mels) of audio x from its note-on, one every ``hop`` samples."""
    n_fft = 2048 if sample_rate > 32000 else 1024
    need = (n_frames - 1) * hop + n_fft
    x = np.asarray(x, np.float32)[:need]
    x = np.pad(x, (0, need - len(x)))
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n_frames)[:, None]
    spec = np.abs(np.fft.rfft(x[idx] * np.hanning(n_fft).astype(np.float32), axis=1)) ** 2
    mel = spec @ mel_filterbank(sample_rate, n_fft, n_mels).T
    return (np.maximum(10.0 * np.log10(mel + 1e-12), FLOOR_DB) / 40.0).astype(np.float32)
