"""``livegen bench synth``: real-time factor of the synth per provider and voice count, side by
side in one run, with the share of the decoder step (ONNX Runtime) in it."""

from __future__ import annotations

import os
import platform
import time

HELP = "measure the synth's real-time factor for 1, 8, 16, 32 and 64 voices per ONNX Runtime provider"


def add_arguments(parser) -> None:
    parser.add_argument("--voices", default="1,8,16,32,64", help="voice counts (default %(default)s)")
    parser.add_argument("--providers", default="cpu", help="ONNX Runtime providers to compare: "
                        "cpu, cuda (default %(default)s)")
    parser.add_argument("--rate", type=int, default=48000, help="output rate in Hz (default %(default)s)")
    parser.add_argument("--block", type=int, default=128,
                        help="samples per render call, as a device period (default %(default)s)")
    parser.add_argument("--seconds", type=float, default=2.0,
                        help="audio rendered per measurement (default %(default)s)")


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def measure(files, voices: int, seconds: float, rate: int, block: int, cfg) -> dict:
    """Real-time factor (wall and CPU) of the synth with ``voices`` notes held, and of the
    decoder step alone for the same voices and frames."""
    import numpy as np

    from livegen.synth.synth import Synth
    synth = Synth(files, sample_rate=rate, voices=voices, temperature=cfg.synth.temperature,
                  release_max_s=30.0, seed=1)
    for v in range(voices):  # every voice sounding, held for the whole measurement
        synth.handle(bytes([0x90 | (v // 32), 40 + (v * 5) % 45, 100]))
    synth.render(block)  # warm-up
    n_blocks = max(1, round(seconds * rate / block))
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n_blocks):
        synth.render(block)
    took, cpu = time.perf_counter() - t0, time.process_time() - c0
    audio_s = n_blocks * block / rate
    frames = int(audio_s / synth.frame_s)
    ring, vi = files.new_ring(voices), np.arange(voices)
    cond = np.zeros((voices, files.dims["z_dim"] + 9), np.float32)
    t1 = time.perf_counter()
    for _ in range(frames):
        files.step(ring, vi, cond)
    dec = time.perf_counter() - t1
    return {"rtf": took / audio_s, "cpu": cpu / audio_s, "decoder_rtf": dec / audio_s,
            "sounding": synth.active_voices}


def run(args, cfg) -> int:
    from livegen.engine.timbre import TimbreEngine
    from livegen.errors import ConfigError
    voices = [int(v) for v in args.voices.split(",")]
    providers = [p.strip() for p in args.providers.split(",")]
    for p in providers:
        if p not in ("cpu", "cuda"):
            raise ConfigError(f"--providers: {p!r} is not a provider; use cpu or cuda")
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores; output {args.rate} Hz, blocks of "
          f"{args.block} samples; synth.threads = {cfg.synth.threads}")
    print()
    print("| provider | voices | real-time factor | CPU s per audio s | decoder step alone (RTF) |")
    print("|---|---|---|---|---|")
    for p in providers:
        files = TimbreEngine.load(cfg.path(cfg.models.timbre), p, cfg.synth.threads)
        for v in voices:
            m = measure(files, v, args.seconds, args.rate, args.block, cfg)
            print(f"| {p} | {v} | {m['rtf']:.3f} | {m['cpu']:.3f} | {m['decoder_rtf']:.3f} |", flush=True)
    print("\nreal-time factor = wall-clock render time / audio time; below 1 is faster than real time.")
    try:
        print(f"load average while measuring: {os.getloadavg()[0]:.2f} (other programs on the cores "
              "inflate the wall-clock figures)")
    except OSError:
        pass
    return 0
