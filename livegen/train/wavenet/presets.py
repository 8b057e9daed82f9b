"""Timbre presets: name -> z (the mean of an instrument's encoded notes), and encoding a WAV.

File format (``presets.json``, read by livegen.engine.wavenet_files): a JSON
object mapping each name to a list of z_dim numbers.
"""

from __future__ import annotations

import numpy as np
import torch

from livegen.core import dsp

ENC_WINDOW = 2048


@torch.no_grad()
def encode_audio(model, x: np.ndarray, enc_window: int = ENC_WINDOW) -> np.ndarray:
    """Float audio (T,) at 16 kHz -> z (Z,): mean over non-overlapping enc_window stretches."""
    x = np.asarray(x, np.float32)
    n = max(1, len(x) // enc_window)
    segs = [x[k * enc_window:(k + 1) * enc_window] for k in range(n)]
    segs = [np.pad(s, (0, enc_window - len(s))) for s in segs]
    u = dsp.mu_law_to_unit(dsp.mu_law_encode(np.stack(segs)))
    return model.encoder.note_z(torch.from_numpy(u)).mean(0).numpy().astype(np.float32)


def clip_codes(model, ns, clips) -> np.ndarray:
    """z of every clip in clips: (len(clips), Z)."""
    return np.stack([encode_audio(model, ns.clip(int(i))) for i in clips])


def instrument_presets(model, ns, clips=None) -> dict[str, list[float]]:
    """For each instrument of the note set, the mean z over its (training) clips."""
    clips = np.nonzero(~ns.heldout)[0] if clips is None else np.asarray(clips)
    codes = clip_codes(model, ns, clips)
    out = {}
    for k, name in enumerate(ns.names):
        m = ns.instrument[clips] == k
        if m.any():
            out[name] = [float(v) for v in codes[m].mean(0)]
    return out
