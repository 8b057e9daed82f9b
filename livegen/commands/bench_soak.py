"""``livegen bench soak``: livegen run, driven for a while by a generated performance, then checked.

A separate ``livegen run`` process gets, through real JACK ports as from a DAW, a
performance with a running MIDI clock, phrases, chords, controller sweeps, program
changes and note bursts (livegen.core.performance). Meanwhile its memory is sampled; at
the end it is stopped with SIGINT, and the check is: it exited cleanly, every note it
played was closed, its memory stayed flat, and its own counters (late responses,
underruns, dropped input) are reported.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

from livegen.config import seed_option

HELP = "drive livegen run with a generated performance for a while; check stuck notes, memory, lateness"

MEMORY_GROWTH_MB = 30.0  # the last third of the run may use at most this much more than the first
UNDERRUNS_PER_MINUTE = 2.0  # audio blocks the synth may miss (on a 2-core machine shared with others)
LATE_DROPPED = 0  # response messages dropped for being too late: none


def add_arguments(parser) -> None:
    parser.add_argument("--seconds", type=float, default=600.0, help="how long (default 600)")
    parser.add_argument("--seed", type=seed_option, default=0, help="seed of the performance (default 0)")
    parser.add_argument("--bpm", type=float, default=120.0, help="tempo of its MIDI clock (default 120)")
    parser.add_argument("--stop-after", type=float, default=4.0, metavar="S",
                        help="seconds between the performance's end and SIGINT (default 4: the last "
                             "answer has played; less stops livegen in the middle of it)")
    parser.add_argument("--no-timing-bounds", action="store_true",
                        help="report late-dropped notes and underruns but do not fail on them (they "
                             "depend on how busy the machine is; the tests use this)")


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def run(args, cfg) -> int:
    from livegen.commands.bench_synth import cpu_name
    from livegen.core.notes import is_note_on, left_sounding
    from livegen.commands.soak_performance import performance
    from livegen.daemon.harness import jack_server
    from livegen.io.midiclient import MidiRecorder, open_player, wait_for_port

    overrides = [a for o in args.overrides for a in ("--set", o)]
    child_args = ([sys.executable, "-m", "livegen"] + (["--config", args.config] if args.config else [])
                  + overrides + ["--set", "midi.backend=jack", "run", "--log", "--status-every", "2"])
    with jack_server(16000, 256) as (_, where):
        child = subprocess.Popen(child_args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                 env={**os.environ, "PYTHONUNBUFFERED": "1"})
        lines: list[str] = []
        try:
            wait_for_port("jack", cfg.midi.in_port, output=False, timeout=60)
            wait_for_port("jack", cfg.midi.out_port, output=True, timeout=60)
            recorder = MidiRecorder("jack", "livegen-soak-rec", cfg.midi.out_port)
            player = open_player("jack", "livegen-soak", cfg.midi.in_port)
            time.sleep(1.0)
            memory: list[float] = []
            start = time.monotonic()
            next_sample = start
            sent = 0
            for t, msg in performance(args.seconds, args.seed, args.bpm, cfg.synth.morph_cc,
                                      cfg.jam.cc_temperature):
                while True:
                    now = time.monotonic()
                    if now >= next_sample:
                        memory.append(rss_mb(child.pid) or float("nan"))
                        next_sample += 2.0
                    wait = start + t - now
                    if wait <= 0:
                        break
                    time.sleep(min(wait, 0.05))
                if child.poll() is not None:
                    break
                player.send(msg)
                sent += 1
            time.sleep(args.stop_after)
            child.send_signal(signal.SIGINT)
            out, _ = child.communicate(timeout=60)
            lines = out.splitlines()
            time.sleep(0.2)
            received = recorder.snapshot()
            recorder.close()
            player.close()
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    status = [ln for ln in lines if "status:" in ln]
    late = re.findall(r"late (\d+)", status[-1]) if status else []
    underruns = re.findall(r"underruns (\d+)", status[-1]) if status else []
    moved = sum(1 for ln in lines if "bar(s) late" in ln)
    responses = sum(1 for ln in lines if re.search(r"livegen: (response|variation|loop): ", ln))
    stuck = left_sounding(received)
    notes_out = sum(1 for _, m in received if is_note_on(m))
    third = max(1, len(memory) // 3)
    grow = (sorted(memory[-third:])[third // 2] - sorted(memory[:third])[third // 2]) if memory else float("nan")
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores; JACK: {where}")
    print(f"soak: {args.seconds:.0f} s, seed {args.seed}: sent {sent} messages; livegen exited with "
          f"{child.returncode}; it answered {responses} times ({moved} moved late by whole bars) and "
          f"played {notes_out} notes")
    print(f"counters at the end: late-dropped {late[-1] if late else '?'}, synth underruns "
          f"{underruns[-1] if underruns else 'n/a (MIDI only)'}")
    print(f"memory (RSS): {memory[0]:.1f} MB at the start, {memory[-1]:.1f} MB at the end; "
          f"last third minus first third: {grow:+.1f} MB (bound {MEMORY_GROWTH_MB:.0f})"
          if memory else "memory: not sampled")
    print(f"stuck notes on livegen's output after SIGINT: {sum(stuck.values())}"
          + (f" {sorted(stuck)}" if stuck else ""))
    n_under = int(underruns[-1]) if underruns else 0
    n_late = int(late[-1]) if late else 0
    timing = (f"late-dropped <= {LATE_DROPPED}, underruns <= {UNDERRUNS_PER_MINUTE:g} per minute"
              if not args.no_timing_bounds else "late-dropped and underruns reported, not bounded")
    print(f"bounds: stuck notes 0, memory growth <= {MEMORY_GROWTH_MB:.0f} MB, {timing} "
          f"(underruns here {n_under / max(args.seconds / 60, 1e-9):.2f} per minute)")
    timely = args.no_timing_bounds or (n_late <= LATE_DROPPED and
                                       n_under <= UNDERRUNS_PER_MINUTE * max(args.seconds / 60, 1.0))
    ok = child.returncode == 0 and not stuck and (not memory or grow <= MEMORY_GROWTH_MB) and timely
    if child.returncode != 0:
        print("livegen's last lines:\n  " + "\n  ".join(lines[-15:]))
    print("soak passed" if ok else "soak FAILED")
    return 0 if ok else 1
