"""A separate process that plays into livegen as a DAW would (for the end-to-end tests).

    python tests/e2e_player.py --to livegen:in --bpm 180 --phrase 60,62,64,65 [--clock]
        [--seconds 10]

Connects an output port to ``--to`` through the backend (JACK), plays the phrase
as eighth notes at ``--bpm`` from its beat 2 (after MIDI Start and clock ticks at
that tempo with ``--clock``, which keep running for ``--seconds``), then prints
one JSON line: {"t0": monotonic ns of beat 0 (Start), "sent": [[ns, hex], ...]}.
"""

from __future__ import annotations

import argparse
import heapq
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from livegen.io.midiclient import open_player, wait_for_port  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--to", default="livegen:in")
    ap.add_argument("--backend", default="jack")
    ap.add_argument("--bpm", type=float, default=120.0)
    ap.add_argument("--phrase", default="60,62,64,65")
    ap.add_argument("--clock", action="store_true")
    ap.add_argument("--seconds", type=float, default=0.0)
    ap.add_argument("--start-beat", type=float, default=2.0)
    a = ap.parse_args()
    wait_for_port(a.backend, a.to, output=False)
    player = open_player(a.backend, "e2e-player", a.to)
    beat_ns = 60e9 / a.bpm
    t0 = time.monotonic_ns() + 200_000_000
    events = []  # (time, seq, bytes)
    seq = 0
    for i, p in enumerate(int(x) for x in a.phrase.split(",")):
        at = t0 + (a.start_beat + 0.5 * i) * beat_ns
        events += [(at, seq, bytes((0x90, p, 100))), (at + 0.4 * beat_ns, seq + 1, bytes((0x80, p, 0)))]
        seq += 2
    end = max(t for t, _, _ in events)
    if a.clock:
        events.append((t0, -1, b"\xfa"))  # Start, then 24 ticks per beat from beat 0
        end = max(end, t0 + a.seconds * 1e9)
        k = 0
        while t0 + k * beat_ns / 24 <= end:
            events.append((t0 + k * beat_ns / 24, -2 + 0 * k, b"\xf8"))
            k += 1
    heapq.heapify(events)
    print(json.dumps({"t0": t0}), flush=True)
    sent = []
    while events:
        at, _, msg = heapq.heappop(events)
        wait = at - time.monotonic_ns()
        if wait > 0:
            time.sleep(wait / 1e9)
        player.send(msg)
        if msg[0] != 0xF8:
            sent.append([time.monotonic_ns(), msg.hex()])
    time.sleep(0.05)
    player.close()
    print(json.dumps({"t0": t0, "sent": sent}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
