"""The phrase model's dimensions and training settings (no torch: the CLI's
parser reads their defaults)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from livegen.core import tokens as tk


@dataclass(frozen=True)
class ModelDims:
    vocab_size: int = tk.VOCAB_SIZE
    embed: int = 64  # token embedding width
    hidden: int = 192  # LSTM width: weights grow with its square, and so does the step time
    layers: int = 4  # as the original Chainer "Stacked LSTM"
    dropout: float = 0.1  # between LSTM layers and before the output layer (training only)
    controls: int = 0  # control inputs given with every token (livegen.core.controls); 0 = none


@dataclass
class TrainConfig:
    steps: int = 6000  # optimizer steps; the schedule decays over them (or over max_minutes)
    max_minutes: float = 0.0  # stop (and finish the schedule) by this wall time; 0 = no limit
    batch: int = 32
    length: int = 256  # tokens per training window (truncated BPTT length)
    lr: float = 2e-3
    min_lr_ratio: float = 0.05  # cosine decay down to lr * this
    warmup: int = 200
    weight_decay: float = 0.0
    clip: float = 1.0
    transpose: int = 6  # random transposition in -6..+6 semitones per window
    eval_every: int = 250
    eval_windows: int = 200  # held-out windows of `length` tokens scored at each eval, spread evenly
    checkpoint_every: int = 250
    seed: int = 0
    threads: int = 1  # torch.set_num_threads: the machine is shared
    dims: ModelDims = field(default_factory=ModelDims)

    def to_dict(self) -> dict:
        return asdict(self)
