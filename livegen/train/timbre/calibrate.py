"""A preset's calibration: how much more or less noise, and how much more or less energy above
8 kHz, its notes need to match the real instrument's, in the measures of the evaluation
(``livegen.train.timbre_metrics``: the harmonic-to-noise ratio of the steady part, and the
energy above 8 kHz relative to the whole note's).

For each preset with real notes in the note set, the notes at the *trained* pitches (every 4th
semitone from 40, the pitches the evaluation's discriminator trains on; the evaluation tests on
held-out pitches) are rendered as the synth renders them, and two numbers are fitted, each the
median gap over the notes, refined over a few rounds of render and measure:

- ``noise``: dB added to every noise band (the rendered HNR higher than the real: more noise);
- ``shelf``: dB added to the harmonics and the noise at and above 8 kHz (a ramp from 6 kHz).

A first try fitted each of the 10 bands of harmonics and of noise on their own (the per-band
power of each part): it closed the gaps at the trained pitches, but at the held-out pitches the
HNR gap grew (median 4.1 -> 4.6 dB) and the clicks at note-on grew (largest step 1.58 -> 2.15
of the real note's), from tilts of up to +-28 dB; two numbers generalise.
"""

from __future__ import annotations

import math

import numpy as np

from livegen.core import hnsynth
from livegen.train import timbre_metrics as tm

PITCHES = tuple(range(40, 85, 4))  # trained pitches (the discriminator's training pitches)
VELOCITY = 85
ROUNDS = 3
SHELF_FROM_HZ = 8000.0
# Each number stays within +-12 dB: a calibration, not a new sound. Without the bound, presets
# whose noise the HNR cannot see (the electric piano: its rendered noise floor is the harmonics'
# own, not the noise part's) ran to -30 dB of noise and +30 dB of shelf to make up for it.
LIMIT_DB = 12.0


def calibration(noise_db: float, shelf_db: float) -> hnsynth.Calibration:
    """The calibration of ``noise_db`` more noise and ``shelf_db`` more of everything from 8 kHz."""
    shelf = tuple(shelf_db if f >= SHELF_FROM_HZ else 0.0 for f in hnsynth.EQ_BANDS_HZ)
    lim = hnsynth.EQ_MAX_DB
    return hnsynth.Calibration(tuple(float(np.clip(h, -lim, lim)) for h in shelf),
                               tuple(float(np.clip(noise_db + h, -lim, lim)) for h in shelf))


def measures(x: np.ndarray, f0: float, hold: int, sample_rate: int) -> tuple[float, float]:
    """(HNR dB, energy above 8 kHz dB) of a note, as the evaluation measures them."""
    return tm.hnr_db(x, f0, hold, sample_rate), tm.high_band_db(x, sample_rate, SHELF_FROM_HZ)


def calibrate(notes, name: str, z: np.ndarray, render, rounds: int = ROUNDS,
              progress=None) -> tuple[hnsynth.Calibration, dict]:
    """The calibration of preset ``name`` (code ``z``) against the real notes of ``name``.
    ``render(z, calibration, pitch, velocity, hold_s, total_s)`` renders one note.
    Returns it and a report: the fitted numbers and the median gaps (real - rendered, dB)
    before and after."""
    sr = notes.sample_rate
    keys = [(p, VELOCITY) for p in PITCHES if notes.has(name, p, VELOCITY)]
    if not keys:
        raise ValueError(f"no real notes of {name!r} at the calibration pitches")
    real = np.asarray([measures(notes.clip(name, *k), hnsynth.midi_to_hz(k[0]), notes.hold(name, *k), sr)
                       for k in keys])
    lim = LIMIT_DB
    noise = shelf = 0.0
    gaps = []
    for r in range(rounds + 1):
        got = []
        for p, v in keys:
            x = notes.clip(name, p, v)
            hold = notes.hold(name, p, v)
            y = render(z, calibration(noise, shelf), p, v, hold / sr, len(x) / sr)
            got.append(measures(y, hnsynth.midi_to_hz(p), hold, sr))
        gap = np.median(real - np.asarray(got), axis=0)  # (HNR, high band)
        gaps.append(gap)
        if progress:
            progress(f"calibrate {name}: round {r}, noise {noise:+.1f} dB, shelf {shelf:+.1f} dB: "
                     f"HNR gap {gap[0]:+.1f} dB, above 8 kHz {gap[1]:+.1f} dB")
        if r == rounds:
            break
        noise = float(np.clip(noise - gap[0], -lim, lim))  # rendered HNR too high: more noise
        shelf = float(np.clip(shelf + gap[1], -lim, lim))
    report = {"noise_db": round(noise, 2), "shelf_db": round(shelf, 2),
              "before": {"hnr_gap_db": round(float(gaps[0][0]), 2), "high_gap_db": round(float(gaps[0][1]), 2)},
              "after": {"hnr_gap_db": round(float(gaps[-1][0]), 2), "high_gap_db": round(float(gaps[-1][1]), 2)},
              "pitches": [k[0] for k in keys]}
    return calibration(noise, shelf), report


def rounded(cal: hnsynth.Calibration) -> dict:
    """What calibration.json keeps of one preset (dB, 2 decimals)."""
    return {"harmonic_db": [round(x, 2) for x in cal.harmonic_db],
            "noise_db": [round(x, 2) for x in cal.noise_db]}
