"""Training batches for the timbre model (numpy, no torch).

Every step draws one *global* batch from a generator seeded by (seed, step), so a run can be
repeated and every data-parallel rank draws the same batch and keeps its own rows.

A row is one note: the note features of its frames from ``w0`` to the end of its crop, where
``w0`` is the note-on or, later in a note, the crop's start less the decoder's receptive field
(the decoder's output in the crop depends on nothing earlier, so it is exact),
the crop of real audio to match (``crop_frames`` frames, starting at the onset for a share of
rows, else anywhere in the note), noise phases for the crop's grains, and the encoder's input:
the log-mel frames of *another* note of the same instrument, so that z learns the instrument
rather than the note. Notes are pitch-shifted by up to ``max_shift`` semitones (the audio
resampled, the hold time and f0 scaled with it), so f0 is covered continuously.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from livegen.core import hnsynth
from livegen.synth.encoding import encoder_input
from livegen.train.timbre.data import NoteSet


@dataclass
class Batch:
    mel: np.ndarray  # (B, enc_frames, n_mels)
    note: np.ndarray  # (B, W, N_NOTE_FEATURES) frames w0..w0+W of each note
    f0: np.ndarray  # (B,) Hz, the nominal f0 after the shift
    c0: np.ndarray  # (B,) int64 the crop's first frame, counted from w0
    target: np.ndarray  # (B, crop_frames * hop)
    uniforms: np.ndarray  # (B, crop_frames + 1, hop + 1)
    clips: np.ndarray  # (B,) the clips used

    def rows(self, sl: slice) -> "Batch":
        return Batch(self.mel[sl], self.note[sl], self.f0[sl], self.c0[sl], self.target[sl],
                     self.uniforms[sl], self.clips[sl])


class NoteBatcher:
    def __init__(self, ns: NoteSet, clips: np.ndarray, dims, crop_frames: int = 64,
                 onset_share: float = 0.3, max_shift: float = 0.4, seed: int = 0):
        self.ns, self.clips, self.d = ns, np.asarray(clips), dims
        self.sr = ns.sample_rate
        if self.sr != dims.sample_rate:
            raise ValueError(f"note set at {self.sr} Hz, model at {dims.sample_rate} Hz")
        self.hop = dims.hop
        self.crop, self.onset_share, self.max_shift, self.seed = crop_frames, onset_share, max_shift, seed
        by_inst: dict[int, list[int]] = {}
        for i in self.clips:
            by_inst.setdefault(int(ns.instrument[i]), []).append(int(i))
        self.by_inst = {k: np.asarray(v) for k, v in by_inst.items()}
        self._mel: dict[int, np.ndarray] = {}

    def mel(self, i: int) -> np.ndarray:
        if i not in self._mel:
            d = self.d
            self._mel[i] = encoder_input(self.ns.clip(i), self.sr, d.enc_hop * self.hop,
                                         d.enc_frames, d.n_mels)
        return self._mel[i]

    def draw(self, batch: int, step: int, shift: bool = True, onset: bool | None = None) -> Batch:
        """The global batch of ``step`` (the same on every call with the same arguments)."""
        rng = np.random.default_rng([self.seed, step])
        d, hop, n = self.d, self.hop, self.crop
        clips = rng.choice(self.clips, size=batch)
        shifts = rng.uniform(-self.max_shift, self.max_shift, batch) if shift else np.zeros(batch)
        ratio = 2.0 ** (shifts / 12.0)
        at_onset = rng.random(batch) < self.onset_share if onset is None else np.full(batch, onset)
        c0 = np.zeros(batch, np.int64)
        target = np.zeros((batch, n * hop), np.float32)
        for b, i in enumerate(clips):
            x = self.ns.clip(i)
            frames = int(len(x) / ratio[b]) // hop
            if not at_onset[b] and frames > n:
                c0[b] = rng.integers(0, frames - n + 1)
            t = (c0[b] * hop + np.arange(n * hop)) * ratio[b]  # positions in the original clip
            target[b] = np.interp(t, np.arange(len(x)), x, right=0.0)
        w0 = np.maximum(0, c0 - d.receptive_field)
        W = int((c0 - w0).max()) + n
        f0 = np.asarray([hnsynth.midi_to_hz(float(self.ns.pitch[i])) for i in clips]) * ratio
        hold = self.ns.hold[clips] / self.sr / ratio
        t_on, t_off = hnsynth.note_times(W, d.frame_s, hold, w0)
        note = hnsynth.note_features(f0, self.ns.velocity[clips], t_on, t_off)
        others = [rng.choice(self.by_inst[int(self.ns.instrument[i])]) for i in clips]
        mel = np.stack([self.mel(int(j)) for j in others])
        uniforms = rng.random((batch, n + 1, hop + 1), dtype=np.float32)
        return Batch(mel, note, f0.astype(np.float32), c0 - w0, target, uniforms, clips)
