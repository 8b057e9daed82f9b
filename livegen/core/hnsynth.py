"""Harmonic-plus-noise synthesis driven by frame-rate controls, and the note features.

Pure numpy: the realtime synth renders with it, and the trainer (torch) reproduces the same
math on whole crops (``livegen.train.timbre.model.synthesize``); a test holds the two equal.

A voice is described once per *frame* (``SynthDims.frame_s``, 4 ms) by controls:

- ``amps`` (K,): the amplitude of each harmonic k*f0, k = 1..K, already band-limited (zero at
  or above Nyquist);
- ``f0`` Hz: the frame's fundamental (the note's pitch times the decoder's small deviation);
- ``noise`` (B,): gains of B noise bands whose centres are fixed in Hz
  (:func:`band_centers`), so the same model renders at any device rate.

Within frame f the controls move linearly from frame f-1's values to frame f's (a voice starts
from silence: amplitudes 0 at frame -1), so nothing is looked ahead and a note fades in over
its first frame. The harmonic part is read from one single-cycle wavetable per voice and frame
(the harmonic sum at phase 0..1, built by an inverse FFT) and cross-faded between frames,
which equals the harmonic sum with linearly interpolated amplitudes. The noise part is white
noise shaped per frame in the frequency domain: a grain of 2 frames, sqrt-Hann windowed,
overlap-added with a hop of one frame (grain f covers frames f and f+1).
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass

import numpy as np

TABLE = 1024  # wavetable length: with linear interpolation harmonic 96 is 0.25 dB low and its
# images 40 dB below it
PHASES = 4096  # the noise's random phases are drawn from this many steps of the circle
ONSET_TAUS = (0.01, 0.05, 0.25, 1.0)  # seconds: note features decaying after note-on
RELEASE_TAUS = (0.03, 0.25)  # seconds: after note-off
N_NOTE_FEATURES = 3 + len(ONSET_TAUS) + len(RELEASE_TAUS)  # log f0, velocity, gate, decays
LOG_F0_CENTER = math.log(261.63)  # C4
LOG_F0_SCALE = math.log(2.0) * 2.0  # +-2 octaves -> +-1


@dataclass(frozen=True)
class SynthDims:
    """What the synthesiser needs to know of a model (stored in its files)."""

    frame_s: float = 0.004
    n_harmonics: int = 96
    noise_bands: int = 40
    max_band_hz: float = 24000.0
    max_dev_cents: float = 50.0  # the decoder's pitch deviation is bounded by this

    def hop(self, sample_rate: int) -> int:
        """Samples per frame at ``sample_rate``."""
        return max(16, int(round(self.frame_s * sample_rate)))

    def to_dict(self) -> dict:
        return asdict(self)


def midi_to_hz(pitch: float) -> float:
    return 440.0 * 2.0 ** ((pitch - 69.0) / 12.0)


def hz_to_midi(f0: float) -> float:
    return 69.0 + 12.0 * math.log2(f0 / 440.0)


# ------------------------------------------------------------------------------------------
# note features: the decoder's per-frame input besides the timbre code z


def note_features(f0: np.ndarray, velocity: np.ndarray, t_on: np.ndarray,
                  t_off: np.ndarray) -> np.ndarray:
    """The decoder's note input for many voices and frames.

    f0 Hz and velocity 0..127: (J,); t_on: (J, F) seconds since note-on at each frame's start;
    t_off: (J, F) seconds since note-off (< 0 while the key is held) -> (J, F, N_NOTE_FEATURES)
    float32: normalised log f0, velocity/127, gate, exp(-t_on/tau) for ONSET_TAUS,
    (1 - gate) exp(-t_off/tau) for RELEASE_TAUS.
    """
    f0 = np.asarray(f0, np.float64)
    J, F = np.shape(t_on)
    held = np.asarray(t_off) < 0
    cols = [np.broadcast_to(((np.log(f0) - LOG_F0_CENTER) / LOG_F0_SCALE)[:, None], (J, F)),
            np.broadcast_to((np.asarray(velocity, np.float64) / 127.0)[:, None], (J, F)),
            held.astype(np.float64)]
    cols += [np.exp(-np.maximum(t_on, 0.0) / tau) for tau in ONSET_TAUS]
    cols += [np.where(held, 0.0, np.exp(-np.maximum(t_off, 0.0) / tau)) for tau in RELEASE_TAUS]
    return np.stack(cols, axis=-1).astype(np.float32)


def note_times(n_frames: int, frame_s: float, hold_s, start_frame=0) -> tuple[np.ndarray, np.ndarray]:
    """(t_on, t_off), each (J, n_frames), at the start of frames start..start+n of notes held
    ``hold_s`` seconds: hold_s and start_frame are (J,) or scalars (J = 1); t_off < 0 while held."""
    hold = np.atleast_1d(np.asarray(hold_s, np.float64))[:, None]
    t = (np.atleast_1d(start_frame)[:, None] + np.arange(n_frames)) * frame_s
    t = np.broadcast_to(t, (max(len(hold), len(t)), n_frames))
    return t, np.where(t < hold, -1.0, t - hold)


# ------------------------------------------------------------------------------------------
# controls


def band_centers(dims: SynthDims) -> np.ndarray:
    """Centre frequencies (Hz) of the noise bands: evenly spaced on the mel scale up to
    ``max_band_hz``, the first at 0 Hz. (B,)"""
    mel = 2595.0 * np.log10(1.0 + dims.max_band_hz / 700.0)
    return 700.0 * (10.0 ** (np.linspace(0.0, mel, dims.noise_bands) / 2595.0) - 1.0)


def band_matrix(dims: SynthDims, sample_rate: int) -> np.ndarray:
    """(B, bins) weights that turn band gains into the gains of a grain's FFT bins
    (piecewise linear between band centres; bins beyond the last centre keep its gain).
    DC and the Nyquist bin get 0, so the noise has no offset."""
    hop = dims.hop(sample_rate)
    freqs = np.fft.rfftfreq(2 * hop, 1.0 / sample_rate)
    c = band_centers(dims)
    m = np.zeros((len(c), len(freqs)))
    for b in range(len(c)):
        y = np.zeros(len(c))
        y[b] = 1.0
        m[b] = np.interp(freqs, c, y)
    m[:, 0] = 0.0
    m[:, -1] = 0.0
    return m.astype(np.float32)


def harmonic_mask(f0_max: np.ndarray, n_harmonics: int, sample_rate: int) -> np.ndarray:
    """(J, K) 1 where harmonic k of a voice whose f0 never exceeds ``f0_max`` stays below
    Nyquist, else 0."""
    k = np.arange(1, n_harmonics + 1)
    return (np.asarray(f0_max, np.float64)[:, None] * k < 0.5 * sample_rate).astype(np.float32)


def harmonic_amplitudes(amp: np.ndarray, dist: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """amp (..., 1) overall amplitude, dist (..., K) a distribution over harmonics, mask (..., K)
    -> (..., K): amp * dist restricted to the harmonics below Nyquist and renormalised.
    Shares below 1e-7 (-140 dB) become 0: denormal floats would slow every product down."""
    d = np.where(dist > 1e-7, dist, 0.0).astype(np.float32) * mask
    return amp * d / np.maximum(d.sum(axis=-1, keepdims=True), 1e-7)


# ------------------------------------------------------------------------------------------
# calibration: a preset's level of harmonics and noise per band, measured against its real notes

EQ_BANDS_HZ = (125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 6000.0, 8000.0, 11000.0, 16000.0)
EQ_MAX_DB = 30.0
_LOG_EQ_BANDS = np.log(np.asarray(EQ_BANDS_HZ))


@dataclass(frozen=True)
class Calibration:
    """Gains in dB at :data:`EQ_BANDS_HZ` (interpolated in log frequency, constant beyond the
    ends) for a preset's harmonics and its noise (``livegen presets calibrate``)."""

    harmonic_db: tuple[float, ...]
    noise_db: tuple[float, ...]

    @staticmethod
    def flat() -> "Calibration":
        return Calibration((0.0,) * len(EQ_BANDS_HZ), (0.0,) * len(EQ_BANDS_HZ))

    def mix(self, other: "Calibration", amount: float) -> "Calibration":
        """(1 - amount) of this and ``amount`` of ``other``, in dB (a morph's calibration)."""
        t = min(max(float(amount), 0.0), 1.0)
        return Calibration(tuple((1 - t) * a + t * b for a, b in zip(self.harmonic_db, other.harmonic_db)),
                           tuple((1 - t) * a + t * b for a, b in zip(self.noise_db, other.noise_db)))

    def gains(self, f0: float, n_harmonics: int, dims: SynthDims) -> tuple[np.ndarray, np.ndarray]:
        """The linear gains of harmonics 1..K of a note at ``f0`` Hz, (K,), and of the noise
        bands, (B,), float32."""
        fk = np.log(f0 * np.arange(1, n_harmonics + 1))
        hg = 10.0 ** (np.interp(fk, _LOG_EQ_BANDS, self.harmonic_db) / 20.0)
        return hg.astype(np.float32), _noise_gains(self, dims)


