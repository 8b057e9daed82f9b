"""``livegen train wavenet``: train the WaveNet autoencoder (torch imported inside ``run``)."""

from __future__ import annotations

import argparse

HELP = "train the WaveNet autoencoder on the note set (resumes from OUT/last.pt if present)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from livegen.train.wavenet.options import build_parser

    build_parser(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args, cfg) -> int:
    from livegen.train.wavenet.options import options_from_args
    from livegen.train.wavenet.train import train

    best = train(options_from_args(args), progress=not args.no_progress)
    print(f"best checkpoint: {best}")
    return 0
