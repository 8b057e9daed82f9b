"""The polyphonic timbre synth: MIDI in, audio blocks out at any sample rate.

One :class:`Synth` is owned by one thread (the render thread live, the caller offline):
:meth:`Synth.handle` applies a MIDI message at the next frame, :meth:`Synth.render` returns
the next n samples (any n: whole frames are rendered into a small FIFO). Per frame (4 ms) its
voices kernel (the native kernel, :mod:`livegen.synth.native`, in one call for all voices;
:mod:`livegen.synth.reference` is the same in numpy and ONNX Runtime, for the tests)

1. builds each sounding voice's conditioning: its timbre z (gliding toward its channel's) and
   note features (pitch, velocity, gate, times since note-on and note-off);
2. runs the decoder step for all sounding voices at once: controls per voice;
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

import numpy as np

from livegen.core import hnsynth
from livegen.core.pad import SetTimbre
from livegen.core.voices import VoiceAllocator
from livegen.engine.timbre import TimbreEngine
from livegen.errors import ConfigError, SynthError
from livegen.synth.native import EXPIRED, FADED, SILENT, NativeVoices


def kernel_class(name: str):
    """The voices' implementation: "native" (what livegen plays) or "reference" (numpy and
    ONNX Runtime: the tests' and the benchmark's yardstick)."""
    if name == "reference":
        from livegen.synth.reference import ReferenceVoices
        return ReferenceVoices
    if name != "native":
        raise ConfigError(f"synth kernel {name!r}: use native or reference")
    return NativeVoices


def mix_z(z_a: np.ndarray, z_b: np.ndarray, amount: float) -> np.ndarray:
    """Timbre interpolation: (1 - amount) * z_a + amount * z_b, amount clipped to [0, 1]."""
    t = min(max(float(amount), 0.0), 1.0)
    return ((1.0 - t) * np.asarray(z_a, np.float32) + t * np.asarray(z_b, np.float32)).astype(np.float32)


class Synth:
    def __init__(self, files: TimbreEngine, sample_rate: int | None = None, voices: int = 8,
                 temperature: float = 1.0, preset: str = "", channel_presets: str = "",
                 morph_cc: int = 1, morph_preset: str = "", gain: float = 1.0,
                 release_max_s: float = 3.0, seed: int = 0, kernel: str = "native"):
        if not files.presets:
            raise ConfigError(f"{files.folder}: has no presets.json, so there is no timbre to play")
        self.files = files
        self.dims = files.dims
        self.kernel_class = kernel_class(kernel)
        self.kernel_name = kernel
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
        self.channel_label = [per_channel[c] if c < len(per_channel) and per_channel[c] else
                              (preset or self.names[0]) for c in range(16)]  # what each plays
        self.channel_eq = [self.files.calibration_of(label) for label in self.channel_label]
        self.morph_cc = morph_cc
        self.morph_target = self._preset(morph_preset, "synth.morph_preset") if morph_preset else None
        self.morph_eq = self.files.calibration_of(morph_preset)  # flat without one
        self._flat = hnsynth.Calibration.flat()
        self.alloc = VoiceAllocator(voices)
        self.pending: dict[int, tuple[int, int, int]] = {}  # slot -> note waiting for its fade
        self.samples = 0  # rendered so far (the allocator's clock)
        self.finished = 0  # voices that decayed and were freed
        self._open_kernel(int(sample_rate or files.sample_rate))

    def _open_kernel(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self.kernel = self.kernel_class(self.files, sample_rate, len(self.alloc.slots), self.temperature,
                                        self.gain, self.release_max_s)
        for ch, z in enumerate(self.channel_z):
            self.kernel.set_channel_z(ch, z)
        self.frame = self.kernel.hop  # samples per frame at the output rate
        self.frame_s = self.frame / self.sample_rate
        self._fifo = np.zeros(self.frame, np.float32)  # the last frame rendered ...
        self._fifo_pos = self.frame  # ... and how much of it has been returned

    def set_sample_rate(self, sample_rate: int) -> None:
        """Render at ``sample_rate`` from now on (the audio device's rate, once its stream is
        open). Only while no voice sounds: the voices' synthesis state is rebuilt."""
        if self.alloc.active():
            raise SynthError("set_sample_rate while voices sound: open the audio stream before playing")
        self._open_kernel(int(sample_rate))

    def _preset(self, name: str, key: str) -> np.ndarray:
        if name not in self.files.presets:
            raise ConfigError(f"{key} = {name!r}: no such preset; the model has: {', '.join(self.names)}")
        return self.files.presets[name].copy()

    def set_channel_eq(self, channel: int, calibration: hnsynth.Calibration) -> None:
        """Calibrate the notes ``channel`` starts from now on."""
        self.channel_eq[channel] = calibration

    @property
    def active_voices(self) -> int:
        return len(self.alloc.active())

    @property
    def kernel_description(self) -> str:
        """What renders the voices, in words (for the status line and ``livegen devices``)."""
        from livegen.synth import native
        return native.describe() if self.kernel_name == "native" else "reference (numpy, ONNX Runtime)"

    def voice(self, slot: int) -> dict:
        """A voice's bookkeeping: fading, channel, t_on / t_off (frames), ring_frame, f0, z."""
        return self.kernel.state(slot)

    def set_channel_z(self, channel: int, z: np.ndarray) -> None:
        """Play ``channel`` with timbre code ``z`` (an encoded sound, a morph) from now on."""
        z = np.asarray(z, np.float32)
        if z.shape != (self.dims["z_dim"],):
            raise ConfigError(f"a timbre code must have {self.dims['z_dim']} values, got shape {z.shape}")
        self.channel_base[channel] = z.copy()
        self._channel_target(channel, z.copy())

    def _channel_target(self, channel: int, z: np.ndarray) -> None:
        self.channel_z[channel] = z
        self.kernel.set_channel_z(channel, z)

    def apply(self, cmd: SetTimbre) -> None:
        """Apply a :class:`SetTimbre` (takes effect at the next frame, gliding)."""
        for c in cmd.channels:
            self.set_channel_z(c, cmd.z)
            self.channel_label[c] = cmd.label
            self.channel_eq[c] = self.files.calibration_of(cmd.label)

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
                self.kernel.release(slot)
            for s, (pch, pitch, _) in list(self.pending.items()):
                if (pch, pitch) == (ch, msg[1]):  # released before its fade ended: never starts
                    del self.pending[s]
        elif kind == 0xB0 and len(msg) >= 3:
            if msg[1] in (120, 123):  # All Sound Off, All Notes Off
                for slot in self.alloc.release_all(self.samples, ch):
                    self.kernel.release(slot)
                self.pending = {s: n for s, n in self.pending.items() if n[0] != ch}
            elif msg[1] == self.morph_cc and self.morph_target is not None:
                self._channel_target(ch, mix_z(self.channel_base[ch], self.morph_target, msg[2] / 127.0))
                self.channel_eq[ch] = self.files.calibration_of(self.channel_label[ch]).mix(self.morph_eq, msg[2] / 127.0)
        elif kind == 0xC0 and len(msg) >= 2:
            name = self.names[msg[1] % len(self.names)]
            self.set_channel_z(ch, self.files.presets[name])
            self.channel_label[ch] = name
            self.channel_eq[ch] = self.files.calibration_of(name)

    def set_limit(self, limit: int) -> None:
        """Allow at most ``limit`` voices; the oldest beyond it fade out over the next frame."""
        self.alloc.limit = max(1, min(limit, len(self.alloc.slots)))
        sounding = [v for v in self.alloc.active() if not self.kernel.state(v)["fading"]]
        for _ in range(len(sounding) - self.alloc.limit):
            slot = self.alloc.oldest(among=sounding)
            sounding.remove(slot)
            self.kernel.fade(slot)
            self.pending.pop(slot, None)

    def _note_on(self, ch: int, pitch: int, velocity: int) -> None:
        slot, stolen = self.alloc.note_on(ch, pitch, velocity, self.samples)
        if stolen and not self.kernel.quiet_release(slot):  # (a quiet tail is cut: no fade, no wait)
            self.kernel.fade(slot)
            self.pending[slot] = (ch, pitch, velocity)
        else:
            self.pending.pop(slot, None)
            self._start(slot, ch, pitch, velocity)

    def _start(self, slot: int, ch: int, pitch: int, velocity: int) -> None:
        f0 = hnsynth.midi_to_hz(pitch)
        self.kernel.start(slot, ch, f0, f0 * 2.0 ** (self.dims["max_dev_cents"] / 1200.0), velocity)
        eq = self.channel_eq[ch]
        if eq != self._flat:
            self.kernel.eq(slot, *eq.gains(f0, self.dims["n_harmonics"], self.files.synth_dims))

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
        voices = np.asarray(self.alloc.active(), np.int32)
        u = self.rng.random((len(voices), self.kernel.bins), dtype=np.float32)
        mix, events, n_events = self.kernel.render(voices, u)
        if n_events:
            for slot, event in zip(voices.tolist(), events.tolist()):
                if event == FADED:  # a stolen voice's fade ended: its new note starts, or it is freed
                    if slot in self.pending:
                        self._start(slot, *self.pending.pop(slot))
                    else:
                        self.alloc.free(slot)
                elif event == EXPIRED:  # released longer than the model learned: fading out
                    self.finished += 1
                elif event == SILENT:
                    self.alloc.free(slot)
                    self.finished += 1
        self.samples += self.frame
        return mix.copy()
