"""The timbre model: an encoder (audio -> z) and a frame-rate WaveNet decoder driving a
harmonic-plus-noise synthesiser.

Shapes: B batch, F frames (``Dims.frame_s`` each), M mel bands, Z z_dim, C channels,
K harmonics, N noise bands, T samples.

- :class:`Encoder`: log-mel frames of a note (B, F, M) -> non-causal dilated convs -> mean over
  frames -> z (B, Z) in (-1, 1).
- :class:`Decoder`: per frame, the conditioning c = [z, note features] (B, F, Z + 9) ->
  a stack of gated causal dilated convolutions (kernel 2, WaveNet style; every layer's gate is
  biased by c) -> skip sum -> head -> controls: overall amplitude, a distribution over K
  harmonics, a pitch deviation bounded by ``max_dev_cents``, and N noise band gains.
  ``Decoder.forward`` runs whole sequences; ``Decoder.step`` one frame with explicit state
  (each layer's input ``d_l`` frames ago), written as the same layer math.
- :func:`synthesize`: the differentiable twin of ``livegen.core.hnsynth.FrameSynth`` over a crop.
- :class:`SpectralLoss`: multi-resolution STFT loss (linear and log magnitudes).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from livegen import fileio
from livegen.core import hnsynth

FORMAT_VERSION = 2
KIND = "livegen-timbre-hn"


@dataclass(frozen=True)
class Dims:
    sample_rate: int = 48000  # the training audio's rate (the synth renders at any rate)
    frame_s: float = 0.004
    n_harmonics: int = 96
    noise_bands: int = 40
    max_band_hz: float = 24000.0
    max_dev_cents: float = 50.0
    z_dim: int = 16
    channels: int = 64
    dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)
    head: int = 128
    n_mels: int = 64
    enc_channels: int = 64
    enc_dilations: tuple[int, ...] = (1, 2, 4, 8, 16)
    enc_frames: int = 128  # encoder input: the first this many mel frames of a note
    enc_hop: int = 2  # mel frames are this many decoder frames apart

    @property
    def synth(self) -> hnsynth.SynthDims:
        return hnsynth.SynthDims(self.frame_s, self.n_harmonics, self.noise_bands, self.max_band_hz,
                                 self.max_dev_cents)

    @property
    def hop(self) -> int:
        return self.synth.hop(self.sample_rate)

    @property
    def cond_dim(self) -> int:
        return self.z_dim + hnsynth.N_NOTE_FEATURES

    @property
    def n_controls(self) -> int:
        return 1 + self.n_harmonics + 1 + self.noise_bands

    @property
    def receptive_field(self) -> int:
        """Frames of the past a control depends on (this one included)."""
        return 1 + sum(self.dilations)

    def macs_per_frame(self) -> int:
        C, L, Cc = self.channels, len(self.dilations), self.cond_dim
        layer = 2 * C * 2 * C + Cc * 2 * C + C * C + C * C
        return Cc * C + L * layer + C * self.head + self.head * self.n_controls

    def to_dict(self) -> dict:
        d = asdict(self)
        d["dilations"], d["enc_dilations"] = list(self.dilations), list(self.enc_dilations)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Dims":
        d = dict(d)
        d["dilations"], d["enc_dilations"] = tuple(d["dilations"]), tuple(d["enc_dilations"])
        return cls(**d)


def exp_sigmoid(x: torch.Tensor, exponent: float = 10.0, max_value: float = 2.0) -> torch.Tensor:
    """DDSP's scaling of raw outputs to positive amplitudes: max * sigmoid(x)^ln(exponent)."""
    return max_value * torch.sigmoid(x) ** math.log(exponent) + 1e-7


