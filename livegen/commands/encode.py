"""``livegen encode FILE.wav``: turn a user's own sound into a timbre preset (ONNX, no torch)."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "encode a WAV file into a timbre preset (z) and add it to a presets file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("wav", type=Path, help="a WAV file of one or more notes (any rate, mono or "
                        "stereo; resampled to the model's rate)")
    parser.add_argument("--name", default=None, help="preset name (default: the file's stem)")
    parser.add_argument("--presets", type=Path, default=None,
                        help="presets file to add the preset to (default: presets.json of the "
                             "model folder, models.timbre)")
    parser.add_argument("--print-only", action="store_true", help="print z, write nothing")
    parser.add_argument("--refine", type=int, default=48, metavar="N",
                        help="then move z by N trial renders of the recording's own notes, starting "
                             "from the best of the encoder's code and the presets (0 = the encoder's "
                             "code alone; default %(default)s, about a second each)")
    parser.add_argument("--progress", action="store_true",
                        help="print 'progress K/N' lines while refining (for the control surface)")


def run(args, cfg) -> int:
    import json

    import numpy as np

    from livegen.engine.timbre import TimbreEngine, load_presets, save_presets
    from livegen.io.wavfile import read_wav
    from livegen.synth.encoding import encode_audio

    files = TimbreEngine.load(cfg.path(cfg.models.timbre), cfg.models.provider)
    x, sr = read_wav(args.wav, files.sample_rate)
    peak = float(np.abs(x).max())
    if peak > 1.0:
        x = x / peak
    z = encode_audio(files, x, sr)
    if args.refine > 0:
        from livegen.synth.encoding import refine
        def step(k: int, n: int) -> None:
            print(f"progress {k}/{n}", flush=True)

        z, d0, d = refine(files, x, sr, z, list(files.presets.values()), steps=args.refine,
                          on_step=step if args.progress else None)
        if d == d:  # not nan: the recording had pitched notes to compare
            print(f"refined: spectral distance to the recording {d0:.3f} (encoder) -> {d:.3f}")
    name = args.name or args.wav.stem
    print(json.dumps({name: [round(float(v), 6) for v in z]}))
    if args.print_only:
        return 0
    path = args.presets or files.folder / "presets.json"
    presets = load_presets(path, len(z), allow_empty=True) if path.exists() else {}
    presets[name] = z
    save_presets(path, presets)
    print(f"preset {name!r} written to {path}")
    return 0
