"""``livegen encode FILE.wav``: turn a user's own sound into a timbre preset."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "encode a WAV file into a timbre preset (z) and add it to a presets file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("wav", type=Path, help="a WAV file (any rate; resampled to 16 kHz, downmixed to mono)")
    parser.add_argument("--name", default=None, help="preset name (default: the file's stem)")
    parser.add_argument("--checkpoint", type=Path, default=Path("livegen/models/wavenet/wavenet.pt"),
                        help="model checkpoint (default %(default)s)")
    parser.add_argument("--presets", type=Path, default=None,
                        help="presets file to add the preset to (default: presets.json beside the checkpoint)")
    parser.add_argument("--print-only", action="store_true", help="print z, write nothing")


def run(args, cfg) -> int:
    import json

    import numpy as np

    from livegen.core import dsp
    from livegen.train.wavenet.data import read_wav
    from livegen.train.wavenet.model import load_checkpoint
    from livegen.engine.wavenet_files import load_presets, save_presets
    from livegen.train.wavenet.presets import encode_audio

    x, sr = read_wav(args.wav, dsp.SAMPLE_RATE)
    peak = float(np.abs(x).max())
    if peak > 1.0:
        x = x / peak
    model, _ = load_checkpoint(args.checkpoint)
    model.eval()
    z = encode_audio(model, x)
    name = args.name or args.wav.stem
    print(json.dumps({name: [round(float(v), 6) for v in z]}))
    if args.print_only:
        return 0
    path = args.presets or args.checkpoint.parent / "presets.json"
    presets = {k: list(map(float, v)) for k, v in load_presets(path, len(z), allow_empty=True).items()} if path.exists() else {}
    presets[name] = [float(v) for v in z]
    save_presets(path, presets)
    print(f"preset {name!r} written to {path}")
    return 0
