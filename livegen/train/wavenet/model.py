"""The WaveNet autoencoder in torch: encoder -> timbre code z; decoder -> next mu-law sample.

Shapes are (batch B, time T, channels C) throughout; layers are written as
matrix multiplies over the channel axis (faster than conv1d on CPU here).

Decoder, one sample t (predicting class q[t]):
    u      = [x[t-1] (mu-law value in [-1,1]), e[t] (E excitation values)]
    h_0    = u @ W_in + b_in                                   (R)
    layer l (dilation d_l), for l = 0..L-1:
        a  = [h_l[t - d_l], h_l[t], e[t]] @ W_l + c_l[frame(t)] (2G)
        o  = tanh(a[:G]) * sigmoid(a[G:])                       (G)
        h_{l+1} = h_l + o @ W_res_l        (not computed for the last layer)
    s      = [o_0 ... o_{L-1}] @ W_skip + b_skip                  (S)
    logits = relu(relu(s) @ W_h1 + b_h1) @ W_h2 + b_h2           (256)
    c_l[f] = (cond[f] @ W_cond + b_cond)[l]: the frame conditioning, one vector
             per FRAME samples: z, normalised log f0, velocity, gate, envelope times.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from livegen.core import dsp

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Dims:
    """Everything needed to rebuild the model; stored in every checkpoint."""

    residual: int = 32  # R
    gate: int = 16  # G (the gate pre-activation has 2G channels)
    skip: int = 32  # S
    head: int = 32  # hidden width of the output head
    dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256, 1, 2, 4, 8, 16, 32)
    n_harmonics: int = 4  # excitation: sin/cos of k * phase, k = 1..K
    n_classes: int = 256
    z_dim: int = 16
    frame: int = dsp.FRAME
    n_time_features: int = dsp.N_TIME_FEATURES
    enc_channels: int = 32
    enc_dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128)
    enc_pool: int = 512
    sample_rate: int = dsp.SAMPLE_RATE

    @property
    def exc_dim(self) -> int:
        return 2 * self.n_harmonics

    @property
    def cond_dim(self) -> int:
        return self.z_dim + 2 + self.n_time_features

    @property
    def receptive_field(self) -> int:
        return 1 + sum(self.dilations)

    def decoder_macs_per_sample(self) -> dict[str, float]:
        R, G, S, H, E, L = self.residual, self.gate, self.skip, self.head, self.exc_dim, len(self.dilations)
        parts = {
            "input": (1 + E) * R,
            "layers_gate": L * (2 * R + E) * 2 * G,
            "layers_residual": (L - 1) * G * R,
            "skip": L * G * S,
            "head": S * H + H * self.n_classes,
            "conditioning_per_sample": self.cond_dim * L * 2 * G / self.frame,
        }
        parts["total"] = sum(parts.values())
        return parts

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Dims":
        d = dict(d)
        for k in ("dilations", "enc_dilations"):
            d[k] = tuple(d[k])
        return cls(**d)


class Encoder(nn.Module):
    """Non-causal dilated convolutions over mu-law audio -> z frames every enc_pool samples."""

    def __init__(self, dims: Dims):
        super().__init__()
        C = dims.enc_channels
        self.dims = dims
        self.inp = nn.Conv1d(1, C, 3, padding=1)
        self.dil = nn.ModuleList(nn.Conv1d(C, C, 3, dilation=d, padding=d) for d in dims.enc_dilations)
        self.res = nn.ModuleList(nn.Conv1d(C, C, 1) for _ in dims.enc_dilations)
        self.out = nn.Conv1d(C, dims.z_dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, T) mu-law values in [-1, 1] -> z frames (B, T // enc_pool, Z)."""
        h = self.inp(x[:, None, :])
        total = 0
        for dil, res in zip(self.dil, self.res):
            y = res(F.relu(dil(F.relu(h))))
            h = h + y
            total = total + y
        z = self.out(total)  # (B, Z, T)
        z = F.avg_pool1d(z, self.dims.enc_pool)
        return z.transpose(1, 2)

    def note_z(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T) -> one timbre code per row (B, Z): the mean of its z frames."""
        return self.forward(x).mean(dim=1)


class Decoder(nn.Module):
    def __init__(self, dims: Dims):
        super().__init__()
        self.dims = dims
        R, G, S, H, E = dims.residual, dims.gate, dims.skip, dims.head, dims.exc_dim
        L = len(dims.dilations)
        self.w_in = nn.Parameter(torch.randn(1 + E, R) / math.sqrt(1 + E))
        self.b_in = nn.Parameter(torch.zeros(R))
        self.w_gate = nn.Parameter(torch.randn(L, 2 * R + E, 2 * G) / math.sqrt(2 * R + E))
        self.w_res = nn.Parameter(torch.randn(L - 1, G, R) / math.sqrt(G) * 0.5)
        self.w_skip = nn.Parameter(torch.randn(L * G, S) / math.sqrt(L * G))
        self.b_skip = nn.Parameter(torch.zeros(S))
        self.w_cond = nn.Parameter(torch.randn(dims.cond_dim, L * 2 * G) / math.sqrt(dims.cond_dim))
        self.b_cond = nn.Parameter(torch.zeros(L * 2 * G))
        self.w_h1 = nn.Parameter(torch.randn(S, H) / math.sqrt(S))
        self.b_h1 = nn.Parameter(torch.zeros(H))
        self.w_h2 = nn.Parameter(torch.randn(H, dims.n_classes) / math.sqrt(H))
        self.b_h2 = nn.Parameter(torch.zeros(dims.n_classes))

    def cond_bias(self, cond: torch.Tensor) -> torch.Tensor:
        """cond (B, F, C) -> per-layer gate biases (B, F, L, 2G)."""
        L, G2 = len(self.dims.dilations), 2 * self.dims.gate
        return (cond @ self.w_cond + self.b_cond).view(*cond.shape[:2], L, G2)

    def head(self, skip_in: torch.Tensor) -> torch.Tensor:
        s = F.relu(skip_in @ self.w_skip + self.b_skip)
        return F.relu(s @ self.w_h1 + self.b_h1) @ self.w_h2 + self.b_h2

    def forward(self, x_prev: torch.Tensor, exc: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits.

        x_prev: (B, T) mu-law value of the previous sample; exc: (B, T, E);
        cond: (B, T // frame, C). T must be a multiple of frame. Histories
        before t = 0 are zero (the state of a new voice). -> (B, T, 256).
        """
        B, T = x_prev.shape
        fr = self.dims.frame
        nf = T // fr
        G = self.dims.gate
        bias = self.cond_bias(cond)  # (B, F, L, 2G)
        h = torch.cat([x_prev[..., None], exc], dim=-1) @ self.w_in + self.b_in  # (B, T, R)
        outs = []
        L = len(self.dims.dilations)
        for l, d in enumerate(self.dims.dilations):
            h_old = F.pad(h, (0, 0, d, 0))[:, :T]  # h[t - d], zeros before 0
            a = torch.cat([h_old, h, exc], dim=-1) @ self.w_gate[l]  # (B, T, 2G)
            a = (a.view(B, nf, fr, 2 * G) + bias[:, :, l, None, :]).view(B, T, 2 * G)
            o = torch.tanh(a[..., :G]) * torch.sigmoid(a[..., G:])
            outs.append(o)
            if l < L - 1:
                h = h + o @ self.w_res[l]
        return self.head(torch.cat(outs, dim=-1))


