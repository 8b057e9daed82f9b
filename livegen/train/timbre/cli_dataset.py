"""``livegen dataset notes``: render the note set with fluidsynth, or read a folder of WAV notes.

numpy/scipy/mido only; nothing heavy is imported at module level.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from livegen.config import seed_option

HELP = "render the timbre model's single-note data set with fluidsynth (cached), or import a folder of WAVs"


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from err


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from livegen.train.timbre.data import DEFAULT_SOUNDFONT, RenderSpec

    s = RenderSpec()
    parser.add_argument("--soundfont", default=DEFAULT_SOUNDFONT, help=f"SF2 file (default {DEFAULT_SOUNDFONT})")
    parser.add_argument("--programs", type=_ints, default=s.programs,
                        help="General MIDI programs 0..127, comma-separated (default %(default)s)")
    parser.add_argument("--pitch-min", type=int, default=s.pitch_min, help="lowest MIDI pitch (default %(default)s)")
    parser.add_argument("--pitch-max", type=int, default=s.pitch_max, help="highest MIDI pitch (default %(default)s)")
    parser.add_argument("--velocities", type=_ints, default=s.velocities, help="velocities (default %(default)s)")
    parser.add_argument("--seed", type=seed_option, default=s.seed, help="seed of the hold times (default 0)")
    parser.add_argument("--rebuild", action="store_true", help="render again even if cached")
    parser.add_argument("--wav-folder", type=Path, default=None, metavar="DIR",
                        help="instead of rendering, read single-note WAVs from DIR "
                             "(named <instrument>-<pitch>-<velocity>.wav, else the pitch is estimated)")
    parser.add_argument("--out", type=Path, default=None,
                        help="where to write the note set (.npz); default: the cache")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def check_spec(args):
    from livegen.errors import ConfigError
    from livegen.train.timbre.data import RenderSpec

    for p in args.programs:
        if not 0 <= p <= 127:
            raise ConfigError(f"program {p} must be in range 0..127")
    if not (0 <= args.pitch_min <= args.pitch_max <= 127):
        raise ConfigError(f"pitch range {args.pitch_min}..{args.pitch_max} must lie in 0..127, low <= high")
    for v in args.velocities:
        if not 1 <= v <= 127:
            raise ConfigError(f"velocity {v} must be in range 1..127")
    return RenderSpec(programs=tuple(args.programs), pitch_min=args.pitch_min, pitch_max=args.pitch_max,
                      velocities=tuple(args.velocities), seed=args.seed)


def run(args, cfg) -> int:
    from livegen.fileio import check_output
    from livegen.train.timbre import data

    if args.out:
        check_output(args.out)
    if args.wav_folder is not None:
        ns = data.load_wav_folder(args.wav_folder, progress=not args.no_progress)
        out = args.out or data.cache_dir() / f"wavs-{args.wav_folder.resolve().name}.npz"
        ns.save(out)
    else:
        spec = check_spec(args)
        ns, out = data.load_or_render(spec, args.soundfont, progress=not args.no_progress,
                                      rebuild=args.rebuild)
        if args.out:
            ns.save(args.out)
            out = args.out
    secs = len(ns.audio) / ns.sample_rate
    print(f"{len(ns)} notes ({int(ns.heldout.sum())} at held-out pitches), {secs:.0f} s of audio, "
          f"instruments: {', '.join(ns.names)}")
    print(f"note set: {out}")
    return 0
