"""The synth's voices in numpy and ONNX Runtime: the reference the native kernel is held to.

:class:`ReferenceVoices` has the interface of :class:`livegen.synth.native.NativeVoices` and
renders a frame the slow, readable way: the decoder step through ONNX Runtime
(``decoder_step.onnx``, the ring buffer in numpy) and the harmonic-plus-noise synthesis of
:class:`livegen.core.hnsynth.FrameSynth`. livegen never plays through it: the tests compare the
kernel with it, and ``livegen bench synth`` times the two side by side.
"""

from __future__ import annotations

import math

import numpy as np

from livegen.core import hnsynth
from livegen.synth.native import (EXPIRED, FADED, GLIDE_S, MIN_RELEASE_S, NONE, SILENT, SILENT_RMS,
                                  STEAL_CUT_RMS, TRAINED_RELEASE_S)


class ReferenceVoices:
    def __init__(self, files, sample_rate: int, voices: int, temperature: float, gain: float,
                 release_max_s: float):
        self.files = files
        dims = files.dims
        self.fs = hnsynth.FrameSynth(files.synth_dims, sample_rate)
        self.hop, self.bins = self.fs.hop, self.fs.bins
        self.frame_s = self.hop / sample_rate
        self.glide = 1.0 - math.exp(-self.frame_s / GLIDE_S)
        self.temperature, self.gain, self.release_max_s = temperature, gain, release_max_s
        V, Z, K = voices, dims["z_dim"], dims["n_harmonics"]
        self.ring = files.new_ring(V)
        self.bank = hnsynth.VoiceBank.new(V, self.hop)
        self.f0 = np.full(V, 440.0)
        self.mask = np.zeros((V, K), np.float32)
        self.ngain = np.ones((V, files.synth_dims.noise_bands), np.float32)
        self.velocity = np.zeros(V)
        self.channel = np.zeros(V, np.int64)
        self.t_on = np.zeros(V, np.int64)  # frames since note-on
        self.t_off = np.full(V, -1, np.int64)  # frames since note-off, -1 while held
        self.z = np.zeros((V, Z), np.float32)
        self.channel_z = np.zeros((16, Z), np.float32)
        self.fading = np.zeros(V, bool)
        self.rms = np.zeros(V, np.float32)  # each voice's latest frame

    def set_channel_z(self, channel: int, z: np.ndarray) -> None:
        self.channel_z[channel] = z

    def start(self, slot: int, channel: int, f0: float, f0_max: float, velocity: int) -> None:
        self.ring.reset([slot])
        self.bank.reset([slot])
        self.bank.f0[slot] = f0
        self.f0[slot] = f0
        self.mask[slot] = hnsynth.harmonic_mask(np.asarray([f0_max]), self.mask.shape[1], self.fs.sample_rate)[0]
        self.ngain[slot] = 1.0
        self.velocity[slot] = velocity
        self.channel[slot] = channel
        self.t_on[slot] = 0
        self.t_off[slot] = -1
        self.fading[slot] = False
        self.rms[slot] = 0.0
        self.z[slot] = self.channel_z[channel]

    def eq(self, slot: int, hgain: np.ndarray, ngain: np.ndarray) -> None:
        self.mask[slot] *= hgain
        self.ngain[slot] = ngain

    def release(self, slot: int) -> None:
        self.t_off[slot] = 0

    def fade(self, slot: int) -> None:
        self.fading[slot] = True

    def state(self, slot: int) -> dict:
        return {"fading": bool(self.fading[slot]), "channel": int(self.channel[slot]),
                "t_on": int(self.t_on[slot]), "t_off": int(self.t_off[slot]),
                "ring_frame": int(self.ring.frame[slot]), "f0": float(self.f0[slot]),
                "velocity": float(self.velocity[slot]), "z": self.z[slot].copy(), "rms": float(self.rms[slot])}

    def quiet_release(self, slot: int) -> bool:
        return self.t_off[slot] >= 0 and self.rms[slot] < STEAL_CUT_RMS

    def render(self, slots: np.ndarray, uniforms: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        voices = np.asarray(slots, np.int64)
        if not len(voices):
            return np.zeros(self.hop, np.float32), np.zeros(0, np.int32), 0
        target = self.channel_z[self.channel[voices]]
        zv = self.z[voices] + self.glide * (target - self.z[voices])  # a morph never jumps
        self.z[voices] = zv
        t_on = (self.t_on[voices] * self.frame_s)[:, None]
        t_off = np.where(self.t_off[voices] < 0, -1.0, self.t_off[voices] * self.frame_s)[:, None]
        note = hnsynth.note_features(self.f0[voices], self.velocity[voices], t_on, t_off)[:, 0]
        amp, dist, dev, noise = self.files.step(self.ring, voices, np.concatenate([zv, note], axis=1))
        amps = hnsynth.harmonic_amplitudes(amp, dist, self.mask[voices])
        f0 = hnsynth.f0_of(self.f0[voices], dev)
        noise = noise * self.ngain[voices]
        audio = self.fs.render(self.bank, voices, amps, f0, noise, uniforms, self.temperature)
        fade = self.fading[voices]
        if fade.any():
            audio[fade] *= np.linspace(1.0, 0.0, self.hop, dtype=np.float32)
        self.rms[voices] = np.sqrt(np.mean(audio.astype(np.float64) ** 2, axis=1))
        self.t_on[voices] += 1
        released = self.t_off[voices] >= 0
        self.t_off[voices[released]] += 1
        events = np.zeros(len(voices), np.int32)
        for j, slot in enumerate(voices):
            if self.fading[slot]:
                self.fading[slot] = False
                events[j] = FADED
            elif self.t_off[slot] >= 0:
                released_s = self.t_off[slot] * self.frame_s
                if released_s > min(self.release_max_s, TRAINED_RELEASE_S):
                    self.fading[slot] = True  # out over the next frame, then freed: no click
                    events[j] = EXPIRED
                elif released_s > MIN_RELEASE_S and float(np.sqrt(np.mean(audio[j] ** 2))) < SILENT_RMS:
                    events[j] = SILENT
        return audio.sum(axis=0) * self.gain, events, int(np.count_nonzero(events != NONE))
