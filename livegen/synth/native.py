"""The synth's voices rendered by the native kernel (``hnkernel.c``, built with the package).

:class:`NativeVoices` keeps every voice's state (timbre code, decoder rings, oscillator phase,
wavetable, noise tail, frames since note-on and note-off) in the kernel, and renders all
sounding voices of a frame in one call that releases the interpreter lock. It has the same
interface as :class:`livegen.synth.reference.ReferenceVoices` (numpy and ONNX Runtime), which
the tests hold it equal to. Owned by the thread that renders.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np

from livegen.core import hnsynth
from livegen.errors import NativeError

# what a voice's frame asks of the caller (hnkernel.h)
NONE, FADED, EXPIRED, SILENT = 0, 1, 2, 3
# A released voice quieter than this over a frame is finished: -100 dBFS, under 16-bit
# dither. It was 2e-4 (-74 dBFS), which cut real releases off 0.15-0.3 s after the note-off
# while the decoder's learned release, like the real instrument's, still rang 50-65 dB under
# the note's peak (measured on the shipped presets against FluidR3: piano, violin, trumpet,
# flute); the evaluation's real-vs-rendered judge leaned on that cut for 6 of 8 presets.
SILENT_RMS = 1e-5
MIN_RELEASE_S = 0.05
# A released voice under this (-60 dBFS) is cut, not faded, when a new note takes its place:
# its tail is inaudible, and the fade would hold the new note back a frame (4 ms). With
# SILENT_RMS at -100 dBFS the releases ring on, and 16 voices struck again while the last 16
# still rang took 10.7-11.4 ms from key to sound instead of 6.7 (livegen bench live, 128 frames).
STEAL_CUT_RMS = 1e-3
# The note set keeps 0.6 s after each note-off (livegen.train.timbre.data.RenderSpec): the
# decoder never learned what a release does after that, and some timbres (the organ) hold a
# faint tone there. A voice released this long fades out over one frame and is freed.
TRAINED_RELEASE_S = 0.6
GLIDE_S = 0.02  # a sounding voice's timbre follows a change of z with this time constant

_module = None


def kernel():
    """The compiled module (``livegen.synth._hnkernel``); NativeError naming it if it cannot load."""
    global _module
    if _module is None:
        try:
            _hnkernel = importlib.import_module("livegen.synth._hnkernel")
        except ImportError as err:
            where = Path(__file__).with_name("_hnkernel.abi3.so")
            raise NativeError(f"the synth's native kernel {where} cannot be loaded ({err}): "
                              "reinstall livegen (pip builds it; ./dev.sh setup) or run "
                              "'python setup.py build_ext --inplace' in a source tree") from err
        _module = _hnkernel
    return _module


def describe() -> str:
    """One line naming the kernel and the instruction set it chose, or why it cannot load."""
    try:
        return f"native C kernel ({kernel().ffi.string(kernel().lib.lg_isa()).decode()})"
    except NativeError as err:
        return f"unavailable: {err}"


def weight_order(dims: dict) -> list[str]:
    """The decoder's parameters in the order the kernel reads them (torch Linear names)."""
    L = len(dims["dilations"])
    names = ["inp", "cond"] + [f"gate.{l}" for l in range(L)] + [f"res.{l}" for l in range(L - 1)]
    return names + ["skip", "h1", "h2"]


def flat_weights(state: dict[str, np.ndarray], dims: dict) -> np.ndarray:
    """The kernel's weight vector: per layer its weight transposed to (in, out), then its bias."""
    parts = []
    for name in weight_order(dims):
        w, b = state[f"{name}.weight"], state[f"{name}.bias"]
        parts += [np.ascontiguousarray(np.asarray(w, np.float32).T).ravel(), np.asarray(b, np.float32).ravel()]
    return np.concatenate(parts)


def kernel_dims(ffi, dims: dict, sd: hnsynth.SynthDims, sample_rate: int, voices: int, temperature: float,
                gain: float, release_max_s: float):
    """The kernel's lg_dims for a model (its dims, its synthesis dims) and the synth's settings."""
    hop = sd.hop(sample_rate)
    frame_s = hop / sample_rate
    d = ffi.new("lg_dims *")
    d.voices, d.sample_rate, d.hop = voices, sample_rate, hop
    d.z_dim, d.n_note = dims["z_dim"], hnsynth.N_NOTE_FEATURES
    d.channels, d.layers, d.head = dims["channels"], len(dims["dilations"]), dims["head"]
    d.n_harmonics, d.noise_bands, d.max_dev_cents = dims["n_harmonics"], dims["noise_bands"], dims["max_dev_cents"]
    d.frame_s = frame_s
    d.log_f0_center, d.log_f0_scale = hnsynth.LOG_F0_CENTER, hnsynth.LOG_F0_SCALE
    d.n_onset, d.n_release = len(hnsynth.ONSET_TAUS), len(hnsynth.RELEASE_TAUS)
    for i, t in enumerate(hnsynth.ONSET_TAUS):
        d.onset_taus[i] = t
    for i, t in enumerate(hnsynth.RELEASE_TAUS):
        d.release_taus[i] = t
    d.glide = 1.0 - np.exp(-frame_s / GLIDE_S)
    d.noise_scale, d.gain, d.release_max_s = temperature, gain, release_max_s
    d.trained_release_s, d.min_release_s, d.silent_rms = TRAINED_RELEASE_S, MIN_RELEASE_S, SILENT_RMS
    return d, hop