class Encoder(nn.Module):
    def __init__(self, d: Dims):
        super().__init__()
        C = d.enc_channels
        self.inp = nn.Conv1d(d.n_mels, C, 3, padding=1)
        self.convs = nn.ModuleList(nn.Conv1d(C, C, 3, padding=k, dilation=k) for k in d.enc_dilations)
        self.mix = nn.ModuleList(nn.Conv1d(C, C, 1) for _ in d.enc_dilations)
        self.out = nn.Conv1d(C, d.z_dim, 1)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """mel (B, F, M) log-mel frames (dB / 40) -> z (B, Z)."""
        h = self.inp(mel.transpose(1, 2))
        for conv, mix in zip(self.convs, self.mix):
            h = h + mix(torch.relu(conv(torch.relu(h))))
        return torch.tanh(self.out(torch.relu(h)).mean(dim=2))


class Decoder(nn.Module):
    def __init__(self, d: Dims):
        super().__init__()
        self.dims = d
        C, L, Cc = d.channels, len(d.dilations), d.cond_dim
        self.inp = nn.Linear(Cc, C)
        self.gate = nn.ModuleList(nn.Linear(2 * C, 2 * C) for _ in range(L))  # [past, current]
        self.cond = nn.Linear(Cc, 2 * C * L)  # every layer's gate bias from the conditioning
        self.res = nn.ModuleList(nn.Linear(C, C) for _ in range(L - 1))
        self.skip = nn.Linear(C * L, C)
        self.h1 = nn.Linear(C, d.head)
        self.h2 = nn.Linear(d.head, d.n_controls)
        with torch.no_grad():  # start at no pitch deviation and a quiet, flat spectrum
            self.h2.weight[1 + d.n_harmonics].zero_()
            self.h2.bias.zero_()
            self.h2.bias[0] = -3.0
            self.h2.bias[2 + d.n_harmonics:] = -4.0

    def _layer(self, l: int, past: torch.Tensor, cur: torch.Tensor, bias: torch.Tensor):
        """One gated layer: (..., C) past input, current input, (..., 2C) bias -> (out, next)."""
        C = self.dims.channels
        a = self.gate[l](torch.cat([past, cur], dim=-1)) + bias
        o = torch.tanh(a[..., :C]) * torch.sigmoid(a[..., C:])
        nxt = cur + self.res[l](o) if l < len(self.res) else cur
        return o, nxt

    def _head(self, outs: list[torch.Tensor]) -> torch.Tensor:
        s = torch.relu(self.skip(torch.cat(outs, dim=-1)))
        return self.h2(torch.relu(self.h1(s)))

    def forward(self, cond: torch.Tensor) -> torch.Tensor:
        """cond (B, F, Cc) from the note's first frame -> raw controls (B, F, n_controls).
        Every layer sees zeros before the first frame (a voice starts from silence)."""
        L = len(self.dims.dilations)
        bias = self.cond(cond).unflatten(-1, (L, 2 * self.dims.channels))
        h, outs = self.inp(cond), []
        for l, dl in enumerate(self.dims.dilations):
            past = F.pad(h, (0, 0, dl, 0))[:, :h.shape[1]]
            o, h = self._layer(l, past, h, bias[:, :, l])
            outs.append(o)
        return self._head(outs)

    def step(self, cond: torch.Tensor, past: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One frame: cond (V, Cc), past (V, L, C) = each layer's input d_l frames ago
        -> (raw controls (V, n_controls), cur (V, L, C) = each layer's input now)."""
        L = len(self.dims.dilations)
        bias = self.cond(cond).unflatten(-1, (L, 2 * self.dims.channels))
        h, outs, curs = self.inp(cond), [], []
        for l in range(L):
            curs.append(h)
            o, h = self._layer(l, past[:, l], h, bias[:, l])
            outs.append(o)
        return self._head(outs), torch.stack(curs, dim=1)


def controls(raw: torch.Tensor, d: Dims) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Raw head outputs (..., n_controls) -> amp (..., 1), dist (..., K) (softmax), dev (...)
    cents in (-max_dev, max_dev), noise band gains (..., N)."""
    K = d.n_harmonics
    amp = exp_sigmoid(raw[..., :1])
    dist = torch.softmax(raw[..., 1:1 + K], dim=-1)
    dev = d.max_dev_cents * torch.tanh(raw[..., 1 + K])
    noise = exp_sigmoid(raw[..., 2 + K:] - 5.0)
    return amp, dist, dev, noise


class TimbreModel(nn.Module):
    def __init__(self, dims: Dims):
        super().__init__()
        self.dims = dims
        self.encoder = Encoder(dims)
        self.decoder = Decoder(dims)


# ------------------------------------------------------------------------------------------
# synthesis (differentiable; the same math as livegen.core.hnsynth.FrameSynth)


class Synthesis:
    """Constants of the synthesis at one rate (band matrix, window)."""

    def __init__(self, d: Dims, sample_rate: int | None = None, device: torch.device | str = "cpu"):
        self.d = d
        self.sr = int(sample_rate or d.sample_rate)
        self.hop = d.synth.hop(self.sr)
        self.bands = torch.from_numpy(hnsynth.band_matrix(d.synth, self.sr)).to(device)  # (N, bins)
        n = 2 * self.hop
        self.window = torch.sqrt(0.5 - 0.5 * torch.cos(2 * math.pi * torch.arange(n) / n)).to(device)
        self.alpha = (torch.arange(self.hop, dtype=torch.float32) / self.hop).to(device)
        s = torch.arange(self.hop, dtype=torch.float64)
        self.lin = (s / self.sr).to(device)
        self.quad = (s * (s - 1) / (2.0 * self.hop * self.sr)).to(device)
        self.k = torch.arange(1, d.n_harmonics + 1, dtype=torch.float32).to(device)

    def render(self, raw: torch.Tensor, f0_note: torch.Tensor, c0: torch.Tensor, n: int,
               uniforms: torch.Tensor | None, noise_scale: float = 1.0) -> torch.Tensor:
        """Audio of frames c0..c0+n of notes whose raw controls start at the note's first frame.

        raw (B, >= max(c0)+n, n_controls); f0_note (B,) Hz; c0 (B,) int64 first frame of each
        row's crop; uniforms (B, n + 1, bins) noise phases in [0, 1) for the grains of frames
        c0-1..c0+n-1 (None: no noise) -> (B, n * hop)."""
        d, hop, B = self.d, self.hop, raw.shape[0]
        amp, dist, dev, noise = controls(raw, d)
        f0 = f0_note[:, None] * torch.pow(2.0, dev / 1200.0)  # (B, F)
        mask = torch.from_numpy(hnsynth.harmonic_mask(
            f0_note.detach().cpu().numpy() * 2.0 ** (d.max_dev_cents / 1200.0), d.n_harmonics, self.sr)
        ).to(raw.device)
        dm = dist * mask[:, None, :]
        amps = amp * dm / dm.sum(-1, keepdim=True).clamp_min(1e-7)  # (B, F, K)
        amps = torch.cat([torch.zeros_like(amps[:, :1]), amps], dim=1)  # frame -1: silence
        rows = torch.arange(B, device=raw.device)[:, None]
        prev = c0[:, None] + torch.arange(n, device=raw.device)  # index of frame f-1 in the padded arrays
        a_prev, a_cur = amps[rows, prev], amps[rows, prev + 1]
        # phase (cycles) at the start of every frame, then within the crop's frames
        fp = torch.cat([f0_note[:, None], f0], dim=1).double()  # f0 of frame -1 = the note's
        inc = fp[:, :-1] * hop / self.sr + (fp[:, 1:] - fp[:, :-1]) * (hop - 1) / (2.0 * self.sr)
        start = torch.cat([torch.zeros_like(inc[:, :1]), torch.cumsum(inc, dim=1)], dim=1) % 1.0
        f_prev, f_cur = fp[rows, prev], fp[rows, prev + 1]
        ph = (start[rows, prev, None] + f_prev[..., None] * self.lin
              + (f_cur - f_prev)[..., None] * self.quad) % 1.0  # (B, n, hop)
        s = torch.sin(2 * math.pi * ph.float()[..., None] * self.k)  # (B, n, hop, K)
        y = torch.einsum("bnsk,bnk->bns", s, a_prev) \
            + self.alpha * torch.einsum("bnsk,bnk->bns", s, a_cur - a_prev)
        y = y.reshape(B, -1)
        if uniforms is not None and noise_scale > 0:
            g = torch.cat([torch.zeros_like(noise[:, :1]), noise], dim=1)  # grain of frame -1: none
            g = g[rows, torch.cat([prev, prev[:, -1:] + 1], dim=1)] @ self.bands  # (B, n+1, bins)
            spec = torch.polar(g, 2 * math.pi * uniforms)
            grain = torch.fft.irfft(spec, n=2 * hop, dim=-1, norm="ortho") * self.window
            y = y + noise_scale * (grain[:, :-1, hop:] + grain[:, 1:, :hop]).reshape(B, -1)
        return y


class SpectralLoss:
    """Sum over FFT sizes of mean |S - S'| + mean |log(S + eps) - log(S' + eps)|."""

    def __init__(self, sizes=(2048, 1024, 512, 256, 128, 64), eps: float = 1e-5):
        self.sizes = sizes
        self.eps = eps
        self.windows = {n: torch.hann_window(n) for n in sizes}

    def mags(self, x: torch.Tensor, n: int) -> torch.Tensor:
        return torch.stft(x, n, hop_length=n // 4, window=self.windows[n].to(x.device), center=False,
                          return_complex=True).abs()

    def __call__(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        total = 0.0
        for n in (n for n in self.sizes if n <= pred.shape[-1]):  # a short crop skips the largest
            a, b = self.mags(pred, n), self.mags(target, n)
            total = total + (a - b).abs().mean() + (torch.log(a + self.eps) - torch.log(b + self.eps)).abs().mean()
        return total


# ------------------------------------------------------------------------------------------
# checkpoints


def save_checkpoint(path, model: TimbreModel, **extra) -> None:
    payload = {"kind": KIND, "format_version": FORMAT_VERSION, "dims": model.dims.to_dict(),
               "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},  # loads anywhere
               **extra}
    with fileio.atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path, map_location="cpu") -> tuple[TimbreModel, dict]:
    ck = read_checkpoint(path, map_location)
    return model_from_checkpoint(ck, path), ck


def read_checkpoint(path, map_location="cpu") -> dict:
    """The checkpoint's dict, checked to be a timbre model of this format."""
    import pickle
    import struct
    import zipfile

    from livegen.errors import ModelFileError
    try:
        ck = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError as err:
        raise ModelFileError(f"no such checkpoint: {path}") from err
    except (RuntimeError, OSError, ValueError, EOFError, struct.error, pickle.UnpicklingError,
            zipfile.BadZipFile) as err:  # what torch.load raises for a damaged file
        raise ModelFileError(f"cannot read checkpoint {path}: {err}") from err
    if not isinstance(ck, dict) or ck.get("kind") != KIND:
        what = ck.get("kind") if isinstance(ck, dict) else type(ck).__name__
        old = " (the sample-level WaveNet of livegen 0.1: retrain with livegen train timbre)" \
            if what == "livegen-wavenet" else ""
        raise ModelFileError(f"{path}: not a livegen harmonic-plus-noise timbre checkpoint "
                             f"(its kind is {what!r}{old})")
    if ck.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(f"{path}: format version {ck.get('format_version')} is not {FORMAT_VERSION}")
    return ck


def model_from_checkpoint(ck: dict, path) -> TimbreModel:
    """The model a :func:`read_checkpoint` dict holds (``path`` names it in errors)."""
    from livegen.errors import ModelFileError

    model = TimbreModel(Dims.from_dict(ck["dims"]))
    try:
        model.load_state_dict(ck["state_dict"])
    except RuntimeError as err:
        raise ModelFileError(f"{path}: weights do not match its dimensions: {err}") from err
    return model