class WaveNetAutoencoder(nn.Module):
    def __init__(self, dims: Dims):
        super().__init__()
        self.dims = dims
        self.encoder = Encoder(dims)
        self.decoder = Decoder(dims)

    def full_cond(self, z: torch.Tensor, note_cond: torch.Tensor) -> torch.Tensor:
        """z (B, Z) + note/time features (B, F, 2 + N_TIME) -> (B, F, C), ordered as dsp.frame_features."""
        return torch.cat([z[:, None, :].expand(-1, note_cond.shape[1], -1), note_cond], dim=-1)

    def forward(self, enc_audio, x_prev, exc, note_cond):
        z = self.encoder.note_z(enc_audio)
        return self.decoder(x_prev, exc, self.full_cond(z, note_cond)), z


def save_checkpoint(path, model: WaveNetAutoencoder, **extra) -> None:
    import os
    payload = {"kind": "livegen-wavenet", "format_version": FORMAT_VERSION,
               "dims": model.dims.to_dict(), "state_dict": model.state_dict(), **extra}
    tmp = str(path) + ".tmp"
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_checkpoint(path, map_location="cpu") -> tuple[WaveNetAutoencoder, dict]:
    from livegen.errors import ModelFileError
    try:
        ck = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError as err:
        raise ModelFileError(f"no such checkpoint: {path}") from err
    except Exception as err:  # torch raises many types for a corrupt file
        raise ModelFileError(f"cannot read checkpoint {path}: {err}") from err
    if not isinstance(ck, dict) or ck.get("kind") != "livegen-wavenet":
        raise ModelFileError(f"{path} is not a livegen WaveNet checkpoint")
    if ck.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(f"{path}: format version {ck.get('format_version')} is not "
                             f"{FORMAT_VERSION}")
    model = WaveNetAutoencoder(Dims.from_dict(ck["dims"]))
    try:
        model.load_state_dict(ck["state_dict"])
    except RuntimeError as err:
        raise ModelFileError(f"{path}: weights do not match its dimensions: {err}") from err
    return model, ck
