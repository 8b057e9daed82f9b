"""``livegen bench xruns``: what livegen costs a JACK server, phase by phase, against the server alone.

For each period (``--periods``, default 256 and 128 frames) it starts a private 48 kHz
JACK dummy server of its own name and runs, one after the other, each for
``--seconds`` (default 30 s at 256 frames and above, 60 s below):

1. **baseline**: the server alone (and this command's xrun watch);
2. **idle**: ``livegen run`` with audio off (MIDI only), nothing played;
3. **chord**: ``livegen run`` with the synth, a ``--chord``-note chord (16) struck into
   ``livegen:in`` every 4 s and held 2 s: the synth plays it, the jam answers each;
4. **flood**: the same ``livegen run``, ``--flood-notes`` note-ons (20,000), each with its
   note-off, in ``--flood-seconds`` (2 s) into ``livegen:in``, then quiet until the phase ends.

Server xruns are counted by a JACK client that JACK tells of each one
(:class:`~livegen.io.jackserver.XrunWatch`: the ``xruns`` column); the lines jackd
wrote about them are counted too (``jackd lines``), with the clients they name as not
finished. livegen's own figures come from its status (``livegen run --status-json``,
every 0.5 s): the synth's underruns (the audio callback found nothing rendered) and
inbox drops over the phase, the most voices sounding, the governor's lowest voice
limit, the voices still sounding at the phase's end (a note that hangs shows there),
the MIDI input's drops and the responses. livegen runs as its own process, as a
musician runs it; the player and the watch are this process's clients.

The bench measures; it does not judge. The issue's goals, for reading the table: at 256
frames livegen adds at most one xrun per 30 s over the baseline, no underruns, all 16
voices sounding; at 128 frames at most one xrun a minute over the baseline and no
underruns with 8 voices; under the flood no underruns.
"""

from __future__ import annotations

import argparse

HELP = "server xruns and synth underruns on a private JACK server: alone, livegen idle, a chord, a MIDI flood"

PHASES = ("baseline", "idle", "chord", "flood")
STATUS_EVERY_S = 0.5


def add_arguments(parser) -> None:
    parser.add_argument("--periods", default="256,128",
                        help="JACK periods to measure at, in frames, comma-separated (default 256,128)")
    parser.add_argument("--seconds", type=float, default=0.0,
                        help="length of each phase (default: 30 s at periods of 256 frames and above, "
                             "60 s below)")
    parser.add_argument("--chord", type=int, default=0,
                        help="notes in the chord (default: 16 at periods of 256 frames and above, 8 below)")
    parser.add_argument("--flood-notes", type=int, default=20000, help="note-ons in the flood (default 20000)")
    parser.add_argument("--flood-seconds", type=float, default=2.0, help="how long the flood takes (default 2)")
    parser.add_argument("--quick", action="store_true",
                        help="a short check that every part runs: period 256, 5 s phases, a flood of "
                             "1,000 notes in 0.5 s")
    parser.add_argument("--json", metavar="PATH", help="also write the figures to PATH as JSON")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # a child: one period


def phase_seconds(period: int, seconds: float) -> float:
    return seconds if seconds > 0 else (30.0 if period >= 256 else 60.0)


def chord_notes(period: int, notes: int) -> int:
    return notes if notes > 0 else (16 if period >= 256 else 8)


def parse_periods(text: str) -> list[int]:
    from livegen.errors import ConfigError
    try:
        periods = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        periods = []
    if not periods or any(p < 16 or p > 8192 or p & (p - 1) for p in periods):
        raise ConfigError(f"--periods {text!r}: give powers of two from 16 to 8192, comma-separated "
                          "(e.g. 256,128)")
    return periods


