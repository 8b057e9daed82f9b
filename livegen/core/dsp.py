"""Runtime DSP shared by training and the synth: mu-law, the pitch excitation, note conditioning.

Pure numpy. The WaveNet decoder (livegen.train.wavenet) is driven by two
inputs that the synth must reproduce exactly at note time:

- the *excitation*: sin/cos of k * phase(t), k = 1..K, where phase(t) is the
  fundamental's phase in radians. At generation an oscillator at the requested
  f0 produces it (:class:`Excitation`), so pitch is correct by construction;
  in training it is the phase measured on the real clip.
- the *frame conditioning*: one vector per ``FRAME`` samples holding the timbre
  code z, log f0, velocity, the gate and envelope-time features
  (:func:`frame_features`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16000
MU = 255  # 8-bit mu-law: 256 levels
FRAME = 64  # samples per conditioning frame
N_TIME_FEATURES = 6  # gate, 3 onset decays, 2 release decays
ONSET_TAUS = (0.03, 0.25, 1.0)  # seconds
RELEASE_TAUS = (0.03, 0.25)
LOG_F0_CENTER = math.log(261.63)  # C4
LOG_F0_SCALE = math.log(2.0) * 2.0  # +-2 octaves -> +-1


def mu_law_encode(x: np.ndarray, mu: int = MU) -> np.ndarray:
    """Float audio in [-1, 1] -> integer classes 0..mu (uint8 for mu=255)."""
    x = np.clip(np.asarray(x, dtype=np.float64), -1.0, 1.0)
    y = np.sign(x) * np.log1p(mu * np.abs(x)) / math.log1p(mu)
    q = np.rint((y + 1.0) * 0.5 * mu)
    return q.astype(np.uint8 if mu <= 255 else np.int32)


def mu_law_to_unit(q: np.ndarray, mu: int = MU) -> np.ndarray:
    """Classes 0..mu -> the companded value in [-1, 1] (the decoder's scalar input)."""
    return (np.asarray(q, dtype=np.float32) * (2.0 / mu) - 1.0).astype(np.float32)


def mu_law_decode(q: np.ndarray, mu: int = MU) -> np.ndarray:
    """Classes 0..mu -> float audio in [-1, 1]."""
    y = mu_law_to_unit(q, mu).astype(np.float64)
    x = np.sign(y) * np.expm1(np.abs(y) * math.log1p(mu)) / mu
    return x.astype(np.float32)


def midi_to_hz(pitch: float) -> float:
    return 440.0 * 2.0 ** ((pitch - 69.0) / 12.0)


def hz_to_midi(f0: float) -> float:
    return 69.0 + 12.0 * math.log2(f0 / 440.0)


def normalized_log_f0(f0: float) -> float:
    """log f0 mapped so C2..C6 spans about -1..1 (the decoder's pitch input)."""
    return (math.log(f0) - LOG_F0_CENTER) / LOG_F0_SCALE


def excitation_from_phase(phase: np.ndarray, n_harmonics: int) -> np.ndarray:
    """Phase (T,) in radians -> excitation (T, 2K): [sin(k*phase)..., cos(k*phase)...]."""
    phase = np.asarray(phase, dtype=np.float64)
    k = np.arange(1, n_harmonics + 1, dtype=np.float64)
    arg = phase[:, None] * k[None, :]
    return np.concatenate([np.sin(arg), np.cos(arg)], axis=1).astype(np.float32)


@dataclass
class Excitation:
    """Streaming harmonic oscillator at a fixed f0; the phase state is explicit.

    ``block(n)`` returns the excitation for the next n samples and advances the
    phase. Called from the render thread of one voice; no allocation beyond the
    returned block. The phase is kept wrapped to [0, 2*pi) so a long note loses
    no precision.
    """

    f0: float
    n_harmonics: int = 4
    phase: float = 0.0
    sample_rate: int = SAMPLE_RATE

    def block(self, n: int) -> np.ndarray:
        step = 2.0 * math.pi * self.f0 / self.sample_rate
        ph = self.phase + step * np.arange(n, dtype=np.float64)
        self.phase = float((self.phase + step * n) % (2.0 * math.pi))
        return excitation_from_phase(ph, self.n_harmonics)

    def step(self) -> np.ndarray:
        return self.block(1)[0]


def time_features(t_on: float, t_off: float | None) -> np.ndarray:
    """Envelope-time features at one instant (N_TIME_FEATURES,).

    t_on: seconds since note-on; t_off: seconds since note-off, or None while
    the key is held. Features: gate, exp(-t_on/tau) for ONSET_TAUS, and
    (1 - gate) * exp(-t_off/tau) for RELEASE_TAUS.
    """
    gate = 1.0 if t_off is None else 0.0
    feats = [gate]
    feats += [math.exp(-max(t_on, 0.0) / tau) for tau in ONSET_TAUS]
    feats += [0.0 if t_off is None else math.exp(-max(t_off, 0.0) / tau) for tau in RELEASE_TAUS]
    return np.asarray(feats, dtype=np.float32)


def frame_features(z: np.ndarray, f0: float, velocity: float, t_on: float,
                   t_off: float | None) -> np.ndarray:
    """The decoder's conditioning vector for one frame (Z + 2 + N_TIME_FEATURES,).

    z: timbre code (Z,); f0 in Hz; velocity in 0..127; t_on/t_off as in
    :func:`time_features`, taken at the frame's first sample.
    """
    head = np.asarray([normalized_log_f0(f0), velocity / 127.0], dtype=np.float32)
    return np.concatenate([np.asarray(z, dtype=np.float32), head, time_features(t_on, t_off)])


def note_frame_features(z: np.ndarray, f0: float, velocity: float, n_samples: int,
                        hold_samples: int, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Frame features for a whole note from its onset: (ceil(n/FRAME), C)."""
    n_frames = -(-n_samples // FRAME)
    out = []
    for j in range(n_frames):
        s = j * FRAME
        t_on = s / sample_rate
        t_off = None if s < hold_samples else (s - hold_samples) / sample_rate
        out.append(frame_features(z, f0, velocity, t_on, t_off))
    return np.stack(out)


def mix_z(z_a: np.ndarray, z_b: np.ndarray, amount: float) -> np.ndarray:
    """Timbre interpolation: (1 - amount) * z_a + amount * z_b, amount clipped to [0, 1]."""
    t = min(max(float(amount), 0.0), 1.0)
    return ((1.0 - t) * np.asarray(z_a, np.float32) + t * np.asarray(z_b, np.float32)).astype(np.float32)


def mel_filterbank(sample_rate: int = SAMPLE_RATE, n_fft: int = 1024, n_mels: int = 64,
                   fmin: float = 40.0, fmax: float | None = None) -> np.ndarray:
    """Triangular mel filters (n_mels, n_fft // 2 + 1), HTK mel scale."""
    fmax = fmax or sample_rate / 2
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731
    inv = lambda m: 700.0 * (10.0 ** (m / 2595.0) - 1.0)  # noqa: E731
    pts = inv(np.linspace(mel(fmin), mel(fmax), n_mels + 2))
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    fb = np.zeros((n_mels, len(freqs)))
    for m in range(n_mels):
        lo, c, hi = pts[m], pts[m + 1], pts[m + 2]
        fb[m] = np.clip(np.minimum((freqs - lo) / (c - lo), (hi - freqs) / (hi - c)), 0.0, None)
    return fb


def log_mel(x: np.ndarray, sample_rate: int = SAMPLE_RATE, n_fft: int = 1024, hop: int = 256,
            n_mels: int = 64, floor_db: float = -80.0) -> np.ndarray:
    """Log-mel power spectrogram in dB (frames, n_mels), floored at floor_db."""
    x = np.asarray(x, np.float64)
    if len(x) < n_fft:
        x = np.pad(x, (0, n_fft - len(x)))
    n = 1 + (len(x) - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n)[:, None]
    spec = np.abs(np.fft.rfft(x[idx] * np.hanning(n_fft), axis=1)) ** 2
    mel = spec @ mel_filterbank(sample_rate, n_fft, n_mels).T
    return np.maximum(10.0 * np.log10(mel + 1e-12), floor_db)


def log_mel_distance(a: np.ndarray, b: np.ndarray, sample_rate: int = SAMPLE_RATE) -> float:
    """Mean absolute log-mel difference in dB over the common length of a and b."""
    n = min(len(a), len(b))
    return float(np.mean(np.abs(log_mel(a[:n], sample_rate) - log_mel(b[:n], sample_rate))))
