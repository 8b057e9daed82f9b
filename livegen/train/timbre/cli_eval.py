"""``livegen eval timbre``: the timbre model's notes against FluidR3's real notes.

Pitch (YIN and CREPE), instrument recognition, a real-vs-rendered discriminator, HNR, right vs wrong preset, encode-unseen, DC offset, clicks,
morphing and the energy above 8 kHz (``livegen.train.timbre.evaluate``); ``--reference``
measures the real notes themselves (the reference level) instead of a model.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from livegen.config import seed_option

HELP = ("evaluate the timbre model on held-out pitches: recognition, pitch, a real-vs-rendered "
        "discriminator, HNR, right vs wrong preset, "
        "encode-unseen, DC, clicks, morphing, energy above 8 kHz")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from livegen.train.timbre.evaluate import EvalOptions

    o = EvalOptions()
    parser.add_argument("--model", type=Path, default=None,
                        help="model folder (default: the config's models.timbre)")
    parser.add_argument("--reference", action="store_true",
                        help="measure the real notes themselves instead of a model (the reference level)")
    parser.add_argument("--data", type=Path, default=None,
                        help="note set .npz with the 8 preset instruments (default: the rendered default set)")
    parser.add_argument("--unseen", type=Path, default=None,
                        help="note set .npz with piano and the unseen instruments cello, clarinet, oboe "
                             "(default: rendered once and cached)")
    parser.add_argument("--temperature", type=float, default=None,
                        help="synth temperature (default: the config's synth.temperature)")
    parser.add_argument("--seed", type=seed_option, default=0, help="synth seed (default %(default)s)")
    parser.add_argument("--refine", type=int, default=0, metavar="N",
                        help="encode-unseen: after the encoder, N steps of livegen encode's analysis by "
                             "synthesis (default %(default)s: the encoder alone; each step renders 4 notes)")
    parser.add_argument("--velocity", type=int, default=o.velocity, help="velocity of every note (default %(default)s)")
    parser.add_argument("--crepe", default=o.crepe_model, choices=("tiny", "full", "none"),
                        help="the outside pitch tracker's CREPE model (torchcrepe; none: skip it; "
                             "default %(default)s)")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for results.json, results.md and spectrograms.png (default: print only)")


def load_real_notes(data: Path | None, unseen: Path | None, melodies: bool = False):
    """The real notes: the preset instruments, and the unseen ones brought to their level; with
    ``melodies``, also (notes, {unseen instrument: its played melody at the notes' level})."""
    import numpy as np

    from livegen.train.timbre import data as wdata
    from livegen.train.timbre.evaluate import PRESET_NAMES, RealNotes

    main = wdata.NoteSet.load(data) if data else wdata.load_or_render(wdata.RenderSpec())[0]
    keep = [k for k, n in enumerate(main.names) if n in PRESET_NAMES]
    main = main.subset(np.isin(main.instrument, keep))  # let the other instruments' audio go
    if unseen:
        other = wdata.NoteSet.load(unseen)
    else:
        spec = wdata.RenderSpec(programs=(wdata.PRESET_PROGRAMS[0],) + wdata.UNSEEN_PROGRAMS,
                                sample_rate=main.sample_rate)
        other = wdata.load_or_render(spec)[0]
    notes = RealNotes([main, other], level_by="piano")
    if not melodies:
        return notes
    # the melodies are FluidR3's, so they go with the default (FluidR3) set of unseen notes only
    return notes, (unseen_melodies(other, notes.gains[1]) if unseen is None else {})


def unseen_melodies(other, gain: float) -> dict:
    """The played melody (``data.MELODY``, legato) of each unseen instrument of ``other`` that
    General MIDI names, at the level of its notes: the set was scaled as a whole after
    rendering, so the factor is its note at MIDI 62 over the same note rendered alone."""
    import tempfile

    import numpy as np

    from livegen.core.tokens import Note
    from livegen.train.timbre import data as wdata
    from livegen.train.timbre.evaluate import UNSEEN_NAMES

    programs = {n: p for p, n in wdata.GM_NAMES.items()}
    out = {}
    for name in UNSEEN_NAMES:
        k = [i for i in range(len(other)) if other.names[other.instrument[i]] == name
             and int(other.pitch[i]) == 62 and int(other.velocity[i]) == 85]
        if name not in programs or not k:
            continue
        hold = other.hold[k[0]] / other.sample_rate
        with tempfile.TemporaryDirectory() as td:
            alone = wdata.fluidsynth_render([Note(0.256, 0.256 + hold, 62, 85)], programs[name], other.sample_rate,
                                            wdata.RenderSpec().gain, wdata.DEFAULT_SOUNDFONT, Path(td))
        scale = float(np.abs(other.clip(k[0])).max()) / max(float(np.abs(alone).max()), 1e-9)
        out[name] = (wdata.render_melody(programs[name], other.sample_rate) * np.float32(scale * gain))
    return out


def run(args, cfg) -> int:
    import json

    import numpy as np

    from livegen import fileio
    from livegen.errors import ConfigError
    from livegen.train.timbre.evaluate import EvalOptions, ModelRenderer, RealRenderer, evaluate, results_markdown

    temperature = cfg.synth.temperature if args.temperature is None else args.temperature
    if not 0.0 <= temperature <= 2.0:
        raise ConfigError(f"--temperature {temperature}: allowed 0..2")
    if args.refine < 0:
        raise ConfigError(f"--refine {args.refine}: allowed 0 or more")
    if not 1 <= args.velocity <= 127:
        raise ConfigError(f"--velocity {args.velocity}: allowed 1..127")
    if args.out:
        fileio.output_folder(args.out)  # before the evaluation's minutes
    notes, melodies = load_real_notes(args.data, args.unseen, melodies=True)
    if args.reference:
        renderer = RealRenderer(notes)
        source = "the real notes (reference level)"
    else:
        from livegen.engine.timbre import TimbreEngine

        folder = args.model or Path(cfg.models.timbre)
        renderer = ModelRenderer(TimbreEngine.load(folder), temperature=temperature, seed=args.seed,
                                 refine_steps=args.refine)
        source = (f"model {folder}, temperature {temperature}, seed {args.seed}, "
                  f"encode-unseen refine steps {args.refine}")
    crepe = "" if args.crepe == "none" else args.crepe
    res = evaluate(renderer, notes, EvalOptions(velocity=args.velocity, crepe_model=crepe), melodies=melodies)
    res["source"] = source
    audio = res.pop("_audio")
    md = f"{source}\n\n" + results_markdown(res)
    print(md)
    if args.out:
        from livegen.train.timbre.figures import plot_spectrograms

        args.out.mkdir(parents=True, exist_ok=True)
        fileio.write_text(args.out / "results.json", json.dumps(res, indent=1))
        fileio.write_text(args.out / "results.md", md)
        own = list(audio["own"])  # (instrument, pitch) in order: four spread over both
        keys = [own[int(i)] for i in np.unique(np.linspace(0, len(own) - 1, 4).round())]
        plot_spectrograms([(f"{n} MIDI {p} (held-out pitch)", audio["real"][(n, p)], audio["own"][(n, p)])
                           for n, p in keys], args.out / "spectrograms.png", notes.sample_rate)
        print(f"wrote {args.out}/results.json, results.md, spectrograms.png")
    return 0
