"""The training loop: random transposed windows, Adam, periodic held-out NLL.

Files in the output directory:

- ``model.pt``: the weights with the best held-out NLL so far, with their dims,
  vocabulary, config and history (small: no optimizer state). This is what is
  shipped and loaded.
- ``train_state.pt``: the latest weights, optimizer, step and history,
  written every ``checkpoint_every`` steps; ``--resume`` continues from it.
- ``curves.png`` and ``history.json``: training and held-out NLL per token.

The windows of step ``s`` come from a generator seeded by ``(seed, s)``, so a
resumed run draws what an uninterrupted one would. Under torchrun
(``livegen.train.distributed``) every rank draws that same global batch of
``cfg.batch`` windows and trains on its equal share, DDP averages the
gradients, and the held-out windows are scored in shares too; rank 0 alone
writes the files. The result equals one process on the same global batch,
except for dropout, whose masks each rank draws for itself.

Called from the ``train lstm`` command (``cli_train``), never by the daemon.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from livegen import fileio
from livegen.errors import ModelFileError
from livegen.train import distributed
from livegen.train.distributed import Dist
from livegen.train.lstm.dataset import TextureSampler, TokenData, fixed_windows, texture_windows
from livegen.train.lstm.model import PhraseLSTM, load_checkpoint, read_checkpoint, save_checkpoint
from livegen.train.lstm.settings import TrainConfig


def window_nll(model: PhraseLSTM, windows: np.ndarray, controls: np.ndarray | None = None,
               batch: int = 32) -> np.ndarray:
    """(W,) mean NLL (nats) of tokens 1.. of each window given the ones before it (and the
    controls of windows made by ``fixed_windows`` from the same stream's controls)."""
    if len(windows) == 0:
        raise ValueError("no held-out windows to score")
    model.eval()
    out = []
    with torch.no_grad():
        device = next(model.parameters()).device
        for i in range(0, len(windows), batch):
            x = torch.from_numpy(windows[i:i + batch]).to(device)
            c = None if controls is None or not model.dims.controls else \
                torch.from_numpy(controls[i:i + batch, :-1]).to(device)
            logits, _ = model(x[:, :-1], controls=c)
            loss = nn.functional.cross_entropy(logits.transpose(1, 2), x[:, 1:], reduction="none")  # (B, T)
            out.append(loss.mean(1).cpu().numpy())
    return np.concatenate(out)


def nll_per_token(model: PhraseLSTM, windows: np.ndarray, controls: np.ndarray | None = None,
                  batch: int = 32) -> float:
    """Mean NLL (nats) of tokens 1.. of every window (all windows are of one length)."""
    return float(window_nll(model, windows, controls, batch).mean())


def held_out_nll(model: PhraseLSTM, windows: np.ndarray, controls: np.ndarray | None, d: Dist) -> float:
    """:func:`nll_per_token` with each rank scoring every ``world_size``-th window."""
    if d.backend is None:
        return nll_per_token(model, windows, controls)
    mine = windows[d.rank::d.world_size]
    cmine = None if controls is None else controls[d.rank::d.world_size]
    tokens = mine[:, 1:].size
    total, count = distributed.sum_over_ranks([nll_per_token(model, mine, cmine) * tokens if tokens else 0.0,
                                               tokens], d)
    return total / count


def _lr(cfg: TrainConfig, step: int, elapsed: float) -> float:
    progress = step / max(1, cfg.steps)
    if cfg.max_minutes > 0:
        progress = max(progress, elapsed / (cfg.max_minutes * 60))
    warm = min(1.0, (step + 1) / max(1, cfg.warmup))
    cos = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return cfg.lr * warm * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * cos)


def plot_curves(history: dict, path: Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    if history["train"]:
        s, v = zip(*history["train"])
        ax.plot(s, v, label="train (transposed windows)", lw=1)
    if history["held_out"]:
        s, v = zip(*history["held_out"])
        ax.plot(s, v, "o-", label="held-out", ms=3)
    ax.set_xlabel("step")
    ax.set_ylabel("NLL per token (nats)")
    ax.set_title(title or "livegen phrase LSTM")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with fileio.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)


