"""Token streams for training: pieces -> tokens, a fixed split, random windows.

Every piece becomes ``BOS`` followed by its tokens; the pieces of one split are
concatenated into one int16 stream. Training windows are drawn at random
offsets and transposed at random (augmentation); held-out windows are fixed,
consecutive and never transposed, so every evaluation scores the same tokens.
No torch here: batches are numpy arrays.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from livegen.core import tokens as tk
from livegen.train.lstm.corpus import PieceNotes, is_held_out


@dataclass
class Split:
    """One split: the concatenated stream and where each piece starts."""

    tokens: np.ndarray  # (N,) int16
    piece_starts: np.ndarray  # (P,) int64 offsets of each piece's BOS
    names: list[str]

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
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, train=data.train.tokens, train_starts=data.train.piece_starts,
                 held=data.held_out.tokens, held_starts=data.held_out.piece_starts, meta=np.array(json.dumps(meta)))
        tmp.replace(path)
    print(f"tokens: train {len(data.train.tokens)} from {data.train.num_pieces} pieces, held-out "
          f"{len(data.held_out.tokens)} from {data.held_out.num_pieces} pieces; {stats}", file=log, flush=True)
    return data


def random_batch(stream: np.ndarray, batch: int, length: int, rng: np.random.Generator,
                 transpose: int = 0) -> np.ndarray:
    """``batch`` windows of ``length + 1`` tokens at random offsets, each
    transposed by a random amount in ``-transpose..transpose`` semitones (the
    largest that keeps every pitch in range when the draw does not)."""
    if len(stream) < length + 2:
        raise ValueError(f"stream of {len(stream)} tokens is shorter than one window of {length + 1}")
    offsets = rng.integers(0, len(stream) - length - 1, size=batch)
    out = np.stack([stream[o:o + length + 1] for o in offsets]).astype(np.int64)
    if transpose:
        for i in range(batch):
            shift = int(rng.integers(-transpose, transpose + 1))
            while shift:
                moved = tk.transpose_tokens(out[i], shift)
                if moved is not None:
                    out[i] = moved
                    break
                shift -= int(np.sign(shift))
    return out


def fixed_windows(stream: np.ndarray, length: int, max_windows: int | None = None) -> np.ndarray:
    """Consecutive windows of ``length + 1`` tokens overlapping by one, so every
    token after the first is a target exactly once: (W, length + 1) int64."""
    n = (len(stream) - 1) // length
    if max_windows is not None:
        n = min(n, max_windows)
    return np.stack([stream[i * length:i * length + length + 1] for i in range(n)]).astype(np.int64) \
        if n > 0 else np.zeros((0, length + 1), np.int64)
