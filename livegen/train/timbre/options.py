"""Training options of the timbre model (no torch here: the CLI builds its parser from them)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass


@dataclass
class TrainOptions:
    out: str = "runs/timbre"
    steps: int = 12000
    minutes: float = 0.0  # stop after this much training time (0 = no limit); resumable
    batch: int = 12
    crop_frames: int = 48
    lr: float = 1e-3
    lr_final: float = 1e-4
    decay_start: int = 6000  # constant lr until here, then exponential decay to lr_final at steps
    threads: int = 2
    eval_every: int = 500
    ckpt_every: int = 100
    pitch_notes: int = 8  # held-out notes rendered per evaluation for the in-tune rate
    max_shift: float = 0.4
    onset_share: float = 0.3
    z_noise: float = 0.05  # std of Gaussian noise added to z in training (a smoother timbre space)
    id_weight: float = 1.0  # weight of the encoder's squared distance to the instrument's code
    dev_weight: float = 2.0  # weight of the mean squared pitch deviation (as a share of its bound)
    seed: int = 0
    data: str | None = None  # a NoteSet .npz; default: the rendered default set
    channels: int = 64
    layers: int = 7  # dilations 1, 2, 4, ... frames
    n_harmonics: int = 96
    noise_bands: int = 40
    z_dim: int = 16


HELP = {
    "out": "run folder: last.pt (resumable), best.pt (lowest held-out loss), log.jsonl",
    "steps": "total optimizer steps (the learning-rate schedule ends here)",
    "minutes": "stop after this many minutes of training in this run (0: until --steps)",
    "batch": "notes per step (over all processes under torchrun)", "crop_frames": "frames of audio scored per note (4 ms each)",
    "lr": "learning rate, constant until --decay-start", "lr_final": "learning rate at --steps",
    "decay_start": "step where the exponential decay begins",
    "threads": "torch threads (1 while another trainer shares the cores)",
    "eval_every": "steps between held-out evaluations (loss and the rendered notes' pitch)",
    "ckpt_every": "steps between checkpoints",
    "pitch_notes": "held-out notes rendered per evaluation",
    "max_shift": "pitch-shift augmentation range in semitones (+-)",
    "onset_share": "share of crops that start at the note-on",
    "z_noise": "std of the noise added to z in training", "seed": "seed of weights and batches",
    "dev_weight": "weight of the penalty on the pitch deviation (mean square, as a share of its bound)",
    "id_weight": "weight of the encoder's squared distance to the instrument's learned code",
    "data": "note set .npz (default: the rendered default set)",
    "channels": "decoder channels", "layers": "decoder layers (dilations 1, 2, 4, ... frames)",
    "n_harmonics": "harmonics of the oscillator bank", "noise_bands": "bands of the noise filter",
    "z_dim": "size of the timbre code z",
}


def build_parser(p: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    p = p or argparse.ArgumentParser(description="train the livegen timbre model")
    for k, v in TrainOptions.__dataclass_fields__.items():
        default = v.default
        typ = type(default) if default is not None else str
        p.add_argument("--" + k.replace("_", "-"), type=typ, default=default,
                       help=f"{HELP.get(k, k)} (default {default})")
    return p


def options_from_args(a) -> TrainOptions:
    return TrainOptions(**{k: getattr(a, k) for k in TrainOptions.__dataclass_fields__})
