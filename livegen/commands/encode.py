"""``livegen encode FILE.wav``: turn a user's own sound into a timbre preset (ONNX, no torch)."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "encode a WAV file into a timbre preset (z) and add it to a presets file"
MIN_REFINE, MAX_REFINE = 0, 10000
SILENT_PEAK = 1e-4  # -80 dBFS: below this a recording is silence
MIN_SECONDS = 0.1  # shorter than this holds no note


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("wav", type=Path, help="a WAV file of one instrument: held notes, or playing "
                        "(legato lines, vibrato; any rate, mono or stereo, resampled to the model's rate)")
    parser.add_argument("--name", default=None, help="preset name (default: the file's stem)")
    parser.add_argument("--presets", type=Path, default=None,
                        help="presets file to add the preset to (default: presets.json of the "
                             "model folder, models.timbre)")
    parser.add_argument("--print-only", action="store_true", help="print z, write nothing")
    parser.add_argument("--refine", type=int, default=48, metavar="N",
                        help=f"then move z by N trial renders of the recording's own notes, starting "
                             f"from the best of the encoder's code and the presets ({MIN_REFINE}..{MAX_REFINE}; "
                             f"0 = the encoder's code alone; default %(default)s, about a second each)")
    parser.add_argument("--progress", action="store_true",
                        help="print 'progress K/N' lines while refining (for the control surface)")


def run(args, cfg) -> int:
    import json

    import numpy as np

    from livegen.engine.timbre import TimbreEngine, add_preset
    from livegen.errors import ConfigError, DataError
    from livegen.io.wavfile import read_wav
    from livegen.synth.encoding import NO_NOTE, encode_audio, recording_notes

    if not MIN_REFINE <= args.refine <= MAX_REFINE:
        raise ConfigError(f"--refine {args.refine}: allowed {MIN_REFINE}..{MAX_REFINE} trial renders")
    name = args.name or args.wav.stem
    if not name.strip():
        raise ConfigError("--name: a preset needs a name that is not empty")
    files = TimbreEngine.load(cfg.path(cfg.models.timbre), cfg.models.provider)
    x, sr = read_wav(args.wav, files.sample_rate)
    if len(x) < MIN_SECONDS * sr:
        raise DataError(f"{args.wav}: {len(x) / sr:.4f} s of audio is too short to hold a note "
                        f"(at least {MIN_SECONDS} s); nothing written")
    peak = float(np.abs(x).max())
    if peak < SILENT_PEAK:
        raise DataError(f"{args.wav} is silent (peak {20 * np.log10(max(peak, 1e-12)):.0f} dBFS, "
                        f"below {20 * np.log10(SILENT_PEAK):.0f}); nothing written")
    if peak > 1.0:
        x = x / peak
    notes = recording_notes(x, sr)
    if not notes:
        raise DataError(f"{args.wav}: {NO_NOTE}; nothing written")
    print(f"{len(notes)} notes found (MIDI {', '.join(str(p) for _, _, p, _, _ in notes)})")
    z = encode_audio(files, x, sr, notes)
    if args.refine > 0:
        from livegen.synth.encoding import refine
        def step(k: int, n: int) -> None:
            print(f"progress {k}/{n}", flush=True)

        z, d0, d = refine(files, x, sr, z, list(files.presets.values()), steps=args.refine, notes=notes,
                          on_step=step if args.progress else None)
        print(f"refined: spectral distance to the recording {d0:.3f} (encoder) -> {d:.3f}")
    print(json.dumps({name: [round(float(v), 6) for v in z]}))
    if args.print_only:
        return 0
    path = args.presets or files.folder / "presets.json"
    add_preset(path, name, z)
    print(f"preset {name!r} written to {path}")
    return 0
