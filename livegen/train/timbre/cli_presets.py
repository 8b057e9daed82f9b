"""``livegen presets timbre``: one timbre preset per training instrument (the mean of its notes' z)."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = ("write presets.json (instrument name -> z) from a checkpoint: the codes it was trained "
        "with, or (--from-encoder) the mean encoder code of each instrument's notes")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, default=Path("livegen/models/timbre/model.pt"),
                        help="model checkpoint (default %(default)s)")
    parser.add_argument("--data", type=Path, default=None, help="note set .npz (default: the rendered default set)")
    parser.add_argument("--out", type=Path, default=None, help="presets file (default: presets.json beside the checkpoint)")
    parser.add_argument("--from-run", type=Path, default=None, metavar="CKPT",
                        help="first write a weights-only copy of CKPT (e.g. RUN/last.pt) to --checkpoint")
    parser.add_argument("--from-encoder", action="store_true",
                        help="presets from the encoder (mean code of each instrument's training notes)")


def run(args, cfg) -> int:
    from livegen.engine.timbre import save_presets
    from livegen.fileio import check_output
    from livegen.train.timbre.model import load_checkpoint, save_checkpoint

    if args.out:
        check_output(args.out)  # before the checkpoint loads (the default lies beside it)
    if args.from_run:
        model, ck = load_checkpoint(args.from_run)
        args.checkpoint.parent.mkdir(parents=True, exist_ok=True)
        save_checkpoint(args.checkpoint, model, step=ck.get("step"), options=ck.get("options"),
                        names=ck.get("names"), presets=ck.get("presets"))
        print(f"{args.from_run} (step {ck.get('step')}) -> {args.checkpoint}")
    model, ck = load_checkpoint(args.checkpoint)
    model.eval()
    if ck.get("presets") and not args.from_encoder:
        presets = ck["presets"]  # the codes the decoder was trained with
    else:
        from livegen.train.timbre import data as wdata
        from livegen.train.timbre.presets import instrument_presets
        ns = wdata.NoteSet.load(args.data) if args.data else wdata.load_or_render(wdata.RenderSpec())[0]
        presets = instrument_presets(model, ns)
    out = args.out or args.checkpoint.parent / "presets.json"
    save_presets(out, presets)
    print(f"{len(presets)} presets ({', '.join(presets)}) -> {out}")
    return 0
