"""The polyphonic timbre synth: MIDI in, audio blocks out at any sample rate.

One :class:`Synth` is owned by one thread (the render thread live, the caller offline):
:meth:`Synth.handle` applies a MIDI message at the next frame, :meth:`Synth.render` returns
the next n samples (any n: whole frames are rendered into a small FIFO). Per frame (4 ms) it

1. builds each sounding voice's conditioning: its timbre z (gliding toward its channel's) and
   note features (pitch, velocity, gate, times since note-on and note-off);
2. runs the decoder step (ONNX Runtime) for all sounding voices at once: controls per voice;
3. renders them with the harmonic-plus-noise synthesiser (``livegen.core.hnsynth``) at the
   output rate: harmonics of the note's f0 (moved by at most the model's bounded deviation,
   so the pitch is right by construction) below Nyquist, and filtered noise scaled by the
   temperature;
4. fades out a stolen voice over the frame before its new note starts, sums the voices, and
   frees voices whose release has decayed.

Timbre: presets by name; each MIDI channel has a preset (``synth.channel_presets``, else
``synth.preset``), program change n selects the n-th preset (in file order), and the
``synth.morph_cc`` controller moves a channel's z toward ``synth.morph_preset``.
"""

from __future__ import annotations

import math

import numpy as np

from livegen.core import hnsynth
from livegen.core.voices import VoiceAllocator
from livegen.engine.timbre_files import TimbreFiles
from livegen.errors import ConfigError, EngineError

SILENT_RMS = 2e-4  # a released voice quieter than this over a frame is finished
MIN_RELEASE_S = 0.05
# The note set keeps 0.6 s after each note-off (livegen.train.wavenet.data.RenderSpec): the
# decoder never learned what a release does after that, and some timbres (the organ) hold a
# faint tone there. A voice released this long fades out over one frame and is freed.
TRAINED_RELEASE_S = 0.6
GLIDE_S = 0.02  # a sounding voice's timbre follows a change of z with this time constant


def mix_z(z_a: np.ndarray, z_b: np.ndarray, amount: float) -> np.ndarray:
    """Timbre interpolation: (1 - amount) * z_a + amount * z_b, amount clipped to [0, 1]."""
    t = min(max(float(amount), 0.0), 1.0)
    return ((1.0 - t) * np.asarray(z_a, np.float32) + t * np.asarray(z_b, np.float32)).astype(np.float32)


