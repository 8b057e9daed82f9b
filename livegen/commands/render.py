"""``livegen render IN.mid OUT.wav``: a MIDI file through the timbre synth, offline."""

from __future__ import annotations

import sys
import time

from livegen.config import seed_option

HELP = "render a MIDI file to a WAV through the timbre synth (deterministic for a seed)"


def add_arguments(parser) -> None:
    parser.add_argument("midi", help="the MIDI file to play")
    parser.add_argument("wav", help="the WAV file to write (16-bit mono)")
    parser.add_argument("--preset", default=None, help="timbre preset (default: synth.preset)")
    parser.add_argument("--temperature", type=float, default=None,
                        help="noise share: 1 = as trained, 0 = harmonics only (default: synth.temperature)")
    parser.add_argument("--seed", type=seed_option, default=0, help="random seed (default 0)")
    parser.add_argument("--rate", type=int, default=None,
                        help="sample rate of the WAV in Hz, 8000..192000 (default: the model's, 48000)")


class Progress:
    """A line on stderr every few seconds of a long render: where it is, how fast, what is left."""

    EVERY_S = 5.0

    def __init__(self, sample_rate: int, t0: float):
        self.sample_rate, self.t0, self.next = sample_rate, t0, t0 + self.EVERY_S

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if now < self.next or done <= 0:
            return
        self.next = now + self.EVERY_S
        speed = done / self.sample_rate / (now - self.t0)
        left = max(total - done, 0) / self.sample_rate / max(speed, 1e-9)
        print(f"render: {done / self.sample_rate:.0f} of {total / self.sample_rate:.0f} s "
              f"({100 * min(done / max(total, 1), 1.0):.0f}%), {speed:.0f}x real time, about "
              f"{left:.0f} s left", file=sys.stderr, flush=True)


def run(args, cfg) -> int:
    import dataclasses

    from livegen.errors import ConfigError, DataError
    from livegen.fileio import check_output
    from livegen.io.midifile import read_midi
    from livegen.synth import synth_from_config
    from livegen.io.wavfile import write_wav
    from livegen.synth.offline import note_events, render_events

    s = cfg.synth
    if args.temperature is not None and not 0.0 <= args.temperature <= 2.0:
        raise ConfigError(f"--temperature {args.temperature}: must be in range 0.0..2.0")
    if args.rate is not None and not 8000 <= args.rate <= 192000:
        raise ConfigError(f"--rate {args.rate}: must be in range 8000..192000 Hz")
    check_output(args.wav)
    content = read_midi(args.midi)
    if not content.notes:  # as livegen continue says
        raise DataError(f"{args.midi}: holds no notes to render (drums on channel 10 are left out)")
    changes = {k: v for k, v in (("temperature", args.temperature),
                                 ("preset", args.preset)) if v is not None}
    cfg = dataclasses.replace(cfg, synth=dataclasses.replace(s, **changes))
    synth = synth_from_config(cfg, sample_rate=args.rate, seed=args.seed)
    events = note_events(content.notes, content.tempos, synth.sample_rate, synth.frame)
    t0 = time.perf_counter()
    audio = render_events(synth, events, progress=Progress(synth.sample_rate, t0))
    took = time.perf_counter() - t0
    write_wav(args.wav, audio, synth.sample_rate)
    seconds = len(audio) / synth.sample_rate
    print(f"rendered {len(content.notes)} notes, {seconds:.2f} s of audio in {took:.2f} s "
          f"(real-time factor {took / max(seconds, 1e-9):.2f}, {synth.kernel_name} kernel) -> {args.wav}")
    return 0
