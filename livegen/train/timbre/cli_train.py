"""``livegen train timbre``: train the timbre model (torch imported inside ``run``).

Under ``torchrun`` it trains data-parallel (``livegen.train.distributed``): ``--batch`` is the
global batch, split evenly over the processes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = ("train the timbre model on the note set, or (--audio DIR) fine-tune it on your own recordings "
        "(resumes from OUT/last.pt if present)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from livegen.train.timbre.options import build_parser

    build_parser(parser)
    parser.add_argument("--audio", type=Path, default=None, metavar="DIR",
                        help="fine-tune the shipped model (or --init) on the WAV recordings of one instrument in "
                             "DIR (held notes or playing): writes OUT/model, a model folder with the shipped "
                             "presets and one named --name; options left at their defaults take "
                             "--steps 400 --decay-start 200 --lr 1e-4 --measured-f0 (own_sound.AUDIO_DEFAULTS)")
    parser.add_argument("--name", default=None, help="with --audio: the new preset's name (default: DIR's name)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                        help="where to train: auto = CUDA where torch sees it (default auto)")


def run(args, cfg) -> int:
    from livegen.train import distributed
    from livegen.train.timbre.options import options_from_args
    from livegen.train.timbre.train import train

    dist = distributed.setup(args.device)
    try:
        if args.audio is not None:
            from livegen.train.timbre import own_sound
            from livegen.train.timbre.options import TrainOptions
            defaults = TrainOptions()  # an option left at its training default takes the --audio one
            given = {k for k in own_sound.AUDIO_DEFAULTS if getattr(args, k) != getattr(defaults, k)}
            name = args.name or args.audio.resolve().name
            shipped = Path(cfg.path(cfg.models.timbre)) if cfg is not None else Path(__file__).parents[2] / "models" / "timbre"
            done = own_sound.run(options_from_args(args), args.audio, name, shipped, given,
                                 progress=not args.no_progress, dist=dist)
            distributed.barrier(dist)  # every rank done before any leaves the group
            return done
        best = train(options_from_args(args), progress=not args.no_progress, dist=dist)
        distributed.barrier(dist)
    finally:
        distributed.teardown(dist)
    print(f"best checkpoint: {best}", file=distributed.log_stream(dist, sys.stdout))
    return 0


def main(argv=None) -> int:
    """Standalone entry (``python -m livegen.train.timbre.train``), same options."""
    from livegen.cli import standalone
    return standalone("livegen train timbre", HELP, add_arguments, run, argv)
