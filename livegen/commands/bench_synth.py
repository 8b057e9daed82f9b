"""``livegen bench synth``: real-time factor of the synth per voice count, the native kernel
(what livegen plays) and the reference (numpy and the ONNX Runtime decoder step, per provider)
side by side in one run, with their ratio."""

from __future__ import annotations

import os
import platform
import time

HELP = ("measure the synth's real-time factor for 1, 8, 16, 32 and 64 voices: the native kernel "
        "beside the numpy/ONNX Runtime reference")


def add_arguments(parser) -> None:
    parser.add_argument("--voices", default="1,8,16,32,64", help="voice counts (default %(default)s)")
    parser.add_argument("--providers", default="cpu", help="ONNX Runtime providers for the reference's "
                        "decoder step: cpu, cuda (default %(default)s)")
    parser.add_argument("--kernels", default="native,reference",
                        help="what to time: native, reference (default %(default)s)")
    parser.add_argument("--rate", type=int, default=48000, help="output rate in Hz (default %(default)s)")
    parser.add_argument("--block", type=int, default=128,
                        help="samples per render call, as a device period (default %(default)s)")
    parser.add_argument("--seconds", type=float, default=2.0,
                        help="audio rendered per measurement (default %(default)s)")


def cpu_name() -> str:
    """The CPU's model name, with its family and model numbers and its widest vector unit
    (lscpu's "AMD EPYC" covers several generations)."""
    info = {}
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                info.setdefault(key.strip(), value.strip())
    except OSError:
        return platform.processor() or "unknown CPU"
    flags = info.get("flags", "").split()
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return (f"{info.get('model name', 'unknown CPU')} (family {info.get('cpu family', '?')}, "
            f"model {info.get('model', '?')}, {isa})")


def measure(files, voices: int, seconds: float, rate: int, block: int, cfg, kernel: str) -> dict:
    """Real-time factor (wall and CPU) of the synth with ``voices`` notes held."""
    from livegen.synth.synth import Synth
    synth = Synth(files, sample_rate=rate, voices=voices, temperature=cfg.synth.temperature,
                  release_max_s=30.0, seed=1, kernel=kernel)
    for v in range(voices):  # every voice sounding, held for the whole measurement
        synth.handle(bytes([0x90 | (v // 32), 40 + (v * 5) % 45, 100]))
    synth.render(block)  # warm-up
    n_blocks = max(1, round(seconds * rate / block))
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n_blocks):
        synth.render(block)
    took, cpu = time.perf_counter() - t0, time.process_time() - c0
    audio_s = n_blocks * block / rate
    return {"rtf": took / audio_s, "cpu": cpu / audio_s, "sounding": synth.active_voices}


def run(args, cfg) -> int:
    from livegen.engine.timbre import TimbreEngine
    from livegen.errors import ConfigError
    from livegen.synth import native
    voices = [int(v) for v in args.voices.split(",")]
    providers = [p.strip() for p in args.providers.split(",")]
    kernels = [k.strip() for k in args.kernels.split(",")]
    for p in providers:
        if p not in ("cpu", "cuda"):
            raise ConfigError(f"--providers: {p!r} is not a provider; use cpu or cuda")
    for k in kernels:
        if k not in ("native", "reference"):
            raise ConfigError(f"--kernels: {k!r} is not a kernel; use native or reference")
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores; output {args.rate} Hz, blocks of "
          f"{args.block} samples; synth.threads = {cfg.synth.threads}")
    print(f"kernel: {native.describe()}")
    print()
    print("| voices | kernel | real-time factor | CPU s per audio s | reference / native (CPU) |")
    print("|---|---|---|---|---|")
    rows = [("native", "cpu")] if "native" in kernels else []
    rows += [("reference", p) for p in providers] if "reference" in kernels else []
    engines = {p: TimbreEngine.load(cfg.path(cfg.models.timbre), p, cfg.synth.threads)
               for _, p in rows}
    for v in voices:
        base = None
        for kernel, p in rows:
            m = measure(engines[p], v, args.seconds, args.rate, args.block, cfg, kernel)
            name = "native" if kernel == "native" else f"reference ({p})"
            ratio = f"{m['cpu'] / base:.1f}x" if base and kernel != "native" else ""
            base = m["cpu"] if kernel == "native" else base
            print(f"| {v} | {name} | {m['rtf']:.3f} | {m['cpu']:.3f} | {ratio} |", flush=True)
    print("\nreal-time factor = wall-clock render time / audio time; below 1 is faster than real time.")
    try:
        print(f"load average while measuring: {os.getloadavg()[0]:.2f} (other programs on the cores "
              "inflate the wall-clock figures)")
    except OSError:
        pass
    return 0
