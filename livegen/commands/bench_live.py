"""``livegen bench live``: the synth through a real JACK server: underruns and note latency."""

from __future__ import annotations

import os
import time

HELP = "play N voices live through JACK for a while: underruns, load, note-on to first sample"


def add_arguments(parser) -> None:
    parser.add_argument("--voices", type=int, default=8, help="voices held at once (default 8)")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long (default 60)")
    parser.add_argument("--rate", type=int, default=16000,
                        help="rate of the private JACK server started when none runs (default 16000)")
    parser.add_argument("--period", type=int, default=256, help="its period in frames (default 256)")


def run(args, cfg) -> int:
    import dataclasses

    from livegen.commands.bench_synth import cpu_name
    from livegen.io import audio, jackserver, midi
    from livegen.io.jackrec import AudioRecorder
    from livegen.synth import open_live

    server = None
    if midi.probe("jack") is not None:  # no server: start a private one
        server = jackserver.start(f"livegen-bench-{os.getpid()}", args.rate, args.period)
        os.environ.update(JACK_DEFAULT_SERVER=server.name, JACK_NO_START_SERVER="1")
    cfg = dataclasses.replace(cfg, audio=dataclasses.replace(cfg.audio, backend="jack"),
                              synth=dataclasses.replace(cfg.synth, voices=max(args.voices, 1)))
    live = open_live(cfg)
    rec = AudioRecorder(f"{cfg.audio.client_name}:out_0")
    try:
        period = rec.client.blocksize
        time.sleep(0.5)
        underruns_before = live.status()["underruns"]
        latencies = []
        t_end = time.monotonic() + args.seconds
        round_ = 0
        while time.monotonic() < t_end:
            # every voice held for most of 2 s, then released: onsets are measured per round
            sent = time.monotonic_ns()
            for v in range(args.voices):
                live.send(bytes([0x90, 48 + (v * 5 + round_) % 36, 100]))
            time.sleep(0.3)
            first = rec.first_sound_after(sent)
            if first is not None and round_ > 0:
                latencies.append((first - sent) / 1e6)
            time.sleep(max(0.0, min(1.5, t_end - time.monotonic())))
            for v in range(args.voices):
                live.send(bytes([0x80, 48 + (v * 5 + round_) % 36, 0]))
            time.sleep(0.5)  # releases ring out, so the next onset starts from silence
            round_ += 1
        status = live.status()
    finally:
        rec.close()
        live.close()
        if server is not None:
            audio.release()
            server.stop()
    lat = sorted(latencies)
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores; JACK at {rec.rate} Hz, period {period} "
          f"frames ({period / rec.rate * 1e3:.1f} ms); engine {status['engine']}, "
          f"synth.threads = {cfg.synth.threads}, synth.block = {cfg.synth.block}")
    print(f"{args.voices} voices for {args.seconds:.0f} s: {status['underruns'] - underruns_before} "
          f"underruns ({underruns_before} while starting), render load {status['load']:.2f} "
          f"(render time / audio time, at the end), voices shed {status['voices_shed']}")
    if lat:
        goal = 2 * period / rec.rate * 1e3 + 5
        print(f"note-on to first sample at livegen's JACK port: median {lat[len(lat) // 2]:.1f} ms, "
              f"max {lat[-1]:.1f} ms over {len(lat)} rounds; the driver adds its playback latency "
              f"(one period, {period / rec.rate * 1e3:.1f} ms, with the dummy driver) on the way to "
              f"the DAC (goal: under {goal:.1f} ms = 2 periods + 5 ms)")
    return 0