@functools.lru_cache(maxsize=64)
def _noise_gains(calibration: Calibration, dims: SynthDims) -> np.ndarray:
    """A calibration's noise band gains (B,) float32: the same for every note (read-only)."""
    logb = np.log(np.maximum(band_centers(dims), 1.0))
    ng = (10.0 ** (np.interp(logb, _LOG_EQ_BANDS, calibration.noise_db) / 20.0)).astype(np.float32)
    ng.flags.writeable = False
    return ng


def f0_of(f0_note: np.ndarray, dev_cents: np.ndarray) -> np.ndarray:
    """The frame's fundamental: the note's f0 moved by the decoder's deviation (cents)."""
    return np.asarray(f0_note) * 2.0 ** (np.asarray(dev_cents) / 1200.0)


# ------------------------------------------------------------------------------------------
# the oscillator bank and the noise, one frame at a time


@dataclass
class VoiceBank:
    """Synthesis state of V voices (owned by the thread that renders)."""

    phase: np.ndarray  # (V,) float64 cycles in [0, 1)
    f0: np.ndarray  # (V,) the previous frame's f0, Hz
    table: np.ndarray  # (V, TABLE + 1) the previous frame's wavetable (last = first sample)
    tail: np.ndarray  # (V, hop) the second half of the previous frame's noise grain

    @classmethod
    def new(cls, voices: int, hop: int) -> "VoiceBank":
        return cls(np.zeros(voices), np.full(voices, 440.0), np.zeros((voices, TABLE + 1), np.float32),
                   np.zeros((voices, hop), np.float32))

    def reset(self, slots) -> None:
        """Voices in ``slots`` start from silence."""
        self.phase[slots] = 0.0
        self.table[slots] = 0.0
        self.tail[slots] = 0.0


