"""``livegen bench synth``: real-time factor of each decoder engine, side by side in one run."""

from __future__ import annotations

import os
import platform
import time

HELP = "measure the synth's real-time factor per engine for 1, 4, 8 and 16 voices"


def add_arguments(parser) -> None:
    parser.add_argument("--voices", default="1,4,8,16", help="voice counts (default 1,4,8,16)")
    parser.add_argument("--engines", default="c,onnx", help="engines to compare (default c,onnx)")
    parser.add_argument("--seconds", type=float, default=2.0,
                        help="audio rendered per measurement by the kernel (default 2.0)")
    parser.add_argument("--onnx-seconds", type=float, default=0.1,
                        help="audio rendered per measurement by ONNX Runtime (default 0.1)")


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def measure(files, engine: str, voices: int, seconds: float, cfg) -> tuple[float, float, float, str]:
    """(real-time factor, microseconds per step for all voices, CPU seconds per audio second,
    engine name). The CPU time counts every thread of the process, so it shows the cost even
    when other programs share the cores (then the wall-clock figures rise, the CPU ones not)."""
    from livegen.synth.synth import Synth
    s = cfg.synth
    synth = Synth(files, voices=voices, engine=engine, temperature=s.temperature,
                  threads=s.threads, release_max_s=30.0, seed=1)
    for v in range(voices):  # every voice sounding, held for the whole measurement
        synth.handle(bytes([0x90, 48 + (v * 5) % 36, 100]))
    block = s.block
    synth.render(block)  # warm-up: first call builds caches
    n_blocks = max(1, round(seconds * synth.sample_rate / block))
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n_blocks):
        synth.render(block)
    took, cpu = time.perf_counter() - t0, time.process_time() - c0
    samples = n_blocks * block
    audio_s = samples / synth.sample_rate
    return took / audio_s, took / samples * 1e6, cpu / audio_s, synth.engine_name


def run(args, cfg) -> int:
    from livegen.engine.wavenet_files import WaveNetFiles
    files = WaveNetFiles.load(cfg.path(cfg.models.wavenet), cfg.models.provider)
    voices = [int(v) for v in args.voices.split(",")]
    engines = [e.strip() for e in args.engines.split(",")]
    w = files.kernel_weights()
    macs = w.macs_per_sample()
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores; synth.threads = {cfg.synth.threads}, "
          f"block = {cfg.synth.block} samples at {files.dims['sample_rate']} Hz")
    print(f"decoder: {len(w.dilations)} layers, residual {w.dims['R']}, gate 2x{w.dims['G']}, "
          f"skip {w.dims['S']}, head {w.dims['H']}: {macs:,} multiply-adds per sample")
    print()
    print("| engine | voices | real-time factor | us per step (all voices) | us per voice-sample "
          "| GMAC/s | CPU s per audio s |")
    print("|---|---|---|---|---|---|---|")
    for engine in engines:
        for v in voices:
            seconds = args.seconds if engine != "onnx" else args.onnx_seconds
            rtf, us, cpu, name = measure(files, engine, v, seconds, cfg)
            print(f"| {name} | {v} | {rtf:.3f} | {us:.1f} | {us / v:.2f} | "
                  f"{macs * v / us / 1e3:.2f} | {cpu:.3f} |", flush=True)
    print("\nreal-time factor = wall-clock render time / audio time; below 1 is faster than real "
          "time. CPU s per audio s adds up every thread (2 threads busy = up to 2x the wall time).")
    try:
        print(f"load average while measuring: {os.getloadavg()[0]:.2f} (other programs on the cores "
              "inflate the wall-clock figures)")
    except OSError:
        pass
    return 0
