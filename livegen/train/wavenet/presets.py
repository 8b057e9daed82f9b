"""Timbre presets: name -> z (the mean of an instrument's encoded notes), and encoding a WAV.

File format (``presets.json``, read by livegen.engine.wavenet_files): a JSON
object mapping each name to a list of z_dim numbers.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from livegen.core import dsp
from livegen.errors import ModelFileError

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


def save_presets(path: Path, presets: dict[str, list[float]]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({k: [round(float(v), 6) for v in z] for k, z in presets.items()},
                               indent=1) + "\n")


def load_presets(path: Path) -> dict[str, np.ndarray]:
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError as err:
        raise ModelFileError(f"no presets file {path}") from err
    except (OSError, ValueError) as err:
        raise ModelFileError(f"{path}: not a readable presets file ({err})") from err
    if not isinstance(raw, dict):
        raise ModelFileError(f"{path}: presets must be a JSON object of name -> list of numbers")
    return {k: np.asarray(v, np.float32) for k, v in raw.items()}
