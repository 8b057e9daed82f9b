"""A separate process that records a MIDI port, as a DAW's track would (for the end-to-end tests).

    python tests/e2e_recorder.py --from livegen-out:out

Waits for the port, connects an input to it, prints ``ready`` and records until SIGINT
or SIGTERM; then prints one JSON line: {"got": [[monotonic ns, hex], ...]}. For tests
whose JACK server stops under them: a process of its own keeps the test's process from
being a client of that server.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from livegen.io.midiclient import MidiRecorder, wait_for_port  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--from", dest="source", default="livegen-out:out")
    ap.add_argument("--backend", default="jack")
    ap.add_argument("--name", default="e2e-recorder")
    a = ap.parse_args()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    wait_for_port(a.backend, a.source, output=True)
    recorder = MidiRecorder(a.backend, a.name, a.source)
    print("ready", flush=True)
    stop.wait()
    time.sleep(0.05)
    got = recorder.snapshot()
    recorder.close()
    print(json.dumps({"got": [[t, m.hex()] for t, m in got]}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
