"""``livegen continue IN.mid OUT.mid``: continue a clip offline, as the jam partner would.

Like Magenta Studio's Continue for a DAW clip: the clip is the phrase, and the
continuation is sampled by the daemon's own model (the ONNX file of
``models.lstm``, on ONNX Runtime; no torch), with the daemon's sampling
(``jam.temperature``, ``jam.top_p``, the key penalty and copy guard) and
controls (texture, register and density followed from the clip, or set by
``jam.texture``, ``jam.register``, ``jam.density``; ``jam.safety_net``).

The clip's last ``jam.max_phrase_beats`` (whole bars) prime the model, as a
phrase that long would in ``livegen run``; the continuation starts on the
first bar line after the clip's end and lasts ``--bars`` (default: as many
bars as the prompt, up to ``jam.max_response_bars``, as the daemon answers).
"""

from __future__ import annotations

import math
from pathlib import Path

from livegen.config import seed_option

HELP = "continue a MIDI clip with the jam partner's model and write K variations"


def add_arguments(parser) -> None:
    parser.add_argument("clip", type=Path, metavar="IN.mid", help="the clip to continue (a standard MIDI file)")
    parser.add_argument("out", type=Path, metavar="OUT.mid",
                        help="where to write; with --variations K > 1, OUT-1.mid .. OUT-K.mid")
    parser.add_argument("--bars", type=int, default=0,
                        help="bars to continue for (default jam.response_bars, whose 0 means as many as the "
                             "prompt took, up to jam.max_response_bars)")
    parser.add_argument("--variations", type=int, default=1, metavar="K", help="continuations to write (default 1)")
    parser.add_argument("--temperature", type=float, default=None, help="sampling temperature (default jam.temperature)")
    parser.add_argument("--seed", type=seed_option, default=None,
                        help="seed of the first variation (the others follow it; default: a fresh one, printed)")
    parser.add_argument("--only-continuation", action="store_true",
                        help="write the continuation alone (at its place after the clip), not the clip before it")


def out_paths(out: Path, k: int) -> list[Path]:
    return [out] if k == 1 else [out.with_name(f"{out.stem}-{i}{out.suffix}") for i in range(1, k + 1)]


def run(args, cfg) -> int:
    import dataclasses

    import numpy as np

    from livegen.core import controls as ctl
    from livegen.core import sampling
    from livegen.core import tokens as tk
    from livegen.core.phrase import off_the_beat
    from livegen.daemon.control import steering_of
    from livegen.daemon.schedule import response_bars
    from livegen.errors import ConfigError, DataError
    from livegen.fileio import check_output
    from livegen.io.midifile import read_midi, write_notes

    if args.variations < 1:
        raise ConfigError(f"--variations must be at least 1, got {args.variations}")
    if args.bars < 0 or args.bars > 64:
        raise ConfigError(f"--bars must be in range 0..64 (0 = follow the clip), got {args.bars}")
    for path in out_paths(args.out, args.variations):
        check_output(path)
    temperature = cfg.jam.temperature if args.temperature is None else args.temperature
    options = sampling.SamplingOptions(temperature=temperature, top_p=cfg.jam.top_p)  # a ConfigError names it
    try:
        with open(args.clip, "rb") as fh:
            head = fh.read(4)
    except OSError as err:
        raise DataError(f"{args.clip}: cannot read it ({err.strerror or err})") from err
    if head != b"MThd":
        raise DataError(f"{args.clip}: not a MIDI file (a standard MIDI file starts with 'MThd'); "
                        f"export the clip from the DAW as .mid")
    content = read_midi(args.clip)  # a damaged MIDI file: one DataError naming it
    if not content.notes:
        raise DataError(f"{args.clip}: the clip holds no notes to continue (drums on channel 10 are left out)")
    from livegen.engine.lstm import LstmRuntime

    model = LstmRuntime(cfg.path(cfg.models.lstm), cfg.models.provider, cfg.jam.lstm_threads)  # the LSTM only

    bpb = cfg.jam.beats_per_bar
    clip_end = max(content.length_beats, max(n.end for n in content.notes))
    start = math.ceil(clip_end / bpb - 1e-9) * bpb  # the first bar line after the clip
    keep = max(bpb, math.floor(cfg.jam.max_phrase_beats / bpb) * bpb)
    origin = max(0.0, start - keep)
    prompt = [tk.Note(n.start - origin, n.end - origin, n.pitch, n.velocity)
              for n in content.notes if n.start >= origin]
    if not prompt:
        raise DataError(f"{args.clip}: no notes in the last {keep:g} beats before its end (beat {clip_end:g}); "
                        f"livegen continues what was played last")
    played = clip_end - origin - min(n.start for n in prompt)  # as a phrase: first note to the end
    # the continuation's first note on its bar line, unless the clip's phrase began off the beat
    options = dataclasses.replace(options, first_note_at_start=not off_the_beat(min(n.start for n in content.notes
                                                                                   if n.start >= origin)))
    tokens = tk.encode_phrase(prompt, start - origin)
    bars = args.bars or response_bars(played, bpb, cfg.jam.response_bars, cfg.jam.max_response_bars)
    steering = steering_of(cfg.jam)
    key = sampling.estimate_key(prompt)
    measured = ctl.measure(tokens, played)
    target = steering.target(measured)
    seed = args.seed if args.seed is not None else int(np.random.SeedSequence().entropy % (1 << 31))
    print(f"{args.clip}: {len(prompt)} notes primed (beats {origin:g}..{clip_end:g}), key {key}; "
          f"measured {measured}; answering with {target}; {bars} bars from beat {start:g}")
    tempos = content.tempos or [(0.0, cfg.jam.tempo_bpm)]
    for i, path in enumerate(out_paths(args.out, args.variations)):
        cont = sampling.continue_phrase(model.step, model.initial_state(), tokens, beats=bars * bpb,
                                        rng=np.random.default_rng(seed + i), options=options, key=key,
                                        steering=steering, prompt_beats=played)
        new = tk.decode_tokens(cont, origin=start)
        got = ctl.phrase_controls([tk.Note(n.start - start, n.end - start, n.pitch, n.velocity) for n in new],
                                  bars * bpb)
        write_notes(path, new if args.only_continuation else list(content.notes) + new, tempos=tempos)
        print(f"  {path}: {len(new)} notes (seed {seed + i}); {got if got else 'no notes'}")
    return 0
