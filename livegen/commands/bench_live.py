"""``livegen bench live``: key to sound through real JACK ports, as a player feels it.

A player port writes note-ons into ``livegen:in``; livegen passes them through to the
synth (``jam.thru = "synth"``, the default); a JACK client records the player's MIDI and
livegen's audio port on JACK's frame clock. Key to sound is the frames from a note-on
on the wire to the first sample above ``--threshold`` at ``livegen-synth:out_0``. Each
round strikes ``--voices`` notes at once, holds them, releases them and waits for the
release to ring out, so every onset starts from silence.

``--page`` measures the same with the control surface open: it serves the surface, and
headless Chromium (:mod:`livegen.ui.driver`, a process of its own) moves the timbre pad
without a pause all the while, so the synth's timbre glides under the notes.
"""

from __future__ import annotations

import os
import subprocess
import time

HELP = "key to sound from livegen:in to livegen's JACK audio port, with N voices: underruns, load, latency"


def add_arguments(parser) -> None:
    parser.add_argument("--voices", type=int, default=16, help="voices struck at once (default 16)")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long (default 60)")
    parser.add_argument("--rate", type=int, default=48000,
                        help="rate of the private JACK server started when none runs (default 48000)")
    parser.add_argument("--period", type=int, default=128, help="its period in frames (default 128)")
    parser.add_argument("--page", action="store_true",
                        help="with the control surface open in headless Chromium, its timbre pad moving "
                             "all the while (needs selenium and chromium)")
    parser.add_argument("--threshold", type=float, default=1e-3,
                        help="first sound: the first sample louder than this (default 0.001)")