class NativeVoices:
    """Every voice of the synth in the native kernel. Owned by the thread that renders."""

    def __init__(self, files, sample_rate: int, voices: int, temperature: float, gain: float,
                 release_max_s: float):
        mod = kernel()
        self._ffi, self._lib = mod.ffi, mod.lib
        dims = files.dims
        self.z_dim = dims["z_dim"]
        sd = files.synth_dims
        d, self.hop = kernel_dims(self._ffi, dims, sd, sample_rate, voices, temperature, gain, release_max_s)
        self.bins = self.hop + 1
        weights = flat_weights(files.decoder_weights(), dims)
        bands = np.ascontiguousarray(hnsynth.band_matrix(sd, sample_rate), np.float32)
        window = np.ascontiguousarray(hnsynth.FrameSynth.window_of(self.hop))
        dil = np.asarray(dims["dilations"], np.int32)
        ptr = self._lib.lg_new(d, self._ffi.from_buffer("int[]", dil), self._ffi.from_buffer("float[]", weights),
                               len(weights), self._ffi.from_buffer("float[]", bands),
                               self._ffi.from_buffer("float[]", window))
        if ptr == self._ffi.NULL:
            raise NativeError(f"the native kernel refused the model in {files.folder} at {sample_rate} Hz "
                              f"with {voices} voices (its dims: {dims})")
        self._s = self._ffi.gc(ptr, self._lib.lg_free)
        self._mix = np.zeros(self.hop, np.float32)
        self._events = np.zeros(voices, np.int32)
        self._mix_p = self._ffi.from_buffer("float[]", self._mix)
        self._events_p = self._ffi.from_buffer("int[]", self._events)
        self._info = self._ffi.new("lg_voice_info *")

    def set_channel_z(self, channel: int, z: np.ndarray) -> None:
        z = np.ascontiguousarray(z, np.float32)
        self._lib.lg_set_channel_z(self._s, channel, self._ffi.from_buffer("float[]", z))

    def start(self, slot: int, channel: int, f0: float, f0_max: float, velocity: int) -> None:
        self._lib.lg_voice_start(self._s, slot, channel, f0, f0_max, float(velocity))

    def eq(self, slot: int, hgain: np.ndarray, ngain: np.ndarray) -> None:
        """Calibrate a voice just started: its harmonics' gains (K,) and noise bands' (B,)."""
        h = np.ascontiguousarray(hgain, np.float32)
        n = np.ascontiguousarray(ngain, np.float32)
        self._lib.lg_voice_eq(self._s, slot, self._ffi.from_buffer("float[]", h), self._ffi.from_buffer("float[]", n))

    def release(self, slot: int) -> None:
        self._lib.lg_voice_release(self._s, slot)

    def fade(self, slot: int) -> None:
        self._lib.lg_voice_fade(self._s, slot)

    def state(self, slot: int) -> dict:
        """A voice's bookkeeping (for tests and displays)."""
        i = self._info
        self._lib.lg_voice_state(self._s, slot, i)
        z = np.zeros(self.z_dim, np.float32)
        self._lib.lg_voice_z(self._s, slot, self._ffi.from_buffer("float[]", z))
        return {"fading": bool(i.fading), "channel": i.channel, "t_on": i.t_on, "t_off": i.t_off,
                "ring_frame": i.ring_frame, "f0": i.f0, "velocity": i.velocity, "z": z, "rms": i.rms}

    def quiet_release(self, slot: int) -> bool:
        """The voice is released and its latest frame was under STEAL_CUT_RMS."""
        i = self._info
        self._lib.lg_voice_state(self._s, slot, i)
        return i.t_off >= 0 and i.rms < STEAL_CUT_RMS

    def render(self, slots: np.ndarray, uniforms: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """One frame of the voices ``slots`` (J,) int32 with noise phases ``uniforms`` (J, bins)
        float32 in [0, 1) -> (the mix (hop,), events (J,), number of events). The arrays
        returned are reused by the next call."""
        J = len(slots)
        n = self._lib.lg_render(self._s, self._ffi.from_buffer("int[]", slots), J,
                                self._ffi.from_buffer("float[]", uniforms), self._mix_p, self._events_p)
        return self._mix, self._events[:J], n
