"""A musician at the control surface, for benchmarks: headless Chromium opens the page and
moves the timbre pad without a pause, as a hand dragging it would (a move every 20 ms, the
page's own throttle, in circles).

    python -m livegen.ui.driver --url http://127.0.0.1:8765/ --seconds 30

Waits (up to ``--wait`` s) for the page and prints ``moving``. Then it moves the pad for
``--seconds``, or until SIGINT or SIGTERM, whenever livegen has a synth and so a pad (livegen
may restart meanwhile: the page reconnects). At the end it prints one JSON line:
{"moves": n, "seconds": s, "page_errors": [...], "console_errors": [...]}. Needs selenium
and chromium (:mod:`livegen.ui.browser`).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
import urllib.request

from livegen.ui.browser import chromium, console_errors

CIRCLE = """
const seconds = arguments[0], done = arguments[1];
let moves = 0;
const t0 = performance.now();
const timer = setInterval(() => {
  const t = (performance.now() - t0) / 1000;
  if (t > seconds) { clearInterval(timer); done(moves); return; }
  if (!(livegen.connected && livegen.state && livegen.state.pad)) return;  // no synth (yet): no pad to move
  const a = 2 * Math.PI * t / 3;  // a circle every 3 s, reaching near every corner's mix
  livegen.send({cmd: "pad", x: +(0.5 + 0.45 * Math.cos(a)).toFixed(4), y: +(0.5 + 0.45 * Math.sin(a)).toFixed(4)});
  moves++;
}, 20);
"""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:8765/")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--wait", type=float, default=60.0)
    a = ap.parse_args()
    deadline = time.monotonic() + a.wait
    while True:
        try:
            urllib.request.urlopen(a.url + "api/state", timeout=2).read()
            break
        except OSError:
            if time.monotonic() > deadline:
                print(json.dumps({"error": f"no control surface at {a.url} within {a.wait:g} s"}))
                return 1
            time.sleep(0.2)
    with chromium() as driver:
        driver.set_script_timeout(a.seconds + 30)
        driver.get(a.url)
        while not driver.execute_script("return livegen.connected"):
            time.sleep(0.1)
        print("moving", flush=True)
        stop = []
        signal.signal(signal.SIGINT, lambda *_: stop.append(1))  # SIGINT ends it early, with its report
        signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
        t0 = time.monotonic()
        moves = 0
        while not stop and time.monotonic() - t0 < a.seconds:  # in stretches of at most 5 s
            moves += driver.execute_async_script(CIRCLE, min(5.0, a.seconds - (time.monotonic() - t0)))
        took = time.monotonic() - t0
        errors = driver.execute_script("return livegen.errors")
        console = console_errors(driver)
    print(json.dumps({"moves": moves, "seconds": round(took, 2), "page_errors": errors,
                      "console_errors": console}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
