"""``livegen train lstm``: build the data set and train the phrase model.

Under ``torchrun`` it trains data-parallel (``livegen.train.distributed``):
``--batch`` is the global batch, split evenly over the processes.

torch, music21 and mido are imported inside ``run`` only (this module is
imported to build the CLI's parser).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from livegen.config import seed_option

HELP = "train the phrase LSTM on the music21 corpus and/or a folder of MIDI files"


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """Options that choose the data; shared with ``eval lstm``."""
    parser.add_argument("--midi-dir", type=Path, action="append", default=[], metavar="DIR",
                        help="also train on every .mid/.midi file under DIR (repeatable)")
    parser.add_argument("--no-corpus", action="store_true",
                        help="leave out the music21 corpus (then --midi-dir is required)")
    parser.add_argument("--corpus-collections", default=None, metavar="A,B,...",
                        help="music21 corpus collections (top-level folders) to use, or 'all' "
                             "(default: the ones that parse quickly; see livegen/train/lstm/corpus.py)")
    parser.add_argument("--corpus-limit", type=int, default=None, metavar="N",
                        help="use only the first N files of the music21 corpus (quick runs)")
    parser.add_argument("--held-out-percent", type=int, default=10, metavar="P",
                        help="share of pieces held out, chosen by a stable hash of their names (default 10)")
    parser.add_argument("--cache-dir", type=Path, default=None, metavar="DIR",
                        help="where parsed notes and token streams are cached "
                             "(default $XDG_CACHE_HOME/livegen or ~/.cache/livegen)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from livegen.train.lstm.settings import ModelDims, TrainConfig

    d, t = ModelDims(), TrainConfig()
    add_data_arguments(parser)
    parser.add_argument("--out", type=Path, default=Path("runs/lstm"), metavar="DIR",
                        help="output directory: model.pt, train_state.pt, curves.png (default runs/lstm)")
    parser.add_argument("--resume", action="store_true", help="continue from DIR/train_state.pt")
    parser.add_argument("--steps", type=int, default=t.steps, help=f"optimizer steps (default {t.steps})")
    parser.add_argument("--minutes", type=float, default=t.max_minutes,
                        help="stop after this many minutes of training, decaying the learning rate to fit (0 = no limit)")
    parser.add_argument("--batch", type=int, default=t.batch,
                        help=f"windows per step, over all processes under torchrun (default {t.batch})")
    parser.add_argument("--length", type=int, default=t.length, help=f"tokens per window (default {t.length})")
    parser.add_argument("--lr", type=float, default=t.lr, help=f"peak learning rate (default {t.lr})")
    parser.add_argument("--transpose", type=int, default=t.transpose,
                        help=f"random transposition range in semitones, 0 = none (default {t.transpose})")
    parser.add_argument("--eval-every", type=int, default=t.eval_every, help=f"steps between held-out evaluations (default {t.eval_every})")
    parser.add_argument("--eval-windows", type=int, default=t.eval_windows,
                        help=f"held-out windows scored at each evaluation (default {t.eval_windows})")
    parser.add_argument("--hidden", type=int, default=d.hidden, help=f"LSTM width (default {d.hidden})")
    parser.add_argument("--layers", type=int, default=d.layers, help=f"LSTM layers (default {d.layers})")
    parser.add_argument("--embed", type=int, default=d.embed, help=f"embedding width (default {d.embed})")
    parser.add_argument("--dropout", type=float, default=d.dropout, help=f"dropout (default {d.dropout})")
    parser.add_argument("--no-controls", action="store_true",
                        help="train without the texture/register/density controls (livegen.core.controls)")
    parser.add_argument("--seed", type=seed_option, default=t.seed, help="seed of weights and batches (default 0)")
    parser.add_argument("--threads", type=int, default=t.threads, help="torch threads (default 1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                        help="where to train: auto = CUDA where torch sees it (default auto)")
    parser.add_argument("--stop-after", type=int, default=None, metavar="STEP",
                        help="end after this step as an interruption would (checkpointed; --resume "
                             "continues on the same schedule)")


def collections(args) -> tuple[str, ...]:
    from livegen.train.lstm.corpus import DEFAULT_COLLECTIONS

    return tuple(args.corpus_collections.split(",")) if args.corpus_collections else DEFAULT_COLLECTIONS


def load_data(args, log=sys.stderr):
    """(TokenData, description) for the data options in ``args``."""
    from livegen.errors import DataError
    from livegen.train.lstm import corpus, dataset

    cache = args.cache_dir or corpus.default_cache_dir()
    pieces, sources = [], []
    if not args.no_corpus:
        got = corpus.music21_pieces(cache, limit=args.corpus_limit, log=log, collections=collections(args))
        pieces += got
        sources.append(f"music21 corpus ({len(got)} pieces" + (f", first {args.corpus_limit} files)" if args.corpus_limit else ")"))
    for d in args.midi_dir:
        got = corpus.build_midi_dir(d, log=log)
        pieces += got
        sources.append(f"{d} ({len(got)} pieces)")
    if not pieces:
        raise DataError("no training data: drop --no-corpus or give --midi-dir DIR")
    if not 1 <= args.held_out_percent <= 50:
        raise DataError(f"--held-out-percent must be in range 1..50, got {args.held_out_percent}")
    data = dataset.build(pieces, args.held_out_percent, cache_dir=cache, log=log)
    if data.held_out.num_pieces == 0 or data.train.num_pieces == 0:
        raise DataError(f"{len(pieces)} pieces are too few to split into training and held-out pieces")
    info = {"sources": sources, "train_pieces": data.train.num_pieces, "held_out_pieces": data.held_out.num_pieces,
            "train_tokens": int(len(data.train.tokens)), "held_out_tokens": int(len(data.held_out.tokens)),
            "held_out_percent": args.held_out_percent, "token_stats": vars(data.stats),
            "music21_collections": None if args.no_corpus else list(collections(args)),
            "music21_corpus_limit": args.corpus_limit}
    return data, info


def run(args, cfg=None) -> int:
    from livegen.errors import ConfigError
    from livegen.fileio import output_folder
    from livegen.train import distributed
    from livegen.train.lstm.settings import ModelDims, TrainConfig
    from livegen.train.lstm.train import train

    for name in ("steps", "batch", "length", "hidden", "layers", "embed", "threads", "eval_every", "eval_windows"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if not 0 <= args.dropout < 1:
        raise ConfigError(f"--dropout must be in range 0..1, got {args.dropout}")
    if not 0 <= args.transpose <= 24:
        raise ConfigError(f"--transpose must be in range 0..24, got {args.transpose}")
    output_folder(args.out)  # before the data and the training
    from livegen.core.controls import NUM_CONTROLS

    dims = ModelDims(hidden=args.hidden, layers=args.layers, embed=args.embed, dropout=args.dropout,
                     controls=0 if args.no_controls else NUM_CONTROLS)
    tcfg = TrainConfig(steps=args.steps, max_minutes=args.minutes, batch=args.batch, length=args.length,
                       lr=args.lr, transpose=args.transpose, eval_every=args.eval_every,
                       eval_windows=args.eval_windows, checkpoint_every=args.eval_every, seed=args.seed,
                       threads=args.threads, dims=dims)
    if args.stop_after is not None and args.stop_after < 1:
        raise ConfigError(f"--stop-after must be at least 1, got {args.stop_after}")
    dist = distributed.setup(args.device)
    try:
        log = distributed.log_stream(dist)
        print(distributed.header(dist), file=log, flush=True)  # the log's first line
        share = distributed.rank_slice(args.batch, dist)
        print(f"global batch: {args.batch} windows of {args.length} tokens per step"
              + (f", {share.stop - share.start} per process" if dist.world_size > 1 else ""), file=log, flush=True)
        with distributed.main_first(dist):  # rank 0 parses and caches, the others read the cache
            data, info = load_data(args, log=log)
        train(tcfg, data, args.out, resume=args.resume, data_info=info, progress=not args.no_progress,
              log=log, stop_after=args.stop_after, dist=dist)
        distributed.barrier(dist)  # every rank done before any leaves the group
    finally:
        distributed.teardown(dist)
    return 0


def main(argv=None) -> int:
    """Standalone entry (``python -m livegen.train.lstm.cli_train``), same options."""
    from livegen.cli import standalone
    return standalone("livegen train lstm", HELP, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
