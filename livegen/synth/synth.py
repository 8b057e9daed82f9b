"""The polyphonic WaveNet synth: MIDI in, 16 kHz audio blocks out.

One :class:`Synth` is owned by one thread (the render thread live, the caller
offline): :meth:`Synth.handle` applies a MIDI message at the next block,
:meth:`Synth.render` produces the next block. Per block it

1. builds each sounding voice's excitation (an oscillator at the note's f0, so the
   pitch is right by construction) and frame features (timbre z, pitch, velocity,
   gate and envelope times), and turns the features into per-layer biases with the
   conditioning graph;
2. runs the decoder engine (the compiled kernel, or ONNX Runtime) for all sounding
   voices at once, drawing samples from pre-drawn uniforms at the temperature;
3. decodes mu-law, applies fades (a stolen voice fades out over one block before its
   new note starts), sums the voices, and frees voices whose release has decayed.

Timbre: presets by name; each MIDI channel has a preset (``synth.channel_presets``,
else ``synth.preset``), program change n selects the n-th preset (in file order), and
the ``synth.morph_cc`` controller moves a channel's z toward ``synth.morph_preset``;
voices follow z changes frame by frame, which keeps morphing free of clicks.
"""

from __future__ import annotations

import math

import numpy as np

from livegen.core import dsp
from livegen.core.voices import VoiceAllocator
from livegen.engine.kernel import DecoderState
from livegen.engine.wavenet_files import WaveNetFiles
from livegen.errors import ConfigError

FIRST_CLASS = 128  # mu-law silence: what a voice has "heard" before its first sample
SILENT_RMS = 3e-4  # a released voice quieter than this over a block is finished
MIN_RELEASE_S = 0.05
GLIDE_S = 0.02  # a sounding voice's timbre follows a change of z with this time constant


def make_engine(files: WaveNetFiles, engine: str, threads: int, thread_init=None):
    """The decoder engine for synth.engine: 'c' (kernel), 'onnx', or 'auto' (kernel if it builds)."""
    from livegen.engine.ort_decoder import OrtDecoder
    if engine == "onnx":
        return OrtDecoder(files), "onnx"
    from livegen.engine.kernel import KernelDecoder
    from livegen.errors import DeviceError
    try:
        return KernelDecoder(files.kernel_weights(), threads=threads, thread_init=thread_init), "c"
    except DeviceError:
        if engine == "c":
            raise
        return OrtDecoder(files), "onnx"


def frame_features(z: np.ndarray, f0: np.ndarray, velocity: np.ndarray, t_on: np.ndarray,
                   t_off: np.ndarray) -> np.ndarray:
    """dsp.frame_features for many voices and frames at once.

    z (J, Z) or per frame (J, F, Z); f0, velocity (J,); t_on, t_off (J, F) seconds (t_off < 0:
    key held) -> (J, F, C).
    """
    J, F = t_on.shape
    held = t_off < 0
    logf = (np.log(f0) - dsp.LOG_F0_CENTER) / dsp.LOG_F0_SCALE
    z = z if z.ndim == 3 else np.broadcast_to(z[:, None, :], (J, F, z.shape[-1]))
    cols = [z,
            np.broadcast_to(logf[:, None, None], (J, F, 1)),
            np.broadcast_to((velocity / 127.0)[:, None, None], (J, F, 1)),
            held[..., None].astype(np.float64)]
    cols += [np.exp(-np.maximum(t_on, 0.0) / tau)[..., None] for tau in dsp.ONSET_TAUS]
    cols += [np.where(held, 0.0, np.exp(-np.maximum(t_off, 0.0) / tau))[..., None]
             for tau in dsp.RELEASE_TAUS]
    return np.concatenate(cols, axis=-1).astype(np.float32)


