"""Figures: loss and in-tune curves from a training log; spectrograms of generated vs real notes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from livegen.core import dsp
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
    a1.plot([r["step"] for r in tr], [r["loss"] for r in tr], label="train (mean of 50 steps)", lw=1)
    a1.plot([r["step"] for r in ev], [r["valid_loss"] for r in ev], "o-", label="held-out pitches")
    a1.plot([r["step"] for r in ev], [r["train_eval_loss"] for r in ev], "s-", label="train windows (fixed)")
    a1.set_xlabel("step")
    a1.set_ylabel("cross-entropy (nats/sample)")
    a1.set_ylim(top=min(4.0, max([r["loss"] for r in tr] + [1.0])))
    a1.legend()
    a1.grid(alpha=0.3)
    a2.plot([r["step"] for r in ev], [100 * r["heldout_in_tune"] for r in ev], "o-", label="held-out pitches")
    a2.plot([r["step"] for r in ev], [100 * r["trained_in_tune"] for r in ev], "s-", label="trained pitches")
    a2.set_xlabel("step")
    a2.set_ylabel("% generated notes within 50 cents (YIN, blind)")
    a2.set_ylim(-5, 105)
    a2.legend()
    a2.grid(alpha=0.3)
    fig.suptitle("WaveNet autoencoder training")
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def plot_spectrograms(pairs: list[tuple[str, np.ndarray, np.ndarray]], out: Path,
                      sr: int = dsp.SAMPLE_RATE) -> None:
    """pairs: (title, real audio, generated audio) -> a grid of log-mel spectrograms."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(pairs)
    fig, axes = plt.subplots(n, 2, figsize=(10, 2.2 * n), squeeze=False)
    for r, (title, real, gen) in enumerate(pairs):
        for c, (x, what) in enumerate(((real, "real"), (gen, "generated"))):
            m = dsp.log_mel(x, sr)
            ax = axes[r][c]
            ax.imshow(m.T, origin="lower", aspect="auto", vmin=-80, vmax=m.max(),
                      extent=(0, len(x) / sr, 0, m.shape[1]), cmap="magma")
            ax.set_title(f"{title} - {what}", fontsize=9)
            ax.set_ylabel("mel band")
    for ax in axes[-1]:
        ax.set_xlabel("seconds")
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
