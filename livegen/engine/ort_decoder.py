"""The reference decoder engine: one ONNX Runtime run per sample, for all voices at once.

Far slower than real time on a CPU (PERF-NOTES: 150+ us per run), but it runs the
exported graph itself, so it is what the compiled kernel is checked against, and
the path for a GPU. Same interface and state as :class:`~livegen.engine.kernel.KernelDecoder`.
"""

from __future__ import annotations

import numpy as np

from livegen.engine.kernel import DecoderState
from livegen.engine.wavenet_files import WaveNetFiles


def draw(logits: np.ndarray, u: np.ndarray, temp: np.ndarray) -> np.ndarray:
    """Classes drawn from softmax(logits / T) by the inverse CDF at u; argmax where T <= 0."""
    best = logits.argmax(-1)
    hot = temp > 0
    if not hot.any():
        return best.astype(np.int32)
    z = (logits[hot] - logits[hot].max(-1, keepdims=True)) / temp[hot, None]
    p = np.exp(z)
    cdf = np.cumsum(p, -1)
    target = u[hot] * cdf[:, -1]
    best[hot] = np.minimum((cdf <= target[:, None]).sum(-1), logits.shape[-1] - 1)
    return best.astype(np.int32)


class OrtDecoder:
    def __init__(self, files: WaveNetFiles):
        self.files = files
        self.frame = files.dims["frame"]
        self.R = files.dims["residual"]
        self.mu = files.dims["n_classes"] - 1

    def render(self, state: DecoderState, cond, exc, u, temp, logits=None, voices=None) -> np.ndarray:
        J, N = u.shape
        voices = np.arange(len(state.pos)) if voices is None else np.asarray(voices)
        if N % self.frame:
            raise ValueError(f"block of {N} samples is not a multiple of the frame {self.frame}")
        ring = state.hist.reshape(len(state.pos), -1, self.R)[voices]  # a copy: written back below
        out = np.empty((J, N), np.int32)
        prev = state.prev[voices].copy()
        pos = state.pos[voices].copy()
        for n in range(N):
            x_prev = (prev * (2.0 / self.mu) - 1.0).astype(np.float32)
            step_logits, cur = self.files.decoder.run(None, {
                "x_prev": x_prev, "exc": np.ascontiguousarray(exc[:, n], np.float32),
                "bias": np.ascontiguousarray(cond[:, n // self.frame], np.float32),
                "past": self.files.gather_past(ring, pos)})
            self.files.write_cur(ring, pos, cur)
            if logits is not None:
                logits[:, n] = step_logits
            prev = draw(step_logits, u[:, n], np.asarray(temp, np.float32))
            out[:, n] = prev
            pos += 1
        state.hist.reshape(len(state.pos), -1, self.R)[voices] = ring
        state.prev[voices] = prev
        state.pos[voices] = pos
        return out

    def close(self) -> None:
        pass
