"""Training windows from a NoteSet, with pitch-shift augmentation (numpy only).

A window of T samples is read from a clip at positions a + n*rho (linear
interpolation), so rho > 1 shifts the note up by rho; the phase track is read
at the same positions, so the excitation stays locked to the waveform, and
f0, envelope times and hold scale accordingly.

Two kinds of window:
- onset windows start exactly at the note-on with zero decoder history (the
  state of a new voice) and count the loss on every sample;
- other windows start anywhere later and count the loss only after
  ``context`` samples, so every scored sample has (almost) full history.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from livegen.core import dsp
from livegen.train.wavenet.data import PRE, NoteSet

SILENCE = float(dsp.mu_law_to_unit(dsp.mu_law_encode(np.zeros(1)))[0])


@dataclass
class Batch:
    x_prev: np.ndarray  # (B, T) float32 mu-law value of the previous sample
    target: np.ndarray  # (B, T) int64 classes
    exc: np.ndarray  # (B, T, E) float32
    note_cond: np.ndarray  # (B, T // FRAME, 2 + N_TIME) float32
    mask: np.ndarray  # (B, T) float32: 1 where the loss counts
    enc_audio: np.ndarray  # (B, T_enc) float32 mu-law values for the encoder
    clip: np.ndarray  # (B,) int64 clip index


def note_cond_frames(f0: float, velocity: float, t_on_s: np.ndarray, hold_s: float) -> np.ndarray:
    """(F,) onset times (s) of each frame -> (F, 2 + N_TIME) features as dsp.frame_features."""
    out = np.empty((len(t_on_s), 2 + dsp.N_TIME_FEATURES), np.float32)
    out[:, 0] = dsp.normalized_log_f0(f0)
    out[:, 1] = velocity / 127.0
    for j, t in enumerate(t_on_s):
        t_off = None if t < hold_s else t - hold_s
        out[j, 2:] = dsp.time_features(float(t), t_off)
    return out


class WindowSampler:
    def __init__(self, ns: NoteSet, clips: np.ndarray, window: int = 2560, context: int = 512,
                 n_harmonics: int = 4, enc_window: int = 2048, max_shift_semitones: float = 0.4,
                 p_onset: float = 0.15, seed: int = 0, input_noise: float = 0.0):
        if window % dsp.FRAME:
            raise ValueError(f"window must be a multiple of {dsp.FRAME}")
        self.ns, self.clips = ns, np.asarray(clips)
        self.window, self.context, self.K = window, context, n_harmonics
        self.enc_window, self.max_shift, self.p_onset = enc_window, max_shift_semitones, p_onset
        self.rng = np.random.default_rng(seed)
        self.input_noise = input_noise  # max std of the noise added to x_prev, in mu-law classes

    def encoder_input(self, i: int, rng: np.random.Generator | None = None) -> np.ndarray:
        """A random enc_window-sample stretch of clip i (from its onset), mu-law values."""
        rng = rng or self.rng
        x = self.ns.clip(i)
        if len(x) <= self.enc_window:
            seg = np.pad(x, (0, self.enc_window - len(x)))
        else:
            s = int(rng.integers(0, len(x) - self.enc_window))
            seg = x[s:s + self.enc_window]
        return dsp.mu_law_to_unit(dsp.mu_law_encode(seg))

    def window_at(self, i: int, rho: float, onset: bool, rng: np.random.Generator):
        ns, T, sr = self.ns, self.window, ns_rate(self.ns)
        s0, n = int(ns.start[i]), int(ns.length[i])
        audio = ns.audio[s0:s0 + n]
        phase = ns.phase[s0:s0 + n]
        span = (T + 1) * rho + 2
        if onset:
            a = PRE - rho  # position of sample "-1"
        else:
            lo, hi = PRE + 1, n - span - 1
            a = float(rng.uniform(lo, hi)) if hi > lo else float(lo)
        pos = a + rho * np.arange(T + 1)
        grid = np.arange(n, dtype=np.float64)
        x = np.interp(pos, grid, audio, left=0.0, right=0.0)
        ph = np.interp(pos[1:], grid, phase.astype(np.float64))
        q = dsp.mu_law_encode(x)
        x_prev = dsp.mu_law_to_unit(q[:-1])
        target = q[1:].astype(np.int64)
        exc = dsp.excitation_from_phase(ph, self.K)
        t_on = (pos[1::dsp.FRAME] - PRE) / rho / sr
        hold_s = ns.hold[i] / rho / sr
        cond = note_cond_frames(ns.f0[i] * rho, float(ns.velocity[i]), t_on, hold_s)
        if self.input_noise > 0:
            # noise injection (as in LPCNet): the history is corrupted, the target is not, so the
            # model learns to recover from its own sampling errors by following the excitation
            sigma = rng.uniform(0.0, self.input_noise) * (2.0 / dsp.MU)
            x_prev = np.clip(x_prev + rng.normal(0.0, sigma, T), -1.0, 1.0).astype(np.float32)
        mask = np.ones(T, np.float32)
        if not onset:
            mask[:self.context] = 0.0
        return x_prev, target, exc, cond, mask

    def sample(self, batch_size: int, rng: np.random.Generator | None = None,
               clips: np.ndarray | None = None, shift: bool = True) -> Batch:
        rng = rng or self.rng
        pool = self.clips if clips is None else clips
        items = []
        for b in range(batch_size):
            i = int(pool[rng.integers(0, len(pool))]) if clips is None or len(pool) != batch_size else int(pool[b])
            u = float(rng.uniform(-self.max_shift, self.max_shift)) if shift else 0.0
            onset = bool(rng.random() < self.p_onset)
            items.append((i,) + self.window_at(i, 2.0 ** (u / 12.0), onset, rng))
        return Batch(
            x_prev=np.stack([it[1] for it in items]), target=np.stack([it[2] for it in items]),
            exc=np.stack([it[3] for it in items]), note_cond=np.stack([it[4] for it in items]),
            mask=np.stack([it[5] for it in items]),
            enc_audio=np.stack([self.encoder_input(it[0], rng) for it in items]),
            clip=np.asarray([it[0] for it in items], np.int64))


def ns_rate(ns: NoteSet) -> int:
    return int(ns.sample_rate)