class FrameSynth:
    """Renders frames of many voices at one sample rate: ``render(controls...) -> audio``."""

    def __init__(self, dims: SynthDims, sample_rate: int):
        self.dims = dims
        self.sample_rate = int(sample_rate)
        self.hop = dims.hop(sample_rate)
        self.bands = band_matrix(dims, sample_rate)  # (B, bins)
        self.window = self.window_of(self.hop)
        self.alpha = (np.arange(self.hop) / self.hop).astype(np.float32)  # (hop,)
        self._phasors = np.exp(2j * np.pi * np.arange(PHASES) / PHASES).astype(np.complex64)
        s = np.arange(self.hop, dtype=np.float64)
        self._lin = s / self.sample_rate  # phase ramp of the previous f0
        self._quad = s * (s - 1) / (2.0 * self.hop * self.sample_rate)  # of the f0 change

    @staticmethod
    def window_of(hop: int) -> np.ndarray:
        """The noise grain's sqrt-Hann window, (2 hop,) float32."""
        return np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(2 * hop) / (2 * hop))).astype(np.float32)

    def tables(self, amps: np.ndarray) -> np.ndarray:
        """(J, K) harmonic amplitudes -> (J, TABLE + 1) one cycle of sum_k a_k sin(2 pi k x)."""
        J, K = amps.shape
        spec = np.zeros((J, TABLE // 2 + 1), np.complex64)
        spec[:, 1:K + 1] = (-0.5j * TABLE) * amps
        t = np.fft.irfft(spec, n=TABLE, axis=-1).astype(np.float32)
        return np.concatenate([t, t[:, :1]], axis=1)

    def render(self, bank: VoiceBank, voices: np.ndarray, amps: np.ndarray, f0: np.ndarray,
               noise: np.ndarray, uniforms: np.ndarray, noise_scale: float = 1.0) -> np.ndarray:
        """One frame of the voices in ``voices`` (J,): amps (J, K), f0 (J,) Hz, noise band gains
        (J, B), uniforms (J, bins) in [0, 1) for the noise phases -> (J, hop) float32 audio.
        Updates ``bank`` for those voices."""
        hop, J = self.hop, len(voices)
        # harmonic part: phase with the f0 moving linearly from the previous frame's to this one's
        f_prev = bank.f0[voices]
        df = f0 - f_prev
        ph = bank.phase[voices, None] + f_prev[:, None] * self._lin + df[:, None] * self._quad
        bank.phase[voices] = (bank.phase[voices] + f_prev * hop / self.sample_rate
                              + df * (hop - 1) / (2.0 * self.sample_rate)) % 1.0
        bank.f0[voices] = f0
        x = (ph - np.floor(ph)) * TABLE  # float64: in float32 a phase just below 1 rounds to TABLE
        i = np.minimum(x.astype(np.int32), TABLE - 1)  # 0..TABLE-1
        frac = (x - i).astype(np.float32)
        i += (np.arange(J, dtype=np.int32) * (TABLE + 1))[:, None]  # index into the flat tables
        new = self.tables(amps)
        old = bank.table[voices]
        a_old = old.take(i)
        a_old += frac * (old.take(i + 1) - a_old)
        a_new = new.take(i)
        a_new += frac * (new.take(i + 1) - a_new)
        out = a_new - a_old
        out *= self.alpha
        out += a_old
        bank.table[voices] = new
        # noise part: this frame's grain, overlap-added to the previous one's second half
        if noise_scale > 0.0:
            g = noise.astype(np.float32) @ self.bands  # (J, bins)
            spec = g * self._phasors.take((uniforms * PHASES).astype(np.int32))
            grain = np.fft.irfft(spec, n=2 * hop, axis=-1, norm="ortho").astype(np.float32)
            grain *= self.window
            tail = bank.tail[voices]
            tail += grain[:, :hop]
            tail *= noise_scale
            out += tail
            bank.tail[voices] = grain[:, hop:]
        else:
            bank.tail[voices] = 0.0
        return out

    @property
    def bins(self) -> int:
        return self.hop + 1
