"""``livegen render IN.mid OUT.wav``: a MIDI file through the WaveNet synth, offline."""

from __future__ import annotations

import time

HELP = "render a MIDI file to a WAV through the WaveNet synth (deterministic for a seed)"


def add_arguments(parser) -> None:
    parser.add_argument("midi", help="the MIDI file to play")
    parser.add_argument("wav", help="the WAV file to write (16-bit mono at the model's rate)")
    parser.add_argument("--preset", default=None, help="timbre preset (default: synth.preset)")
    parser.add_argument("--temperature", type=float, default=None,
                        help="sampling temperature (default: synth.temperature)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--engine", choices=("auto", "c", "onnx"), default=None,
                        help="decoder engine (default: synth.engine)")


def run(args, cfg) -> int:
    import dataclasses

    from livegen.errors import ConfigError
    from livegen.io.midifile import read_midi
    from livegen.synth import synth_from_config
    from livegen.synth.offline import note_events, render_events, write_wav

    s = cfg.synth
    if args.temperature is not None and not 0.0 <= args.temperature <= 2.0:
        raise ConfigError(f"--temperature {args.temperature}: must be in range 0.0..2.0")
    content = read_midi(args.midi)
    changes = {k: v for k, v in (("engine", args.engine), ("temperature", args.temperature),
                                 ("preset", args.preset)) if v is not None}
    cfg = dataclasses.replace(cfg, synth=dataclasses.replace(s, **changes))
    synth = synth_from_config(cfg, seed=args.seed)
    events = note_events(content.notes, content.tempos, synth.sample_rate, synth.frame)
    t0 = time.perf_counter()
    audio = render_events(synth, events, block=s.block)
    took = time.perf_counter() - t0
    write_wav(args.wav, audio, synth.sample_rate)
    seconds = len(audio) / synth.sample_rate
    print(f"rendered {len(content.notes)} notes, {seconds:.2f} s of audio in {took:.2f} s "
          f"(real-time factor {took / max(seconds, 1e-9):.2f}, {synth.engine_name} engine) -> {args.wav}")
    return 0
