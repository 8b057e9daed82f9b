"""Timbre presets: name -> z, the mean code of an instrument's training notes.

File format (``presets.json``, read by livegen.engine.timbre): a JSON object mapping
each name to a list of z_dim numbers. Presets are listed with the 8 shipped instruments first
(program change n picks the n-th preset).
"""

from __future__ import annotations

import numpy as np
import torch

from livegen.synth.encoding import encoder_input
from livegen.train.timbre.data import GM_NAMES, PRESET_PROGRAMS


@torch.no_grad()
def clip_codes(model, ns, clips) -> np.ndarray:
    """z of every clip in clips: (len(clips), Z)."""
    d = model.dims
    mel = np.stack([encoder_input(ns.clip(int(i)), ns.sample_rate, d.enc_hop * d.hop, d.enc_frames,
                                  d.n_mels) for i in clips])
    return np.concatenate([model.encoder(torch.from_numpy(mel[k:k + 256])).numpy()
                           for k in range(0, len(mel), 256)])


def preset_order(names: list[str]) -> list[str]:
    """The 8 shipped instruments first, then the others in data set order."""
    first = [GM_NAMES[p] for p in PRESET_PROGRAMS]
    return [n for n in first if n in names] + [n for n in names if n not in first]


def instrument_presets(model, ns, clips=None) -> dict[str, list[float]]:
    """For each instrument of the note set, the mean encoder code z over its (training) clips;
    the 8 shipped instruments first."""
    clips = np.nonzero(~ns.heldout)[0] if clips is None else np.asarray(clips)
    codes = clip_codes(model, ns, clips)
    out = {}
    for name in preset_order(ns.names):
        m = ns.instrument[clips] == ns.names.index(name)
        if m.any():
            out[name] = [float(v) for v in codes[m].mean(0)]
    return out