def train(cfg: TrainConfig, data: TokenData, out_dir: Path, *, resume: bool = False,
          data_info: dict | None = None, log=sys.stderr, progress: bool = True,
          stop_after: int | None = None, dist: Dist | None = None) -> dict:
    """Train (or resume) into ``out_dir``; returns the history.

    ``stop_after`` ends the run after that step as an interruption would
    (checkpointed, schedule unchanged), for tests and staged runs. ``dist``:
    this process's place in a torchrun run (default: one process on the CPU).
    """
    from tqdm import tqdm

    dist = dist or distributed.one_process()
    log = distributed.log_stream(dist, log)
    rows = distributed.rank_slice(cfg.batch, dist)  # this rank's share of each global batch
    torch.set_num_threads(cfg.threads)
    out_dir = Path(out_dir)
    if dist.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
    state_path, best_path = out_dir / "train_state.pt", out_dir / "model.pt"
    held = fixed_windows(data.held_out.tokens, cfg.length)
    held_controls = fixed_windows(data.held_out.controls, cfg.length, dtype=np.float32)
    if len(held) > cfg.eval_windows:  # evenly spread, so every collection is scored
        pick = np.linspace(0, len(held) - 1, cfg.eval_windows).astype(int)
        held, held_controls = held[pick], held_controls[pick]
    if len(held) == 0:
        raise ValueError(f"held-out split has {len(data.held_out.tokens)} tokens, fewer than one window "
                         f"of {cfg.length + 1}; use more data or a shorter --length")

    torch.manual_seed(cfg.seed)
    model = PhraseLSTM(cfg.dims).to(dist.device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    history: dict = {"train": [], "held_out": [], "best": None}
    step, elapsed = 0, 0.0
    if resume:  # rank 0 reads the checkpoint and hands it to the others (no shared disk needed)
        blob = distributed.object_from_main(read_checkpoint(state_path) if dist.is_main and state_path.exists()
                                            else None, dist)
        if blob is not None:
            if blob["dims"] != asdict(cfg.dims):
                raise ModelFileError(f"{state_path}: dims {blob['dims']} differ from the requested "
                                     f"{asdict(cfg.dims)}")
            model.load_state_dict(blob["model"])
            opt.load_state_dict(blob["optimizer"])
            history, step, elapsed = blob["history"], blob["step"], blob["elapsed"]
            print(f"resumed from {state_path} at step {step}", file=log, flush=True)
    trained = distributed.wrap(model, dist)  # train through this; save and score `model`

    def checkpoint(path: Path, full: bool) -> None:
        if not dist.is_main:
            return
        extra = {"step": step, "elapsed": elapsed, "history": history, "data": data_info or {}}
        if full:
            extra.update(optimizer=opt.state_dict())
        save_checkpoint(path, model, config={**cfg.to_dict(), "world_size": dist.world_size}, extra=extra)

    def evaluate() -> None:
        nll = held_out_nll(model, held, held_controls, dist)
        history["held_out"].append((step, nll))
        if history["best"] is None or nll < history["best"][1]:
            history["best"] = (step, nll)
            checkpoint(best_path, full=False)
        if dist.is_main:
            fileio.write_text(out_dir / "history.json", json.dumps(history))
            plot_curves(history, out_dir / "curves.png",
                        f"PhraseLSTM {cfg.dims.layers}x{cfg.dims.hidden}, best held-out {history['best'][1]:.3f}")
            bar.write(f"step {step}: held-out NLL {nll:.4f} (ppl {math.exp(nll):.2f}), lr {lr:.2e}, "
                      f"{elapsed / 60:.1f} min")
        model.train()

    sampler = TextureSampler.of(data.train, cfg.length)
    print(f"training windows by texture: {sampler.describe()}", file=log, flush=True)
    budget = cfg.max_minutes * 60 if cfg.max_minutes > 0 else math.inf
    bar = tqdm(total=cfg.steps, initial=step, disable=not (progress and dist.is_main), file=log, mininterval=5,
               dynamic_ncols=True, desc="train lstm")
    trained.train()
    running, n_running = 0.0, 0
    lr = _lr(cfg, step, elapsed)
    if step == 0:
        evaluate()
    t_last = time.monotonic()
    while step < cfg.steps and elapsed < budget and (stop_after is None or step < stop_after):
        lr = _lr(cfg, step, elapsed)
        for g in opt.param_groups:
            g["lr"] = lr
        rng = np.random.default_rng([cfg.seed, step])  # the same global batch on every rank
        torch.manual_seed(distributed.step_seed(cfg.seed, step, dist))  # dropout masks
        toks, cts = texture_windows(data.train, sampler, cfg.batch, cfg.length, rng, cfg.transpose)
        x = torch.from_numpy(toks[rows]).to(dist.device)
        c = torch.from_numpy(cts[rows, :-1]).to(dist.device) if cfg.dims.controls else None
        logits, _ = trained(x[:, :-1], controls=c)  # (B / world_size, T, V)
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        opt.step()
        step += 1
        now = time.monotonic()
        elapsed += now - t_last
        t_last = now
        if budget < math.inf:  # the ranks must agree on when the budget ends, and on the lr
            elapsed = distributed.from_main(elapsed, dist)
        running += loss.item()
        n_running += 1
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.3f}", lr=f"{lr:.1e}", refresh=False)
        if step % 50 == 0:
            history["train"].append((step, distributed.mean_over_ranks(running / n_running, dist)))
            running, n_running = 0.0, 0
        done = step >= cfg.steps or elapsed >= budget or (stop_after is not None and step >= stop_after)
        if step % cfg.eval_every == 0 or done:
            evaluate()
        if step % cfg.checkpoint_every == 0 or done:
            checkpoint(state_path, full=True)
    bar.close()
    print(f"done at step {step} after {elapsed / 60:.1f} min; best held-out NLL {history['best'][1]:.4f} "
          f"at step {history['best'][0]}; weights in {best_path}", file=log, flush=True)
    return history


def load_model(path: Path) -> tuple[PhraseLSTM, dict]:
    return load_checkpoint(path)
