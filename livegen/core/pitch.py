"""A YIN fundamental-frequency estimator (numpy) and pitch-accuracy helpers.

Used to score generated notes and, first, the real clips the same way, since
estimators make octave errors on some instruments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

OCTAVE_SLACK = 0.1  # an earlier dip within this of the deepest one is taken as the period


def yin(x: np.ndarray, sample_rate: int, fmin: float = 60.0, fmax: float = 1400.0,
        frame: int = 1024, hop: int = 256, threshold: float = 0.15) -> tuple[np.ndarray, np.ndarray]:
    """Frame-wise YIN. Returns (f0 Hz per frame, aperiodicity per frame); f0 = nan when unvoiced.

    x: mono float (T,). Difference function computed with FFTs, cumulative
    mean normalised, first dip below ``threshold`` (else the global minimum if
    it is below 0.5), parabolic interpolation of the lag.
    """
    x = np.asarray(x, dtype=np.float64)
    tau_min = max(2, int(sample_rate / fmax))
    tau_max = min(frame - 1, int(math.ceil(sample_rate / fmin)))
    w = frame - tau_max  # integration window
    if len(x) < frame:
        return np.full(0, np.nan), np.full(0, 1.0)
    starts = np.arange(0, len(x) - frame + 1, hop)
    frames = np.stack([x[s:s + frame] for s in starts])  # (N, frame)
    n_fft = 1 << (2 * frame - 1).bit_length()
    spec_full = np.fft.rfft(frames, n_fft)
    spec_win = np.fft.rfft(frames[:, :w], n_fft)
    # r[tau] = sum_{j<w} x[j] x[j+tau]
    r = np.fft.irfft(np.conj(spec_win) * spec_full, n_fft)[:, :tau_max + 1]
    sq = np.cumsum(np.concatenate([np.zeros((len(starts), 1)), frames ** 2], axis=1), axis=1)
    energy0 = sq[:, w] - sq[:, 0]
    taus = np.arange(tau_max + 1)
    energy_tau = sq[:, taus + w] - sq[:, taus]  # sum_{j<w} x[j+tau]^2
    d = energy0[:, None] + energy_tau - 2.0 * r
    d[:, 0] = 0.0
    cum = np.cumsum(d[:, 1:], axis=1) / np.arange(1, tau_max + 1)
    dn = np.ones_like(d)
    dn[:, 1:] = d[:, 1:] / np.maximum(cum, 1e-12)
    f0 = np.full(len(starts), np.nan)
    aper = np.ones(len(starts))
    for i in range(len(starts)):
        row = dn[i]
        if energy0[i] < 1e-8:
            continue
        cand = np.nonzero(row[tau_min:tau_max] < threshold)[0]
        if len(cand):
            t = cand[0] + tau_min
            while t + 1 < tau_max and row[t + 1] < row[t]:
                t += 1
        else:
            # no dip below the threshold: the global minimum, unless an earlier local minimum is
            # almost as deep (a period's multiples all dip; the first is the period)
            seg = row[tau_min:tau_max]
            g = int(np.argmin(seg))
            if seg[g] > 0.5:
                continue
            mins = np.nonzero((seg[1:-1] <= seg[:-2]) & (seg[1:-1] <= seg[2:]))[0] + 1
            early = mins[seg[mins] <= seg[g] + OCTAVE_SLACK] if len(mins) else []
            t = int(early[0] if len(early) else g) + tau_min
        if 1 <= t < tau_max:
            a, b, c = row[t - 1], row[t], row[t + 1]
            den = a - 2 * b + c
            shift = 0.5 * (a - c) / den if abs(den) > 1e-12 else 0.0
        else:
            shift = 0.0
        f0[i] = sample_rate / (t + shift)
        aper[i] = row[t]
    return f0, aper


def note_pitch(x: np.ndarray, sample_rate: int, start_s: float = 0.1, end_s: float | None = None,
               **kw) -> float:
    """Median f0 (Hz) over the voiced frames of x[start_s:end_s]; nan if none are voiced."""
    a = int(start_s * sample_rate)
    b = None if end_s is None else int(end_s * sample_rate)
    f0, _ = yin(x[a:b], sample_rate, **kw)
    f0 = f0[np.isfinite(f0)]
    return float(np.median(f0)) if len(f0) else float("nan")


def cents(f: float, ref: float) -> float:
    """Signed distance of f from ref in cents; nan if f is not a positive number."""
    if not (f > 0) or not math.isfinite(f):
        return float("nan")
    return 1200.0 * math.log2(f / ref)


def in_tune(f: float, ref: float, tolerance_cents: float = 50.0) -> bool:
    c = cents(f, ref)
    return math.isfinite(c) and abs(c) <= tolerance_cents


# ------------------------------------------------------------------------------------------
# the notes of a recording of one instrument: held notes, or playing (legato, vibrato)

NOTE_HOP_S = 0.005  # the tracker's frame step
NOTE_FLOOR_DB = 40.0  # frames this far below the loudest are silence
NOTE_CHANGE = 0.7  # semitones: a new pitch (vibrato stays within it) ...
NOTE_CHANGE_S = 0.04  # ... held this long
NOTE_REATTACK_DB = 6.0  # a rise this large within NOTE_REATTACK_S after a dip: the same pitch again
NOTE_REATTACK_S = 0.03
NOTE_MIN_S = 0.08
NOTE_GLITCH_S = 0.15  # shorter, between two notes and more than 7 semitones from both: a slip


@dataclass(frozen=True)
class FoundNote:
    start: int  # samples
    length: int  # samples
    pitch: float  # MIDI, the median over the note (not rounded)


def find_notes(x: np.ndarray, sample_rate: int, fmin: float = 60.0, fmax: float = 1400.0) -> list[FoundNote]:
    """The notes of a monophonic recording, in order.

    YIN every 5 ms; a frame is part of a note when it is voiced and within 40 dB of the loudest
    frame. A note ends at a silent or unvoiced frame, where the pitch moves more than 0.7
    semitone from the note's running median for 40 ms (so vibrato and a slide's first frames
    stay in the note, a legato step does not), or where the level rises 6 dB within 30 ms
    (the same pitch played again). Notes shorter than 80 ms are dropped, and so is a note shorter
    than 150 ms more than 7 semitones away from the notes on both sides (an octave slip).
    """
    x = np.asarray(x, np.float64)
    hop = max(1, int(round(NOTE_HOP_S * sample_rate)))
    frame = 1 << max(10, int(math.ceil(math.log2(2.2 * sample_rate / fmin))))  # two periods of fmin
    if len(x) < frame:
        return []
    f0, aper = yin(x, sample_rate, fmin, fmax, frame=frame, hop=hop)
    n = len(f0)
    centre = frame // 2  # frame i describes the samples around i * hop + frame / 2
    power = np.array([np.mean(x[i * hop:i * hop + frame] ** 2) for i in range(n)])
    db = 10.0 * np.log10(np.maximum(power, 1e-20))
    loud = db > db.max() - NOTE_FLOOR_DB
    voiced = loud & np.isfinite(f0) & (aper < 0.4)
    midi = np.where(voiced, 69.0 + 12.0 * np.log2(np.where(np.isfinite(f0), f0, 440.0) / 440.0), np.nan)
    change_frames = max(1, int(round(NOTE_CHANGE_S / NOTE_HOP_S)))
    rise = max(1, int(round(NOTE_REATTACK_S / NOTE_HOP_S)))
    notes, start, history, away, first = [], None, [], 0, 0

    # A frame is loud or voiced as soon as a little of a note is in its window: a note from
    # silence starts a little before its first loud frame's centre, and ends about where the
    # first quiet frame's window starts; notes cut apart meet at the centre of the frame where
    # the pitch or the level moved.
    def close(end: int, end_frame: int) -> None:
        if start is not None and (end_frame - start) * NOTE_HOP_S >= NOTE_MIN_S:
            e = min(len(x), end)
            notes.append(FoundNote(int(first), int(e - first), float(np.median(history))))

    for i in range(n):
        if not voiced[i]:
            close(i * hop + hop, i)
            start, history, away = None, [], 0
            continue
        if start is None:
            start, history, away, first = i, [midi[i]], 0, max(0, i * hop + centre - 2 * hop) if i else 0
            continue
        ref = float(np.median(history[-40:]))
        away = away + 1 if abs(midi[i] - ref) > NOTE_CHANGE else 0
        reattack = i >= rise and db[i] - db[i - rise] > NOTE_REATTACK_DB and i - start > 2 * rise
        if away >= change_frames or reattack:
            cut = i - away + 1 if away >= change_frames else i
            history = history[:len(history) - (away - 1)] if away >= change_frames else history
            close(cut * hop + centre, cut)
            start, history, away, first = cut, list(midi[cut:i + 1]), 0, cut * hop + centre
            continue
        history.append(midi[i])
    close(len(x), n)
    # a short note far from both its neighbours is the tracker's octave slip at a change of
    # note (a 90 ms "MIDI 43" between 71 and 74), not something played
    glitch = [k for k, m in enumerate(notes) if m.length < NOTE_GLITCH_S * sample_rate
              and all(abs(m.pitch - o.pitch) > 7.0 for o in notes[max(0, k - 1):k] + notes[k + 1:k + 2])
              and 0 < k < len(notes) - 1]
    return [m for k, m in enumerate(notes) if k not in glitch]
