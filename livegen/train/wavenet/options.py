"""Training options (no torch here: the CLI builds its parser from them)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass


@dataclass
class TrainOptions:
    out: str = "runs/wavenet"
    steps: int = 20000
    batch: int = 16
    window: int = 2560
    context: int = 512
    lr: float = 1e-3
    lr_final: float = 1e-4
    decay_start: int = 8000  # constant lr until here, then exponential decay to lr_final at steps
    threads: int = 1
    eval_every: int = 500
    ckpt_every: int = 250
    pitch_notes: int = 8  # generated held-out notes per evaluation
    pitch_seconds: float = 0.5  # length of each generated evaluation note (held for 70%)
    max_shift: float = 0.4
    input_noise: float = 0.0  # max std (mu-law classes) of noise injected into the input history
    seed: int = 0
    data: str | None = None  # a NoteSet .npz; default: the rendered default set
    residual: int = 32
    gate: int = 16
    skip: int = 32
    n_harmonics: int = 4


HELP = {
    "out": "run folder: last.pt (resumable), best.pt (lowest held-out loss), log.jsonl",
    "steps": "total optimizer steps (the learning-rate schedule ends here)",
    "batch": "windows per step", "window": "samples per window (a multiple of 64)",
    "context": "leading samples of a mid-note window that are not scored",
    "lr": "learning rate, constant until --decay-start", "lr_final": "learning rate at --steps",
    "decay_start": "step where the exponential decay begins",
    "threads": "torch threads (1 while another trainer shares the cores)",
    "eval_every": "steps between held-out evaluations (loss and generated-note pitch)",
    "ckpt_every": "steps between checkpoints", "pitch_seconds": "length of each generated evaluation note", "pitch_notes": "held-out notes generated per evaluation",
    "max_shift": "pitch-shift augmentation range in semitones (+-)", "seed": "seed of weights and windows",
    "input_noise": "noise injection: each window's input history gets Gaussian noise of a std drawn from [0, this] mu-law classes",
    "data": "note set .npz (default: the rendered default set)", "residual": "decoder residual channels",
    "gate": "decoder gate channels (pre-activation 2x)", "skip": "decoder skip channels",
    "n_harmonics": "harmonics in the excitation (sin and cos each)",
}


def build_parser(p: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    p = p or argparse.ArgumentParser(description="train the livegen WaveNet autoencoder")
    for k, v in TrainOptions.__dataclass_fields__.items():
        default = v.default
        typ = type(default) if default is not None else str
        p.add_argument("--" + k.replace("_", "-"), type=typ, default=default,
                       help=f"{HELP.get(k, k)} (default {default})")
    return p


def options_from_args(a) -> TrainOptions:
    return TrainOptions(**{k: getattr(a, k) for k in TrainOptions.__dataclass_fields__})


