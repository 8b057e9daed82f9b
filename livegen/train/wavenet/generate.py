"""Cached-queue ("fast WaveNet") generation in torch: one sample per step, per-layer histories.

Layer l keeps a ring of its last d_l inputs h_l, shape (B, d_l, R). At step t
the value read at slot t mod d_l is h_l[t - d_l] (zeros for a new voice, as in
the full forward pass) and is then overwritten with h_l[t]. Nothing is copied
whole. The frame biases are recomputed once every FRAME samples.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from livegen.core import dsp
from livegen.train.wavenet.model import Decoder


class QueueState:
    """Explicit streaming state of B voices: one ring per layer and the step count."""

    def __init__(self, dec: Decoder, batch: int):
        d = dec.dims
        self.rings = [torch.zeros(batch, dil, d.residual) for dil in d.dilations]
        self.t = 0


@torch.inference_mode()
def step(dec: Decoder, state: QueueState, x_prev: torch.Tensor, exc: torch.Tensor,
         bias: torch.Tensor) -> torch.Tensor:
    """One sample for all voices. x_prev (B,), exc (B, E), bias (B, L, 2G) -> logits (B, 256)."""
    G = dec.dims.gate
    L = len(dec.dims.dilations)
    h = torch.cat([x_prev[:, None], exc], dim=1) @ dec.w_in + dec.b_in
    outs = []
    for l, d in enumerate(dec.dims.dilations):
        ring = state.rings[l]
        slot = state.t % d
        h_old = ring[:, slot].clone()
        ring[:, slot] = h
        a = torch.cat([h_old, h, exc], dim=1) @ dec.w_gate[l] + bias[:, l]
        o = torch.tanh(a[:, :G]) * torch.sigmoid(a[:, G:])
        outs.append(o)
        if l < L - 1:
            h = h + o @ dec.w_res[l]
    state.t += 1
    return dec.head(torch.cat(outs, dim=1))


@torch.inference_mode()
def generate(dec: Decoder, exc: np.ndarray, cond: np.ndarray, temperature: float = 1.0,
             seed: int = 0, teacher: np.ndarray | None = None,
             return_logits: bool = False):
    """Generate B voices of T samples from zero state.

    exc (B, T, E) excitation; cond (B, ceil(T/FRAME), C) frame conditioning.
    With ``teacher`` (B, T) classes the inputs are the teacher's samples
    (teacher forcing) instead of the sampled ones. Returns classes (B, T)
    uint8, and the logits (B, T, 256) if return_logits.
    """
    exc_t = torch.as_tensor(np.asarray(exc, np.float32))
    cond_t = torch.as_tensor(np.asarray(cond, np.float32))
    B, T, _ = exc_t.shape
    fr = dec.dims.frame
    state = QueueState(dec, B)
    gen = torch.Generator().manual_seed(seed)
    x_prev = torch.full((B,), dsp.mu_law_to_unit(dsp.mu_law_encode(np.zeros(1)))[0])
    out = torch.zeros(B, T, dtype=torch.uint8)
    all_logits = torch.zeros(B, T, dec.dims.n_classes) if return_logits else None
    teacher_t = None if teacher is None else torch.as_tensor(np.asarray(teacher, np.int64))
    bias = None
    for t in range(T):
        if t % fr == 0:
            bias = dec.cond_bias(cond_t[:, t // fr][:, None])[:, 0]  # (B, L, 2G)
        logits = step(dec, state, x_prev, exc_t[:, t], bias)
        if return_logits:
            all_logits[:, t] = logits
        if teacher_t is not None:
            q = teacher_t[:, t]
        elif temperature <= 0:
            q = logits.argmax(dim=1)
        else:
            probs = F.softmax(logits / temperature, dim=1)
            q = torch.multinomial(probs, 1, generator=gen)[:, 0]
        out[:, t] = q.to(torch.uint8)
        x_prev = q.float() * (2.0 / dsp.MU) - 1.0
    if return_logits:
        return out.numpy(), all_logits.numpy()
    return out.numpy()


def note_inputs(z: np.ndarray, f0: float, velocity: float, n_samples: int, hold_samples: int,
                n_harmonics: int, phase0: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Excitation (T, E) and frame conditioning (F, C) for one note, as the synth builds them."""
    osc = dsp.Excitation(f0=f0, n_harmonics=n_harmonics, phase=phase0)
    exc = osc.block(n_samples)
    cond = dsp.note_frame_features(z, f0, velocity, n_samples, hold_samples)
    return exc, cond


def render_notes(dec: Decoder, notes: list[tuple[np.ndarray, float, float]], n_samples: int,
                 hold_samples: int, temperature: float = 1.0, seed: int = 0) -> np.ndarray:
    """notes: list of (z, f0 Hz, velocity) -> float audio (N, n_samples), generated in one batch."""
    excs, conds = [], []
    for z, f0, vel in notes:
        e, c = note_inputs(z, f0, vel, n_samples, hold_samples, dec.dims.n_harmonics)
        excs.append(e)
        conds.append(c)
    q = generate(dec, np.stack(excs), np.stack(conds), temperature=temperature, seed=seed)
    return dsp.mu_law_decode(q)