def run(args, cfg) -> int:
    import dataclasses

    import numpy as np

    from livegen.commands.bench_synth import cpu_name
    from livegen.core.notes import note_on_off
    from livegen.daemon.harness import Rig, jack_server, load_models
    from livegen.io.jackmidi import JackMidiInput
    from livegen.io.jackrec import AudioRecorder
    from livegen.io.ports import Recorder

    r = dataclasses.replace
    voices = max(args.voices, 1)
    cfg = r(cfg, audio=r(cfg.audio, backend="jack", enabled=True), synth=r(cfg.synth, voices=voices),
            jam=r(cfg.jam, thru="synth", state_cc=-1, min_notes=64, max_phrase_beats=256.0))  # never answers
    models = load_models(cfg)
    synth = models.synth
    if synth is None:
        print(f"no synth: {models.why_no_synth}")
        return 1
    with jack_server(args.rate, args.period, private=True) as (_server, where):
        rig = Rig(cfg, models)
        notes = rec = page = None
        try:
            live = rig.sink
            if live is None:
                print(f"no synth: {rig.why_no_sink}")
                return 1
            notes = Recorder(JackMidiInput("livegen-bench-keys:in", maxlen=None, frames=True,
                                           connect=("livegen-player:out",)))
            rec = AudioRecorder(f"{cfg.audio.client_name}:out_0")
            rig.start()
            period, rate = rec.client.blocksize, rec.rate
            if args.page:
                page = _Page(cfg, rig, args.seconds)
            time.sleep(0.5)
            underruns_before = live.status()["underruns"]
            xruns_before = getattr(rig.out, "xruns", None)  # those of starting (and opening the page) apart
            latencies = []
            t_end = time.monotonic() + args.seconds
            round_ = 0
            while time.monotonic() < t_end:
                pitches = [36 + (v * 5 + round_) % 48 for v in range(voices)]
                for p in pitches:
                    rig.player.send(bytes((0x90, p, 100)))
                time.sleep(0.3)
                ons = [f for f, m in notes.snapshot() if note_on_off(m) == ("on", 0, pitches[0])]
                first = rec.first_sound_frame(ons[-1], args.threshold) if ons else None
                if first is not None and round_ > 0:
                    latencies.append((first - ons[-1]) * 1e3 / rate)
                time.sleep(max(0.0, min(1.5, t_end - time.monotonic())))
                for p in pitches:
                    rig.player.send(bytes((0x80, p, 0)))
                quiet_by = time.monotonic() + cfg.synth.release_max_s + 1
                while time.monotonic() < quiet_by and not rec.quiet_for(0.1 * rate, args.threshold):
                    time.sleep(0.05)  # releases ring out, so the next onset starts from silence
                round_ += 1
            status = live.status()
            parts = live.latency_parts()
            xruns = getattr(rig.out, "xruns", None)  # the server's, as livegen's MIDI output client saw them
            moved = page.close() if page is not None else None
        finally:
            if page is not None:
                page.close()
            for part in (notes, rec):
                if part is not None:
                    part.close()
            rig.close()
    lat = np.sort(latencies)
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores, load average "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}; {where}; synth at {synth.sample_rate} Hz, "
          f"kernel {status['kernel']}, synth.threads = {cfg.synth.threads}")
    print(f"{voices} voices struck, held 1.8 s, released until silent, for {args.seconds:.0f} s: "
          f"{status['underruns'] - underruns_before} underruns ({underruns_before} while starting), "
          f"render load {status['load']:.2f} (render time / audio time, at the end), voices shed "
          f"{status['voices_shed']}, inbox dropped {status['inbox_dropped']}; one render (one "
          f"period) took p99 {status['render_ms_p99']} ms, max {status['render_ms_max']} ms (last 4096)")
    print("  known parts: " + ", ".join(f"{k[:-3].replace('_', ' ')} {v:.2f} ms" for k, v in parts.items())
          + "; rendering one period per callback at the device rate")
    print(f"  audio: {status['audio_backend']}; JACK xruns on the server while it ran: "
          + (f"{xruns} ({xruns - xruns_before} while measuring)" if xruns is not None
             else "not counted (MIDI through rtmidi)"))
    if moved is not None:
        import json
        print(f"the control surface open in headless Chromium, its pad moving all the while: {json.dumps(moved)}")
    if len(lat):
        goal = 2 * period / rate * 1e3 + 5
        print(f"key to sound (note-on at livegen:in -> first sample above {args.threshold:g} at "
              f"{cfg.audio.client_name}:out_0, on JACK's frame clock): median {np.median(lat):.1f} ms, "
              f"p90 {np.percentile(lat, 90):.1f} ms, max {lat[-1]:.1f} ms over {len(lat)} rounds "
              f"(goal: median <= {goal:.1f} ms = 2 periods + 5 ms)")
    return 0


class _Page:
    """The control surface on ``rig``, with :mod:`livegen.ui.driver` moving its pad (in a
    process of its own, at ordinary priority) for as long as the bench plays; ``close()``
    waits for it and returns its report."""

    def __init__(self, cfg, rig, seconds: float):
        import dataclasses
        import sys

        from livegen.errors import DeviceError
        from livegen.realtime import ordinary
        from livegen.ui.server import Surface
        cfg = dataclasses.replace(cfg, ui=dataclasses.replace(cfg.ui, enabled=True, port=0))
        self.surface = Surface(cfg, rig)
        url = self.surface.start()
        self.proc = subprocess.Popen(ordinary([sys.executable, "-m", "livegen.ui.driver", "--url", url,
                                               "--seconds", str(seconds + 2)]),
                                     stdout=subprocess.PIPE, text=True)
        self.result = None
        line = self.proc.stdout.readline()  # "moving", once the page is open
        if line.strip() != "moving":
            self.close()
            raise DeviceError(f"the page did not open: {line.strip() or 'the browser driver ended'}")

    def close(self):
        import json
        if self.proc is not None:
            try:
                out, _ = self.proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                out, _ = self.proc.communicate()
            self.proc = None
            lines = [line for line in out.splitlines() if line.startswith("{")]
            self.result = json.loads(lines[-1]) if lines else "the driver said nothing (it ended early)"
            self.surface.stop()
        return self.result
