"""``livegen train timbre``: train the timbre model (torch imported inside ``run``).

Under ``torchrun`` it trains data-parallel (``livegen.train.distributed``): ``--batch`` is the
global batch, split evenly over the processes.
"""

from __future__ import annotations

import argparse
import sys

HELP = "train the timbre model on the note set (resumes from OUT/last.pt if present)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from livegen.train.timbre.options import build_parser

    build_parser(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                        help="where to train: auto = CUDA where torch sees it (default auto)")


def run(args, cfg) -> int:
    from livegen.train import distributed
    from livegen.train.timbre.options import options_from_args
    from livegen.train.timbre.train import train

    dist = distributed.setup(args.device)
    try:
        best = train(options_from_args(args), progress=not args.no_progress, dist=dist)
    finally:
        distributed.teardown(dist)
    print(f"best checkpoint: {best}", file=distributed.log_stream(dist, sys.stdout))
    return 0


def main(argv=None) -> int:
    """Standalone entry (``python -m livegen.train.timbre.train``), same options."""
    from livegen.cli import standalone
    return standalone("livegen train timbre", HELP, add_arguments, run, argv)