class Synth:
    def __init__(self, files: TimbreFiles, sample_rate: int | None = None, voices: int = 8,
                 temperature: float = 1.0, preset: str = "", channel_presets: str = "",
                 morph_cc: int = 1, morph_preset: str = "", gain: float = 1.0,
                 release_max_s: float = 3.0, seed: int = 0):
        if not files.presets:
            raise ConfigError(f"{files.folder}: has no presets.json, so there is no timbre to play")
        self.files = files
        self.dims = files.dims
        self.sample_rate = int(sample_rate or files.sample_rate)
        self.fs = hnsynth.FrameSynth(files.synth_dims, self.sample_rate)
        self.frame = self.fs.hop  # samples per frame at the output rate
        self.frame_s = self.frame / self.sample_rate
        self.engine_name = "onnx"
        self.names = list(files.presets)
        self.temperature = temperature
        self.gain = gain
        self.release_max_s = release_max_s
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
        V, Z, K = voices, files.dims["z_dim"], files.dims["n_harmonics"]
        self.ring = files.new_ring(V)
        self.bank = hnsynth.VoiceBank.new(V, self.frame)
        self.f0 = np.full(V, 440.0)
        self.mask = np.zeros((V, K), np.float32)
        self.velocity = np.zeros(V)
        self.channel = np.zeros(V, np.int64)
        self.t_on = np.zeros(V, np.int64)  # frames since note-on
        self.t_off = np.full(V, -1, np.int64)  # frames since note-off, -1 while held
        self.z = np.zeros((V, Z), np.float32)  # each voice's timbre now (it glides to its channel's)
        self.glide = 1.0 - math.exp(-self.frame_s / GLIDE_S)  # per frame
        self.fading = np.zeros(V, bool)  # stolen: fades out over the next frame
        self.pending: dict[int, tuple[int, int, int]] = {}  # slot -> note waiting for its fade
        self.samples = 0  # rendered so far (the allocator's clock)
        self.finished = 0  # voices that decayed and were freed
        self._fifo = np.zeros(self.frame, np.float32)  # the last frame rendered ...
        self._fifo_pos = self.frame  # ... and how much of it has been returned

    def set_sample_rate(self, sample_rate: int) -> None:
        """Render at ``sample_rate`` from now on (the audio device's rate, once its stream is
        open). Only while no voice sounds: the voices' synthesis state is rebuilt."""
        if self.alloc.active():
            raise EngineError(f"the synth's sample rate cannot change (to {sample_rate} Hz) while "
                              f"{len(self.alloc.active())} voices sound; only while it is silent")
        self.sample_rate = int(sample_rate)
        self.fs = hnsynth.FrameSynth(self.files.synth_dims, self.sample_rate)
        self.frame = self.fs.hop
        self.frame_s = self.frame / self.sample_rate
        self.bank = hnsynth.VoiceBank.new(len(self.alloc.slots), self.frame)
        self.glide = 1.0 - math.exp(-self.frame_s / GLIDE_S)
        self._fifo = np.zeros(self.frame, np.float32)
        self._fifo_pos = self.frame

    def _preset(self, name: str, key: str) -> np.ndarray:
        if name not in self.files.presets:
            raise ConfigError(f"{key} = {name!r}: no such preset; the model has: {', '.join(self.names)}")
        return self.files.presets[name].copy()

    @property
    def active_voices(self) -> int:
        return len(self.alloc.active())

    def set_channel_z(self, channel: int, z: np.ndarray) -> None:
        """Play ``channel`` with timbre code ``z`` (an encoded sound, a morph) from now on."""
        z = np.asarray(z, np.float32)
        if z.shape != self.z.shape[1:]:
            raise ValueError(f"z must have {self.z.shape[1]} values, got shape {z.shape}")
        self.channel_base[channel] = z.copy()
        self.channel_z[channel] = z.copy()

    # -- MIDI -----------------------------------------------------------------------
    def handle(self, msg: bytes) -> None:
        """Apply one MIDI message (takes effect at the next frame)."""
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
                self.channel_z[ch] = mix_z(self.channel_base[ch], self.morph_target, msg[2] / 127.0)
        elif kind == 0xC0 and len(msg) >= 2:
            self.set_channel_z(ch, self.files.presets[self.names[msg[1] % len(self.names)]])

    def set_limit(self, limit: int) -> None:
        """Allow at most ``limit`` voices; the oldest beyond it fade out over the next frame."""
        self.alloc.limit = max(1, min(limit, len(self.alloc.slots)))
        sounding = [v for v in self.alloc.active() if not self.fading[v]]
        for _ in range(len(sounding) - self.alloc.limit):
            slot = self.alloc.oldest(among=sounding)
            sounding.remove(slot)
            self.fading[slot] = True
            self.pending.pop(slot, None)

    def _note_on(self, ch: int, pitch: int, velocity: int) -> None:
        slot, stolen = self.alloc.note_on(ch, pitch, velocity, self.samples)
        if stolen:
            self.fading[slot] = True
            self.pending[slot] = (ch, pitch, velocity)
        else:
            self._start(slot, ch, pitch, velocity)

    def _start(self, slot: int, ch: int, pitch: int, velocity: int) -> None:
        f0 = hnsynth.midi_to_hz(pitch)
        self.ring.reset([slot])
        self.bank.reset([slot])
        self.bank.f0[slot] = f0
        self.f0[slot] = f0
        self.mask[slot] = hnsynth.harmonic_mask(
            np.asarray([f0 * 2.0 ** (self.dims["max_dev_cents"] / 1200.0)]), self.mask.shape[1],
            self.sample_rate)[0]
        self.velocity[slot] = velocity
        self.channel[slot] = ch
        self.t_on[slot] = 0
        self.t_off[slot] = -1
        self.fading[slot] = False
        self.z[slot] = self.channel_z[ch]

    # -- audio ----------------------------------------------------------------------
    def render(self, n: int) -> np.ndarray:
        """The next n samples, float32 mono at ``sample_rate``."""
        out = np.empty(n, np.float32)
        pos = 0
        while pos < n:
            if self._fifo_pos == self.frame:
                self._fifo = self._render_frame()
                self._fifo_pos = 0
            k = min(n - pos, self.frame - self._fifo_pos)
            out[pos:pos + k] = self._fifo[self._fifo_pos:self._fifo_pos + k]
            pos += k
            self._fifo_pos += k
        return out

    def _render_frame(self) -> np.ndarray:
        voices = np.asarray(self.alloc.active(), np.int64)
        out = np.zeros(self.frame, np.float32)
        if len(voices):
            out += self._render_voices(voices).sum(axis=0) * self.gain
        self.samples += self.frame
        return out

    def _render_voices(self, voices: np.ndarray) -> np.ndarray:
        target = np.stack([self.channel_z[c] for c in self.channel[voices]])
        zv = self.z[voices] + self.glide * (target - self.z[voices])  # a morph never jumps
        self.z[voices] = zv
        t_on = (self.t_on[voices] * self.frame_s)[:, None]
        t_off = np.where(self.t_off[voices] < 0, -1.0, self.t_off[voices] * self.frame_s)[:, None]
        note = hnsynth.note_features(self.f0[voices], self.velocity[voices], t_on, t_off)[:, 0]
        amp, dist, dev, noise = self.files.step(self.ring, voices, np.concatenate([zv, note], axis=1))
        amps = hnsynth.harmonic_amplitudes(amp, dist, self.mask[voices])
        f0 = hnsynth.f0_of(self.f0[voices], dev)
        u = self.rng.random((len(voices), self.fs.bins), dtype=np.float32)
        audio = self.fs.render(self.bank, voices, amps, f0, noise, u, self.temperature)
        fade = self.fading[voices]
        if fade.any():
            audio[fade] *= np.linspace(1.0, 0.0, self.frame, dtype=np.float32)
        self.t_on[voices] += 1
        released = self.t_off[voices] >= 0
        self.t_off[voices[released]] += 1
        for j, slot in enumerate(voices):
            if self.fading[slot]:
                self.fading[slot] = False
                if slot in self.pending:
                    self._start(slot, *self.pending.pop(slot))
                else:
                    self.alloc.free(slot)
            elif self.t_off[slot] >= 0:
                released_s = self.t_off[slot] * self.frame_s
                if released_s > min(self.release_max_s, TRAINED_RELEASE_S):
                    self.fading[slot] = True  # out over the next frame, then freed: no click
                    self.finished += 1
                elif released_s > MIN_RELEASE_S and float(np.sqrt(np.mean(audio[j] ** 2))) < SILENT_RMS:
                    self.alloc.free(slot)
                    self.finished += 1
        return audio
