"""Figures: loss and in-tune curves from a training log; spectrograms of rendered vs real notes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from livegen.fileio import atomic_path


def plot_curves(log_paths: list[Path], out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recs = []
    for p in log_paths:
        recs += [json.loads(line) for line in Path(p).read_text().splitlines() if line.strip()]
    tr = sorted({r["step"]: r for r in recs if "loss" in r}.values(), key=lambda r: r["step"])
    ev = sorted({r["step"]: r for r in recs if "valid_loss" in r}.values(), key=lambda r: r["step"])
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    a1.plot([r["step"] for r in tr], [r["loss"] for r in tr], label="train (mean of 25 steps)", lw=1)
    a1.plot([r["step"] for r in ev], [r["valid_loss"] for r in ev], "o-", label="held-out pitches")
    a1.set_xlabel("step")
    a1.set_ylabel("multi-resolution STFT loss")
    a1.legend()
    a1.grid(alpha=0.3)
    a2.plot([r["step"] for r in ev], [100 * r["heldout_in_tune"] for r in ev], "o-", label="held-out pitches")
    a2.set_xlabel("step")
    a2.set_ylabel("% rendered notes within 50 cents (YIN)")
    a2.set_ylim(-5, 105)
    a2.legend()
    a2.grid(alpha=0.3)
    fig.suptitle("timbre model training")
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def spectrogram_db(x: np.ndarray, n_fft: int = 1024, hop: int = 256) -> np.ndarray:
    """(frames, bins) power in dB, floored 90 dB below the peak."""
    x = np.pad(np.asarray(x, np.float64), (0, max(0, n_fft - len(x))))
    n = 1 + (len(x) - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n)[:, None]
    p = 10 * np.log10(np.abs(np.fft.rfft(x[idx] * np.hanning(n_fft), axis=1)) ** 2 + 1e-12)
    return np.maximum(p, p.max() - 90)


def plot_spectrograms(pairs: list[tuple[str, np.ndarray, np.ndarray]], out: Path, sr: int) -> None:
    """pairs: (title, real audio, rendered audio) -> a grid of spectrograms up to Nyquist."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(pairs)
    fig, axes = plt.subplots(n, 2, figsize=(10, 2.2 * n), squeeze=False)
    for r, (title, real, gen) in enumerate(pairs):
        top = max(spectrogram_db(real).max(), spectrogram_db(gen).max())
        for c, (x, what) in enumerate(((real, "real"), (gen, "rendered"))):
            m = spectrogram_db(x)
            ax = axes[r][c]
            ax.imshow(m.T, origin="lower", aspect="auto", vmin=top - 90, vmax=top,
                      extent=(0, len(x) / sr, 0, sr / 2000), cmap="magma")
            ax.set_title(f"{title} - {what}", fontsize=9)
            ax.set_ylabel("kHz")
    for ax in axes[-1]:
        ax.set_xlabel("seconds")
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
