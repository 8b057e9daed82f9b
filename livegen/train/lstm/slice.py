"""Write the held-out slice that the shipped model's test scores anywhere:

    python -m livegen.train.lstm.slice [CHECKPOINT] [OUT.npz]

100 windows of 256 tokens spread evenly over the held-out split (the split the checkpoint
was trained with) with their controls, the Kneser-Ney 7-gram's NLL on them (trained on the
whole training split) and the checkpoint's. Needs the music21 note cache ``livegen train lstm`` builds.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ORDER = 7


def write_slice(checkpoint: Path, out: Path, windows: int = 100) -> tuple[float, float]:
    import torch

    from livegen import fileio
    from livegen.train.lstm import corpus, dataset
    from livegen.train.lstm.baselines import KneserNey
    from livegen.train.lstm.model import load_checkpoint
    from livegen.train.lstm.train import nll_per_token

    torch.set_num_threads(1)
    model, blob = load_checkpoint(checkpoint)
    data = dataset.build(corpus.load_pieces(corpus.music21_cache_path()), blob["data"]["held_out_percent"],
                         cache_dir=corpus.default_cache_dir())
    all_windows = dataset.fixed_windows(data.held_out.tokens, 256)
    pick = np.linspace(0, len(all_windows) - 1, windows).astype(int)
    chosen = all_windows[pick]
    controls = dataset.fixed_windows(data.held_out.controls, 256, dtype=np.float32)[pick]
    lstm = float(nll_per_token(model, chosen, controls))
    kn = KneserNey(data.train.tokens, ORDER)
    ngram = float(-np.concatenate([kn.token_logprobs(w) for w in chosen]).mean())
    with fileio.atomic_path(out) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, windows=chosen.astype(np.int16), controls=controls.astype(np.float32),
                                ngram_nll=np.float64(ngram),
                                lstm_nll=np.float64(lstm))
    return lstm, ngram


if __name__ == "__main__":
    ckpt = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("livegen/models/lstm/model.pt")
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else ckpt.with_name("heldout_slice.npz")
    lstm, ngram = write_slice(ckpt, out)
    print(f"wrote {out}: LSTM {lstm:.4f}, {ORDER}-gram {ngram:.4f} nats/token")
