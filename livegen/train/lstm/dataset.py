"""Token streams for training: pieces -> tokens, a fixed split, random windows.

Every piece becomes ``BOS`` followed by its tokens; the pieces of one split are
concatenated into one int16 stream, with the controls of every token
(:func:`livegen.core.controls.stream_controls`: the texture, register and
density of what follows it). Training windows are drawn at random offsets,
balanced by texture (:func:`texture_windows`), and transposed at random
(augmentation); held-out windows are fixed, consecutive and never transposed,
so every evaluation scores the same tokens. No torch here: batches are numpy
arrays.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from livegen import fileio
from livegen.core import controls as ctl
from livegen.core import tokens as tk
from livegen.train.lstm.corpus import PieceNotes, is_held_out


@dataclass
class Split:
    """One split: the concatenated stream and where each piece starts."""

    tokens: np.ndarray  # (N,) int16
    piece_starts: np.ndarray  # (P,) int64 offsets of each piece's BOS
    names: list[str]
    controls: np.ndarray | None = None  # (N, NUM_CONTROLS) float32, normalized

    def __post_init__(self) -> None:
        if self.controls is None:
            self.controls = ctl.stream_controls(self.tokens)

    @property
    def num_pieces(self) -> int:
        return len(self.names)


@dataclass
class TokenData:
    train: Split
    held_out: Split
    stats: tk.TokenStats


def _tokenize(pieces: list[PieceNotes], stats: tk.TokenStats) -> list[np.ndarray]:
    return [tk.encode_arrays(p.start, p.end, p.pitch, p.velocity, bos=True, stats=stats) for p in pieces]


def _split(names: list[str], toks: list[np.ndarray]) -> Split:
    lengths = np.array([len(t) for t in toks], np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64) if len(toks) else np.zeros(0, np.int64)
    stream = np.concatenate(toks).astype(np.int16) if toks else np.zeros(0, np.int16)
    return Split(stream, starts, names)


def build(pieces: list[PieceNotes], held_out_percent: int = 10, cache_dir: Path | None = None,
          log=sys.stderr) -> TokenData:
    """Tokenize pieces and split them by piece (a stable hash of the name).

    With ``cache_dir``, the token streams are cached there, keyed by the pieces,
    the split and the vocabulary.
    """
    key = hashlib.sha1(json.dumps([held_out_percent, tk.VOCAB_SPEC, [p.name for p in pieces],
                                   sum(int(len(p.pitch)) for p in pieces)]).encode()).hexdigest()[:16]
    path = Path(cache_dir) / "lstm-data" / f"tokens-{key}.npz" if cache_dir else None
    if path is not None and path.exists():
        with np.load(path) as z:
            meta = json.loads(str(z["meta"]))
            stats = tk.TokenStats(**meta["stats"])
            return TokenData(Split(z["train"], z["train_starts"], meta["train_names"]),
                             Split(z["held"], z["held_starts"], meta["held_names"]), stats)
    stats = tk.TokenStats()
    train_p = [p for p in pieces if not is_held_out(p.name, held_out_percent)]
    held_p = [p for p in pieces if is_held_out(p.name, held_out_percent)]
    data = TokenData(_split([p.name for p in train_p], _tokenize(train_p, stats)),
                     _split([p.name for p in held_p], _tokenize(held_p, stats)), stats)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"stats": vars(stats), "train_names": data.train.names, "held_names": data.held_out.names}
        with fileio.atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, train=data.train.tokens, train_starts=data.train.piece_starts,
                     held=data.held_out.tokens, held_starts=data.held_out.piece_starts,
                     meta=np.array(json.dumps(meta)))
    print(f"tokens: train {len(data.train.tokens)} from {data.train.num_pieces} pieces, held-out "
          f"{len(data.held_out.tokens)} from {data.held_out.num_pieces} pieces; {stats}", file=log, flush=True)
    return data


def window_textures(controls: np.ndarray, length: int) -> np.ndarray:
    """Mean texture (notes per onset) of the window of ``length + 1`` tokens starting at
    each offset 0..N-length-2."""
    tex = controls[:, 0].astype(np.float64) * 2.0 + 1.0  # undo ctl.normalize
    cum = np.concatenate([[0.0], np.cumsum(tex)])
    n = len(tex) - length - 1
    return (cum[length + 1:length + 1 + n] - cum[:n]) / (length + 1)


@dataclass
class TextureSampler:
    """Window offsets drawn so that each texture class (one line, two voices, chords) gets
    an equal share of the windows, except that no class is drawn more than ``cap`` times
    as often as the data holds it (a rare class is not repeated endlessly)."""

    offsets: list[np.ndarray]  # per class
    shares: np.ndarray  # of the draws, per class
    natural: np.ndarray  # of the offsets, per class

    @classmethod
    def of(cls, split: Split, length: int, cap: float = 4.0) -> "TextureSampler":
        if len(split.tokens) < length + 2:
            raise ValueError(f"stream of {len(split.tokens)} tokens is shorter than one window of {length + 1}")
        tex = window_textures(split.controls, length)
        cls_of = np.digitize(tex, [1.25, 2.25])
        offsets = [np.flatnonzero(cls_of == k) for k in range(len(ctl.TEXTURE_CLASSES))]
        natural = np.array([len(o) for o in offsets], np.float64) / len(tex)
        want = np.where(natural > 0, np.minimum(1.0 / len(offsets), cap * natural), 0.0)
        return cls(offsets, want / want.sum(), natural)

    def draw(self, batch: int, rng: np.random.Generator) -> np.ndarray:
        k = rng.choice(len(self.offsets), size=batch, p=self.shares)
        return np.array([o[rng.integers(0, len(o))] for o in (self.offsets[i] for i in k)], np.int64)

    def describe(self) -> str:
        return ", ".join(f"{name} {n:.0%} of the data, {s:.0%} of the windows"
                         for name, n, s in zip(ctl.TEXTURE_CLASSES, self.natural, self.shares))


def texture_windows(split: Split, sampler: TextureSampler, batch: int, length: int, rng: np.random.Generator,
                    transpose: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A training batch: (batch, length + 1) int64 tokens and their (batch, length + 1, C)
    float32 controls, at offsets balanced by texture, each window transposed at random by
    ``-transpose..transpose`` semitones (the largest that keeps every pitch in range when
    the draw does not; the controls' centre moves along)."""
    offsets = sampler.draw(batch, rng)
    out = np.stack([split.tokens[o:o + length + 1] for o in offsets]).astype(np.int64)
    cts = np.stack([split.controls[o:o + length + 1] for o in offsets]).astype(np.float32)
    shifts = _transpose_rows(out, rng, transpose)
    cts[:, :, 1] += shifts[:, None] / 12.0
    return out, cts


def _transpose_rows(out: np.ndarray, rng: np.random.Generator, transpose: int) -> np.ndarray:
    """Transpose each row in place by a random amount in -transpose..transpose; returns the shifts."""
    shifts = np.zeros(len(out), np.int64)
    if transpose:
        for i in range(len(out)):
            shift = int(rng.integers(-transpose, transpose + 1))
            while shift:
                moved = tk.transpose_tokens(out[i], shift)
                if moved is not None:
                    out[i] = moved
                    break
                shift -= int(np.sign(shift))
            shifts[i] = shift
    return shifts


def fixed_windows(stream: np.ndarray, length: int, max_windows: int | None = None,
                  dtype=np.int64) -> np.ndarray:
    """Consecutive windows of ``length + 1`` tokens overlapping by one, so every
    token after the first is a target exactly once: (W, length + 1) int64. A
    (N, C) stream of controls gives (W, length + 1, C) (pass ``dtype=np.float32``)."""
    n = (len(stream) - 1) // length
    if max_windows is not None:
        n = min(n, max_windows)
    return np.stack([stream[i * length:i * length + length + 1] for i in range(n)]).astype(dtype) \
        if n > 0 else np.zeros((0, length + 1) + np.shape(stream)[1:], dtype)
