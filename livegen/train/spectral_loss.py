"""The torch twins of ``livegen.core.spectral``: the multi-resolution STFT distance as a
training loss (the same magnitudes, framing and weights; a test holds the two equal), and the
average-spectrum loss.
"""

from __future__ import annotations

import torch

from livegen.core.spectral import MultiResolution

# The timbre model's training loss. Magnitudes are per unit window, so the linear term is
# weighted up: 300 puts the two terms at about the balance the shipped model was trained with
# (raw torch.stft magnitudes summed over the sizes, whose window sums are 32..1024).
TRAINING = MultiResolution(sizes=(2048, 1024, 512, 256, 128, 64), lin_weight=300.0, log_weight=6.0)


class _Windows:
    def __init__(self):
        self._w: dict[tuple[int, torch.device], torch.Tensor] = {}

    def __call__(self, n: int, device) -> torch.Tensor:
        key = (n, torch.device(device))
        if key not in self._w:
            self._w[key] = torch.hann_window(n, device=device)
        return self._w[key]


def stft_magnitude(x: torch.Tensor, n: int, window: torch.Tensor, center: bool = True) -> torch.Tensor:
    """(B, T) -> |STFT| per unit window (B, n // 2 + 1, frames), hop n / 4 (as the numpy one)."""
    if not center and x.shape[-1] < n:
        x = torch.nn.functional.pad(x, (0, n - x.shape[-1]))
    s = torch.stft(x, n, hop_length=n // 4, window=window, center=center, pad_mode="constant",
                   return_complex=True)
    return s.abs() / window.sum()


class MultiResolutionLoss:
    """``livegen.core.spectral.distance`` in torch, averaged over the batch's rows: for rows of
    equal length, the mean over rows of the numpy distance. Sizes longer than the crop are
    skipped (a short crop has no long frames)."""

    def __init__(self, mr: MultiResolution = TRAINING):
        self.mr = mr
        self.window = _Windows()

    def __call__(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        mr, sizes = self.mr, [n for n in self.mr.sizes if n <= pred.shape[-1]]
        total = pred.new_zeros(())
        for n in sizes:
            w = self.window(n, pred.device)
            a, b = stft_magnitude(pred, n, w), stft_magnitude(target, n, w)
            if mr.lin_weight:
                total = total + mr.lin_weight * (a - b).abs().mean()
            if mr.log_weight:
                total = total + mr.log_weight * (torch.log(a + mr.eps) - torch.log(b + mr.eps)).abs().mean()
        return total / max(1, len(sizes))


class AverageSpectrumLoss:
    """Mean over FFT sizes of 0.5 mean |log P - log P'| over bins, where P is a crop's power
    spectrum averaged over its (uncentred) frames, per unit window, floored at ``eps`` squared.

    Averaging over frames removes most of the noise's randomness, so the level *between*
    harmonics (the noise floor, an inharmonic partial) and the top octaves, which the per-frame
    loss weighs little against the harmonics' peaks, are matched on their own."""

    def __init__(self, sizes=(4096, 2048), eps: float = 1e-5):
        self.sizes, self.eps = sizes, eps
        self.window = _Windows()

    def log_power(self, x: torch.Tensor, n: int) -> torch.Tensor:
        m = stft_magnitude(x, n, self.window(n, x.device), center=False)
        return torch.log((m ** 2).mean(-1) + self.eps ** 2)

    def __call__(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        sizes = [n for n in self.sizes if n <= pred.shape[-1]]
        return sum(0.5 * (self.log_power(pred, n) - self.log_power(target, n)).abs().mean()
                   for n in sizes) / max(1, len(sizes))
