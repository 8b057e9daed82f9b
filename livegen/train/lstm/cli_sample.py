"""``livegen sample lstm``: continue a MIDI phrase with a checkpoint, offline.

torch and mido are imported inside ``run`` only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from livegen.config import seed_option

HELP = "continue the phrase in a MIDI file with a phrase LSTM checkpoint and write a MIDI file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompt", type=Path, help="MIDI file whose notes prime the model")
    parser.add_argument("out", type=Path, help="MIDI file to write: the prompt, then the continuation")
    parser.add_argument("--checkpoint", type=Path, default=Path("livegen/models/lstm/model.pt"),
                        help="checkpoint (default livegen/models/lstm/model.pt)")
    parser.add_argument("--beats", type=float, default=16.0, help="beats to continue for (default 16)")
    parser.add_argument("--prompt-beats", type=float, default=None,
                        help="use only the last this many beats of the prompt (default all)")
    parser.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (default 1.0)")
    parser.add_argument("--top-p", type=float, default=0.95, help="nucleus mass (default 0.95)")
    parser.add_argument("--key-penalty", type=float, default=3.0,
                        help="nats taken from out-of-key note-ons, key estimated from the prompt; 0 = off (default 3)")
    parser.add_argument("--no-copy", type=int, default=8,
                        help="forbid copying runs of this many prompt tokens; 0 = off (default 8)")
    parser.add_argument("--seed", type=seed_option, default=None, help="seed (default: a fresh one, printed)")
    parser.add_argument("--only-continuation", action="store_true", help="write the continuation alone")


def run(args, cfg=None) -> int:
    import numpy as np
    import torch

    from livegen.core import sampling
    from livegen.core import tokens as tk
    from livegen.errors import ConfigError, DataError
    from livegen.fileio import check_output
    from livegen.io.midifile import read_midi, write_notes
    from livegen.train.lstm.evaluate import lstm_step_fn
    from livegen.train.lstm.model import load_checkpoint

    check_output(args.out)
    torch.set_num_threads(1)
    opts = sampling.SamplingOptions(args.temperature, args.top_p, args.key_penalty, args.no_copy)
    if not args.beats > 0:
        raise ConfigError(f"--beats must be > 0, got {args.beats}")
    content = read_midi(args.prompt)
    notes = content.notes
    if not notes:
        raise DataError(f"{args.prompt}: holds no notes to continue")
    end = max(content.length_beats, max(n.end for n in notes))
    origin = 0.0 if args.prompt_beats is None else max(0.0, end - args.prompt_beats)
    prompt = [tk.Note(n.start - origin, n.end - origin, n.pitch, n.velocity) for n in notes if n.start >= origin]
    toks = tk.encode_phrase(prompt, end - origin)
    model, _blob = load_checkpoint(args.checkpoint)
    seed = args.seed if args.seed is not None else int(np.random.SeedSequence().entropy % (1 << 31))
    key = sampling.estimate_key(prompt)
    cont = sampling.continue_phrase(lstm_step_fn(model), None, toks, beats=args.beats,
                                    rng=np.random.default_rng(seed), options=opts,
                                    key=key if opts.key_penalty > 0 else None, prompt_beats=end - origin)
    new = tk.decode_tokens(cont, origin=end)
    out = new if args.only_continuation else list(notes) + new
    write_notes(args.out, out, tempos=content.tempos or ((0.0, 120.0),))
    print(f"prompt: {len(prompt)} notes, key {key}; continuation: {len(new)} notes over {args.beats:g} beats "
          f"(seed {seed}) -> {args.out}")
    return 0