class Synth:
    def __init__(self, files: WaveNetFiles, voices: int = 8, temperature: float = 0.8,
                 engine: str = "auto", preset: str = "", channel_presets: str = "",
                 morph_cc: int = 1, morph_preset: str = "", gain: float = 1.0,
                 release_max_s: float = 3.0, threads: int = 2, seed: int = 0, thread_init=None):
        if not files.presets:
            raise ConfigError(f"{files.folder}: has no presets.json, so there is no timbre to play")
        self.files = files
        self.dims = files.dims
        self.frame = files.dims["frame"]
        self.sample_rate = files.dims["sample_rate"]
        self.n_harmonics = files.dims["n_harmonics"]
        self.engine, self.engine_name = make_engine(files, engine, threads, thread_init)
        self.names = list(files.presets)
        self.temperature = temperature
        self.gain = gain
        self.release_max = int(release_max_s * self.sample_rate)
        self.rng = np.random.default_rng(seed)
        default = self._preset(preset or self.names[0], "synth.preset")
        per_channel = [s.strip() for s in channel_presets.split(",")] if channel_presets else []
        self.channel_z = [self._preset(per_channel[c], "synth.channel_presets")
                          if c < len(per_channel) and per_channel[c] else default.copy()
                          for c in range(16)]
        self.channel_base = [z.copy() for z in self.channel_z]
        self.morph_cc = morph_cc
        self.morph_target = self._preset(morph_preset, "synth.morph_preset") if morph_preset else None
        self.alloc = VoiceAllocator(voices)
        V, Z = voices, files.dims["z_dim"]
        self.state = DecoderState(np.zeros((V, int(files.dilations.sum()) * files.dims["residual"]),
                                           np.float32), np.zeros(V, np.int64),
                                  np.full(V, FIRST_CLASS, np.int32))
        self.f0 = np.full(V, 440.0)
        self.velocity = np.zeros(V)
        self.channel = np.zeros(V, np.int64)
        self.phase = np.zeros(V)
        self.t_on = np.zeros(V, np.int64)  # samples since note-on
        self.t_off = np.full(V, -1, np.int64)  # samples since note-off, -1 while held
        self.z = np.zeros((V, Z), np.float32)  # each voice's timbre now (it glides to its channel's)
        self.glide = 1.0 - math.exp(-self.frame / (GLIDE_S * self.sample_rate))  # per frame
        self.fading = np.zeros(V, bool)  # stolen: fade out over the next block
        self.pending: dict[int, tuple[int, int, int]] = {}  # slot -> note waiting for its fade
        self.samples = 0  # rendered so far (the allocator's clock)
        self.finished = 0  # voices that decayed and were freed

    def _preset(self, name: str, key: str) -> np.ndarray:
        if name not in self.files.presets:
            raise ConfigError(f"{key} = {name!r}: no such preset; the model has: {', '.join(self.names)}")
        return self.files.presets[name].copy()

    @property
    def active_voices(self) -> int:
        return len(self.alloc.active())

    # -- MIDI -----------------------------------------------------------------------
    def handle(self, msg: bytes) -> None:
        """Apply one MIDI message (takes effect at the next block)."""
        if not msg:
            return
        kind, ch = msg[0] & 0xF0, msg[0] & 0x0F
        if kind == 0x90 and len(msg) >= 3 and msg[2] > 0:
            self._note_on(ch, msg[1], msg[2])
        elif kind in (0x80, 0x90) and len(msg) >= 3:
            slot = self.alloc.note_off(ch, msg[1], self.samples)
            if slot is not None:
                self.t_off[slot] = 0
            for s, (pch, pitch, _) in list(self.pending.items()):
                if (pch, pitch) == (ch, msg[1]):  # released before its fade ended: never starts
                    del self.pending[s]
        elif kind == 0xB0 and len(msg) >= 3:
            if msg[1] in (120, 123):  # All Sound Off, All Notes Off
                for slot in self.alloc.release_all(self.samples, ch):
                    self.t_off[slot] = 0
                self.pending = {s: n for s, n in self.pending.items() if n[0] != ch}
            elif msg[1] == self.morph_cc and self.morph_target is not None:
                m = msg[2] / 127.0
                self.channel_z[ch] = ((1 - m) * self.channel_base[ch] + m * self.morph_target)
        elif kind == 0xC0 and len(msg) >= 2:
            name = self.names[msg[1] % len(self.names)]
            self.channel_base[ch] = self.files.presets[name].copy()
            self.channel_z[ch] = self.channel_base[ch].copy()

    def set_limit(self, limit: int) -> None:
        """Allow at most ``limit`` voices; the oldest beyond it fade out over the next block."""
        self.alloc.limit = max(1, min(limit, len(self.alloc.slots)))
        sounding = [v for v in self.alloc.active() if not self.fading[v]]
        for _ in range(len(sounding) - self.alloc.limit):
            slot = self.alloc.oldest(among=sounding)
            sounding.remove(slot)
            self.fading[slot] = True
            self.pending.pop(slot, None)

    def panic(self) -> None:
        """Silence everything now (no release)."""
        for slot in self.alloc.active():
            self.alloc.free(slot)
        self.pending.clear()
        self.fading[:] = False

    def _note_on(self, ch: int, pitch: int, velocity: int) -> None:
        slot, stolen = self.alloc.note_on(ch, pitch, velocity, self.samples)
        if stolen:
            self.fading[slot] = True
            self.pending[slot] = (ch, pitch, velocity)
        else:
            self._start(slot, ch, pitch, velocity)

    def _start(self, slot: int, ch: int, pitch: int, velocity: int) -> None:
        self.state.hist[slot] = 0.0
        self.state.pos[slot] = 0
        self.state.prev[slot] = FIRST_CLASS
        self.f0[slot] = dsp.midi_to_hz(pitch)
        self.velocity[slot] = velocity
        self.channel[slot] = ch
        self.phase[slot] = 0.0
        self.t_on[slot] = 0
        self.t_off[slot] = -1
        self.fading[slot] = False
        self.z[slot] = self.channel_z[ch]

    # -- audio ----------------------------------------------------------------------
    def render(self, n: int) -> np.ndarray:
        """The next n samples (a multiple of the frame), float32 mono at the model's rate."""
        if n % self.frame:
            raise ValueError(f"block of {n} samples is not a multiple of the frame {self.frame}")
        out = np.zeros(n, np.float32)
        voices = np.asarray(self.alloc.active(), np.int32)
        if len(voices):
            out += self._render_voices(voices, n)
        self.samples += n
        return out

    def _render_voices(self, voices: np.ndarray, n: int) -> np.ndarray:
        sr, F = self.sample_rate, n // self.frame
        step = 2 * math.pi * self.f0[voices] / sr
        phase = self.phase[voices, None] + step[:, None] * np.arange(n)
        self.phase[voices] = (self.phase[voices] + step * n) % (2 * math.pi)
        k = np.arange(1, self.n_harmonics + 1)
        arg = phase[..., None] * k
        exc = np.concatenate([np.sin(arg), np.cos(arg)], axis=-1).astype(np.float32)
        starts = np.arange(F) * self.frame
        t_on = (self.t_on[voices, None] + starts) / sr
        t_off = np.where(self.t_off[voices, None] < 0, -1.0, (self.t_off[voices, None] + starts) / sr)
        target = np.stack([self.channel_z[c] for c in self.channel[voices]])
        z = np.empty((len(voices), F, target.shape[1]), np.float32)
        zv = self.z[voices]
        for f in range(F):  # glide frame by frame: a morph or program change never jumps
            zv += self.glide * (target - zv)
            z[:, f] = zv
        self.z[voices] = zv
        feats = frame_features(z, self.f0[voices], self.velocity[voices], t_on, t_off)
        bias = self.files.conditioning.run(None, {"cond": feats})[0]
        u = self.rng.random((len(voices), n), dtype=np.float32)
        temp = np.full(len(voices), self.temperature, np.float32)
        classes = self.engine.render(self.state, bias, exc, u, temp, voices=voices)
        audio = dsp.mu_law_decode(classes, self.dims["n_classes"] - 1)  # (J, n)
        fade = self.fading[voices]
        if fade.any():
            audio[fade] *= np.linspace(1.0, 0.0, n, dtype=np.float32)
        self.t_on[voices] += n
        released = self.t_off[voices] >= 0
        self.t_off[voices[released]] += n
        for j, slot in enumerate(voices):
            if self.fading[slot]:
                self.fading[slot] = False
                if slot in self.pending:
                    self._start(slot, *self.pending.pop(slot))
                else:
                    self.alloc.free(slot)
            elif self.t_off[slot] >= 0 and (
                    self.t_off[slot] > self.release_max
                    or (self.t_off[slot] > MIN_RELEASE_S * self.sample_rate
                        and float(np.sqrt(np.mean(audio[j] ** 2))) < SILENT_RMS)):
                self.alloc.free(slot)
                self.finished += 1
        return audio.sum(axis=0) * self.gain
