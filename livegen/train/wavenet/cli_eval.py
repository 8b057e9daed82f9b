"""``livegen eval wavenet``: pitch accuracy and preset distances of a trained model on held-out notes."""

from __future__ import annotations

import argparse
from pathlib import Path

from livegen import fileio

HELP = "evaluate the WaveNet on held-out notes: pitch (YIN), right- vs wrong-preset log-mel distance, sine baseline"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from livegen.train.wavenet.evaluate import EvalOptions

    o = EvalOptions()
    parser.add_argument("--checkpoint", type=Path, default=Path("livegen/models/wavenet/wavenet.pt"),
                        help="model checkpoint (default %(default)s)")
    parser.add_argument("--presets", type=Path, default=None,
                        help="presets.json (default: beside the checkpoint; built from the note set if missing)")
    parser.add_argument("--data", type=Path, default=None, help="note set .npz (default: the rendered default set)")
    parser.add_argument("--temperature", type=float, default=o.temperature, help="sampling temperature (default %(default)s)")
    parser.add_argument("--seed", type=int, default=o.seed, help="sampling seed (default %(default)s)")
    parser.add_argument("--pitches-per-set", type=int, default=o.pitches_per_set,
                        help="held-out (and trained) pitches per instrument (default %(default)s)")
    parser.add_argument("--max-seconds", type=float, default=o.max_seconds,
                        help="longest note rendered (default %(default)s)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--train-log", type=Path, action="append", default=[],
                        help="a training log.jsonl to plot as OUT/loss_curves.png (repeatable, in order)")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for results.json, results.md and spectrograms.png (default: print only)")


def run(args, cfg) -> int:
    import json

    import numpy as np
    import torch

    from livegen.errors import ConfigError
    from livegen.train.wavenet import data as wdata
    from livegen.train.wavenet.evaluate import EvalOptions, evaluate, results_markdown
    from livegen.train.wavenet.model import load_checkpoint
    from livegen.engine.wavenet_files import load_presets
    from livegen.train.wavenet.presets import instrument_presets

    if args.temperature < 0:
        raise ConfigError(f"--temperature {args.temperature} must be >= 0")
    torch.set_num_threads(args.threads)
    model, _ = load_checkpoint(args.checkpoint)
    model.eval()
    ns = wdata.NoteSet.load(args.data) if args.data else wdata.load_or_render(wdata.RenderSpec())[0]
    ppath = args.presets or args.checkpoint.parent / "presets.json"
    if ppath.exists():
        presets = load_presets(ppath, model.dims.z_dim)
    else:
        presets = {k: np.asarray(v, np.float32) for k, v in instrument_presets(model, ns).items()}
    o = EvalOptions(temperature=args.temperature, seed=args.seed, pitches_per_set=args.pitches_per_set,
                    max_seconds=args.max_seconds)
    res = evaluate(model, ns, presets, o)
    audio = res.pop("_audio")
    md = results_markdown(res)
    print(md)
    if args.out:
        from livegen.train.wavenet.figures import plot_spectrograms

        args.out.mkdir(parents=True, exist_ok=True)
        fileio.write_text(args.out / "results.json", json.dumps(res, indent=1))
        fileio.write_text(args.out / "results.md", md)
        pairs = []
        held = audio["held"]
        for i in held[:: max(1, len(held) // 4)][:4]:
            name = ns.names[ns.instrument[i]]
            real = ns.clip(i)[:len(audio["gen"][(i, name)])]
            pairs.append((f"{name} MIDI {int(ns.pitch[i])} (held-out pitch)", real, audio["gen"][(i, name)]))
        plot_spectrograms(pairs, args.out / "spectrograms.png")
        if args.train_log:
            from livegen.train.wavenet.figures import plot_curves

            plot_curves(args.train_log, args.out / "loss_curves.png")
        print(f"wrote {args.out}/results.json, results.md, spectrograms.png")
    return 0
