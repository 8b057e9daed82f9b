"""The phrase model: embedding, stacked LSTM with dropout between layers, logits.

The state is explicit: ``forward(tokens, state, controls) -> (logits, state)``
with ``state = (h, c)``, each (layers, batch, hidden), so the same module steps
one token at a time (the daemon, ONNX export) or runs a whole window
(training). A model with ``dims.controls`` inputs is given that many control
values with every token (livegen.core.controls: texture, register, density),
concatenated to the token's embedding, as Performance RNN conditions on note
density.
A checkpoint records :class:`ModelDims`, the vocabulary and the training
config; :func:`load_checkpoint` rebuilds the model from those alone.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from livegen import fileio
from livegen.core import tokens as tk
from livegen.errors import ModelFileError
from livegen.train.lstm.settings import ModelDims

CHECKPOINT_KIND = "livegen.lstm.checkpoint"
CHECKPOINT_VERSION = 1


class PhraseLSTM(nn.Module):
    def __init__(self, dims: ModelDims):
        super().__init__()
        self.dims = dims
        self.embed = nn.Embedding(dims.vocab_size, dims.embed)
        self.lstm = nn.LSTM(dims.embed + dims.controls, dims.hidden, dims.layers, batch_first=True,
                            dropout=dims.dropout if dims.layers > 1 else 0.0)
        self.drop = nn.Dropout(dims.dropout)
        self.head = nn.Linear(dims.hidden, dims.vocab_size)

    def initial_state(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.zeros(self.dims.layers, batch, self.dims.hidden)
        return z, z.clone()

    def forward(self, tokens: torch.Tensor, state=None, controls: torch.Tensor | None = None):
        """tokens (B, T) int64, controls (B, T, C) float -> logits (B, T, V), state ((L, B, H), (L, B, H))."""
        x = self.embed(tokens)  # (B, T, E)
        if self.dims.controls:
            if controls is None or (not torch.jit.is_tracing()
                                    and tuple(controls.shape) != (*tokens.shape, self.dims.controls)):
                raise ValueError(f"this model takes controls of shape (B, T, {self.dims.controls}) with the tokens, "
                                 f"got {None if controls is None else tuple(controls.shape)}")
            x = torch.cat([x, controls.to(x.dtype)], dim=-1)
        y, state = self.lstm(x, state)  # (B, T, H)
        return self.head(self.drop(y)), state  # (B, T, V)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def save_checkpoint(path: Path, model: PhraseLSTM, *, config: dict, extra: dict | None = None) -> None:
    """Weights plus everything needed to rebuild and judge them (atomic write)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = {
        "kind": CHECKPOINT_KIND,
        "format_version": CHECKPOINT_VERSION,
        "dims": asdict(model.dims),
        "vocab": tk.VOCAB_SPEC,
        "config": config,
        "model": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},  # CPU: loads anywhere
        **(extra or {}),
    }
    with fileio.atomic_path(path) as tmp:
        torch.save(blob, tmp)


def read_checkpoint(path: Path) -> dict:
    """The checkpoint's dict, checked to be a livegen LSTM with our vocabulary."""
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"{path}: no such checkpoint")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many kinds for a corrupt file
        raise ModelFileError(f"{path}: not a readable torch checkpoint ({type(err).__name__})") from err
    if not isinstance(blob, dict) or blob.get("kind") != CHECKPOINT_KIND:
        raise ModelFileError(f"{path}: not a livegen LSTM checkpoint")
    if blob.get("format_version") != CHECKPOINT_VERSION:
        raise ModelFileError(f"{path}: checkpoint format {blob.get('format_version')}, "
                             f"this livegen reads {CHECKPOINT_VERSION}")
    if blob.get("vocab") != tk.VOCAB_SPEC:
        raise ModelFileError(f"{path}: trained with another vocabulary than livegen.core.tokens")
    return blob


def load_checkpoint(path: Path) -> tuple[PhraseLSTM, dict]:
    """(model in eval mode, checkpoint dict)."""
    blob = read_checkpoint(path)
    model = PhraseLSTM(ModelDims(**blob["dims"]))
    try:
        model.load_state_dict(blob["model"])
    except RuntimeError as err:
        raise ModelFileError(f"{path}: weights do not match the recorded dimensions") from err
    model.eval()
    return model, blob