class Livegen:
    """``livegen run`` as a child process on the bench's server; its status records as they come."""

    def __init__(self, server, global_args: list[str], extra: list[str], log_path: str):
        import subprocess
        import sys
        import threading

        self.records: list[tuple[float, dict]] = []  # (monotonic s, status record)
        self._new = threading.Condition()
        self.log_path = log_path
        self._log = open(log_path, "wb")
        cmd = [sys.executable, "-m", "livegen", *global_args, *extra, "run", "--log",
               "--status-every", str(STATUS_EVERY_S), "--status-json"]
        self.proc = subprocess.Popen(cmd, env=server.env(), stdout=subprocess.PIPE, stderr=self._log)
        self._reader = threading.Thread(target=self._read, name="bench-xruns-status", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        import json
        import time
        for line in self.proc.stdout:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # not a status record
            with self._new:
                self.records.append((time.monotonic(), record))
                self._new.notify_all()

    def next_status(self, timeout: float = 10.0) -> dict:
        """The first status record that livegen writes from now on."""
        import time
        from livegen.errors import DeviceError
        now = time.monotonic()
        deadline = now + timeout
        with self._new:
            while not (self.records and self.records[-1][0] > now):
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise DeviceError(f"livegen run gave no status within {timeout:g} s "
                                      f"(exit status {self.proc.poll()}); its log: {self.log_path}\n"
                                      + self.tail())
                self._new.wait(min(left, 0.5))
            return self.records[-1][1]

    def between(self, t0: float, t1: float) -> list[dict]:
        with self._new:
            return [r for t, r in self.records if t0 <= t <= t1]

    def tail(self) -> str:
        with open(self.log_path, errors="replace") as fh:
            return fh.read()[-1500:]

    def close(self) -> None:
        import signal
        import subprocess
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._reader.join(2)
        self._log.close()


def _phase(name: str, seconds: float, server, watch, lg=None, play=None) -> dict:
    """Run one phase: ``play(stop_event)`` plays into livegen:in (in a thread) while it lasts."""
    import threading
    import time

    from livegen.io import jackserver

    before = lg.next_status() if lg is not None else None
    log0 = jackserver.log_xruns(server.log_path)
    x0 = watch.count
    t0 = time.monotonic()
    stop = threading.Event()
    player = threading.Thread(target=play, args=(stop,), daemon=True) if play else None
    if player:
        player.start()
    stop.wait(seconds)
    stop.set()
    if player:
        player.join(10)
    t1 = time.monotonic()
    xruns = watch.count - x0
    logged = jackserver.log_xruns(server.log_path, log0.offset)
    row = {"phase": name, "seconds": round(t1 - t0, 1), "xruns": xruns, "jackd_lines": logged.lines,
           "not_finished": logged.clients}
    if lg is None:
        return row
    after = lg.next_status()
    during = lg.between(t0, t1) + [after]
    synth_b, synth_a = before.get("synth") or {}, after.get("synth") or {}
    c_b, c_a = before["counts"], after["counts"]
    row.update(input_dropped=c_a["input_dropped"] - c_b["input_dropped"],
               responses=after["responses"] - before["responses"],
               drops={k: c_a[k] - c_b.get(k, 0) for k in c_a
                      if k.endswith("_dropped") and k != "input_dropped" and c_a[k] - c_b.get(k, 0)})
    if synth_a:
        row.update(underruns=synth_a["underruns"] - synth_b["underruns"],
                   synth_inbox_dropped=synth_a.get("inbox_dropped", 0) - synth_b.get("inbox_dropped", 0),
                   synth_notes_dropped=synth_a.get("notes_dropped", 0) - synth_b.get("notes_dropped", 0),
                   voices_max=max((r["synth"] or {}).get("voices", 0) for r in during),
                   voice_limit_min=min((r["synth"] or {}).get("voice_limit", 0) for r in during),
                   voices_end=synth_a["voices"], load_end=synth_a.get("load"),
                   synth_kernel=synth_a.get("kernel") or synth_a.get("engine"), audio_backend=synth_a.get("audio_backend"))
    return row


def _chord_loop(player, notes: int, hold_s: float = 2.0, rest_s: float = 2.0):
    pitches = [36 + 3 * i for i in range(notes)]

    def play(stop) -> None:
        while not stop.is_set():
            for p in pitches:
                player.send(bytes((0x90, p, 96)))
            stop.wait(hold_s)
            for p in pitches:  # released even when the phase ends while held
                player.send(bytes((0x80, p, 0)))
            stop.wait(rest_s)
    return play


def _flood(player, notes: int, seconds: float, sent: list):
    def play(stop) -> None:
        import time
        per_ms = max(1, round(notes / max(seconds * 1000, 1)))
        t0 = time.monotonic()
        i = 0
        while i < notes and not stop.is_set():
            for _ in range(min(per_ms, notes - i)):
                p = 21 + i % 88
                player.send(bytes((0x90, p, 100)))
                player.send(bytes((0x80, p, 0)))
                i += 1
            due = t0 + i * seconds / notes
            time.sleep(max(0.0, due - time.monotonic()))
        sent.append((i, time.monotonic() - t0))
    return play


def measure_period(period: int, seconds: float, args, global_args: list[str], in_port: str) -> dict:
    import os
    import secrets
    import tempfile

    from livegen.io import jackserver
    from livegen.io.midiclient import open_player, wait_for_port

    name = f"livegen-xruns-{os.getpid()}-{secrets.token_hex(2)}"
    folder = tempfile.mkdtemp(prefix="livegen-bench-xruns-")
    log_path = os.path.join(folder, "jackd.log")
    rows = []
    flood_sent: list = []
    load_before = os.getloadavg()[0]
    with jackserver.serving(name, 48000, period, log_path) as server:
        watch = jackserver.XrunWatch("livegen-bench-xruns")
        try:
            rows.append(_phase("baseline", seconds, server, watch))
            lg = Livegen(server, global_args, ["--set", "audio.enabled=false"], os.path.join(folder, "idle.log"))
            try:
                wait_for_port("jack", in_port, output=False, timeout=60)
                lg.next_status(60)
                rows.append(_phase("idle", seconds, server, watch, lg))
            finally:
                lg.close()
            lg = Livegen(server, global_args, ["--set", "audio.enabled=true"], os.path.join(folder, "synth.log"))
            player = None
            try:
                wait_for_port("jack", in_port, output=False, timeout=60)
                lg.next_status(60)
                player = open_player("jack", "livegen-bench-xruns-player", in_port)
                rows.append(_phase("chord", seconds, server, watch, lg,
                                   _chord_loop(player, chord_notes(period, args.chord))))
                rows.append(_phase("flood", max(seconds, args.flood_seconds + 3.5), server, watch, lg,
                                   _flood(player, args.flood_notes, args.flood_seconds, flood_sent)))
            finally:
                if player is not None:
                    player.close()
                lg.close()
        finally:
            watch.close()
    flood = rows[-1] if rows[-1]["phase"] == "flood" else None
    if flood is not None and flood_sent:
        flood["flood_sent"], flood["flood_took_s"] = flood_sent[0][0], round(flood_sent[0][1], 2)
    return {"period": period, "rate": 48000, "chord": chord_notes(period, args.chord), "server": name,
            "logs": folder, "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "phases": rows}


def _cell(row: dict, key: str, fmt: str = "{}") -> str:
    value = row.get(key)
    return "–" if value is None else fmt.format(value)


def cpu_line() -> str:
    """The CPU as lscpu names it: model name, family and model, AVX-512 or not."""
    import subprocess
    from livegen.commands.bench_synth import cpu_name
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return cpu_name()
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    get = lambda key: fields.get(key, "?").strip()  # noqa: E731
    avx512 = "avx512f" in get("Flags").split()
    return (f"{get('Model name')} (lscpu: family {get('CPU family')}, model {get('Model')}, "
            f"{'with' if avx512 else 'no'} AVX-512)")


def _synth_dropped(row: dict) -> str:
    """The synth's inbox drops, plus the note-ons past its voices before one render."""
    if row.get("synth_inbox_dropped") is None:
        return "–"
    return f"{row['synth_inbox_dropped']} + {row['synth_notes_dropped']}"


def table(results: list[dict]) -> list[str]:
    head = ("| period | phase | s | xruns | jackd lines | underruns | voices max | limit min | "
            "voices at end | synth dropped | input dropped | responses |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for res in results:
        for row in res["phases"]:
            lines.append(f"| {res['period']} | {row['phase']} | {row['seconds']:g} | {row['xruns']} | "
                         f"{row['jackd_lines']} | {_cell(row, 'underruns')} | {_cell(row, 'voices_max')} | "
                         f"{_cell(row, 'voice_limit_min')} | {_cell(row, 'voices_end')} | "
                         f"{_synth_dropped(row)} | {_cell(row, 'input_dropped')} | "
                         f"{_cell(row, 'responses')} |")
    return lines


def run(args, cfg) -> int:
    import datetime
    import json
    import logging
    import os

    from livegen.errors import DeviceError
    from livegen.io import jackserver

    # the player port's own xrun warnings: the watch counts every xrun, and the table says them
    logging.getLogger("livegen.midi").setLevel(logging.ERROR)
    missing = jackserver.missing_tools()
    if missing:
        raise DeviceError(f"livegen bench xruns starts its own JACK server: {', '.join(missing)} not found "
                          "(Debian: apt-get install jackd2)")
    if args.quick:
        periods, seconds = [256], args.seconds or 5.0
        args.flood_notes, args.flood_seconds = min(args.flood_notes, 1000), min(args.flood_seconds, 0.5)
    else:
        periods, seconds = parse_periods(args.periods), args.seconds
    if args.one:  # a child of this command (below): one period, its lines, its figures to --json
        global_args = ([] if args.config is None else ["--config", args.config])
        for override in args.overrides:
            global_args += ["--set", override]
        global_args += ["--set", "midi.backend=jack", "--set", "audio.backend=jack",
                        "--set", f"synth.voices={max(cfg.synth.voices, args.chord)}"]
        res = _measure_and_say(periods[0], seconds, args, global_args, cfg.midi.in_port)
        with open(args.json, "w") as fh:
            json.dump(res, fh)
        return 0
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    cpu = cpu_line()
    print(f"livegen bench xruns, {started}: {cpu}, {os.cpu_count()} CPUs, load average "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    # one process per server: libjack (JACK2) has crashed in a process that had been a client
    # of one server when it opened a client on a second (DEVELOPERS.md)
    results = [_in_child(period, seconds, args) for period in periods]
    print()
    print("\n".join(table(results)))
    print("\nxruns: counted by a JACK client told of each (XrunWatch); jackd lines: the lines jackd wrote "
          "about xruns. underruns, voices, limit: livegen's status (the synth's own counters).")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"started": started, "cpu": cpu, "cpus": os.cpu_count(), "results": results}, fh,
                      indent=1)
    return 0


def _in_child(period: int, seconds: float, args) -> dict:
    """This command for one period, in a process of its own (its lines pass through)."""
    import json
    import subprocess
    import sys
    import tempfile

    from livegen.errors import DeviceError
    cmd = [sys.executable, "-m", "livegen"]
    if args.config is not None:
        cmd += ["--config", args.config]
    for override in args.overrides:
        cmd += ["--set", override]
    with tempfile.TemporaryDirectory(prefix="livegen-bench-xruns-") as folder:
        out = f"{folder}/period.json"
        cmd += ["bench", "xruns", "--one", "--periods", str(period), "--seconds", str(seconds), "--chord",
                str(args.chord), "--flood-notes", str(args.flood_notes), "--flood-seconds",
                str(args.flood_seconds), "--json", out]
        code = subprocess.run(cmd).returncode
        if code:
            raise DeviceError(f"bench xruns at period {period} failed (exit status {code}): see above")
        with open(out) as fh:
            return json.load(fh)


def _measure_and_say(period: int, seconds: float, args, global_args, in_port: str) -> dict:
    s = phase_seconds(period, seconds)
    print(f"period {period} frames at 48000 Hz ({period / 48:.2f} ms): 4 phases of {s:g} s, a chord of "
          f"{chord_notes(period, args.chord)} notes ...", flush=True)
    res = measure_period(period, s, args, global_args, in_port)
    flood = res["phases"][-1]
    chord = next((r for r in res["phases"] if r["phase"] == "chord"), {})
    print(f"  load average (1 min) {res['load_average'][0]:.2f} before, {res['load_average'][1]:.2f} after; "
          f"logs in {res['logs']}; synth kernel {chord.get('synth_kernel')}, audio "
          f"{chord.get('audio_backend')}; flood: {flood.get('flood_sent')} note-ons (each with its "
          f"note-off) sent in {flood.get('flood_took_s')} s", flush=True)
    for row in res["phases"]:
        if row["not_finished"]:
            named = ", ".join(f"{k} {v}" for k, v in sorted(row["not_finished"].items(), key=lambda kv: -kv[1]))
            print(f"  {row['phase']}: jackd named as not finished: {named}", flush=True)
        if row.get("drops"):
            print(f"  {row['phase']}: livegen also dropped {row['drops']}", flush=True)
    return res
