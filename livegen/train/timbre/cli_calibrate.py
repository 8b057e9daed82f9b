"""``livegen presets calibrate``: calibration.json beside a timbre model (livegen.train.timbre.calibrate)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = ("measure each preset's harmonics and noise per band against its real notes at the "
        "trained pitches and write calibration.json beside the model (the synth applies it)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, default=Path("livegen/models/timbre"),
                        help="model folder (default %(default)s); calibration.json is written into it")
    parser.add_argument("--data", type=Path, default=None, help="note set .npz (default: the rendered default set)")
    parser.add_argument("--rounds", type=int, default=None, help="render-and-measure rounds (default 3)")
    parser.add_argument("--report", type=Path, default=None, help="also write the measured gaps here (JSON)")


def run(args, cfg) -> int:
    import numpy as np

    from livegen.engine.timbre import CALIBRATION_FILE, TimbreEngine
    from livegen.errors import ConfigError
    from livegen.fileio import check_output
    from livegen.train.timbre import calibrate as cal
    from livegen.train.timbre import data as wdata
    from livegen.train.timbre.evaluate import ModelRenderer, RealNotes

    rounds = cal.ROUNDS if args.rounds is None else args.rounds
    if rounds < 1:
        raise ConfigError(f"--rounds {rounds}: use 1 or more")
    out = args.model / CALIBRATION_FILE
    check_output(out)
    if args.report:
        check_output(args.report)
    files = TimbreEngine.load(args.model)
    ns = wdata.NoteSet.load(args.data) if args.data else wdata.load_or_render(wdata.RenderSpec())[0]
    notes = RealNotes([ns])
    renderer = ModelRenderer(files, seed=0)  # the notes as the evaluation renders them

    def render(z, calibration, pitch, velocity, hold_s, total_s):
        return renderer.note((z, calibration), pitch, velocity, hold_s, total_s)

    result, report = {}, {}
    for name, z in files.presets.items():
        if not any(notes.has(name, p, cal.VELOCITY) for p in cal.PITCHES):
            print(f"calibrate {name}: no real notes in the note set, left flat")
            continue
        c, rep = cal.calibrate(notes, name, np.asarray(z, np.float32), render, rounds, progress=print)
        result[name], report[name] = cal.rounded(c), rep
    out.write_text("{\n" + ",\n".join(f" {json.dumps(k)}: {json.dumps(v)}" for k, v in result.items()) + "\n}\n")
    print(f"{len(result)} presets calibrated -> {out}")
    if args.report:
        args.report.write_text(json.dumps(report, indent=1) + "\n")
    return 0
