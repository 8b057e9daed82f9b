"""End to end on a JACK dummy server: `livegen run` in its own process, a player in
another sending a phrase through real ports, the test recording livegen's output port.

The response must start on a bar line at the configured tempo, then at a tempo set
by an incoming MIDI clock (bar lines counted from MIDI Start); SIGINT mid-response
must close every note and exit 0. Bounds are loose: JACK delivers MIDI once a period
(16 ms here) and the machine is shared; `livegen bench jam` measures precisely.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from livegen.core.notes import left_sounding, note_on_off
from livegen.io.midiclient import MidiRecorder, wait_for_port
from tests.daemon_fakes import wait_for

pytestmark = [pytest.mark.jack, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent
EARLY_NS, LATE_NS = 20_000_000, 80_000_000
# a jam with the synth on JACK (the audio e2e and the JACK restart test): --set values
SYNTH_JAM = ("audio.backend=jack", "midi.backend=jack", "jam.thru=none", "jam.tempo_bpm=180",
             "jam.silence_beats=1", "jam.response_bars=2", "jam.seed=3", "jam.temperature=1.0",
             "jam.state_cc=-1")


class Livegen:
    """`livegen run --log` in a subprocess; its stderr lines are collected by a thread."""

    def __init__(self, env, *overrides):
        args = [sys.executable, "-m", "livegen"]
        for o in overrides:
            args += ["--set", o]
        self.proc = subprocess.Popen(args + ["run", "--log"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line.rstrip())

    def wait_line(self, pattern: str, start: int = 0, timeout: float = 60.0) -> re.Match:
        """The first line from ``start`` on matching ``pattern``, waited for (generously: it
        returns as soon as the line is there)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines[start:]:
                m = re.search(pattern, line)
                if m:
                    return m
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError(f"no line matching {pattern!r}; livegen said:\n" + "\n".join(self.lines))


def first_on(messages, after_ns):
    return next((t, m) for t, m in messages if t > after_ns and note_on_off(m) and note_on_off(m)[0] == "on")


def ons_after(messages, after_ns) -> int:
    return sum(1 for t, m in messages if t > after_ns and note_on_off(m) and note_on_off(m)[0] == "on")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from tests.lstm_models import jam_model
    return jam_model(tmp_path_factory.mktemp("lstm"))


def test_livegen_answers_on_bar_lines_follows_midi_clock_and_closes_every_note_on_sigint(jack_server, model,
                                                                                          tmp_path):
    env = {**jack_server.env(), "PYTHONPATH": str(ROOT)}
    # no timbre model folder: MIDI only, said in the first line
    lg = Livegen(env, f"models.lstm={model}", f"models.timbre={tmp_path / 'none'}", "midi.backend=jack",
                 "jam.tempo_bpm=180", "jam.beats_per_bar=4", "jam.silence_beats=1", "jam.response_bars=2",
                 "jam.seed=3", "jam.state_cc=-1", "jam.temperature=1.0")
    recorder = None
    try:
        anchor = int(lg.wait_line(r"clock: beat 0 at monotonic (\d+) ns").group(1))
        lg.wait_line(r"listening on .*; MIDI only: no timbre model folder '.*none' \(models.timbre\)$")
        wait_for_port("jack", "livegen-out:out", output=True)
        recorder = MidiRecorder("jack", "e2e-recorder", "livegen-out:out")

        # 1. the configured tempo: 180 bpm, bars of 4 beats from livegen's beat 0
        player = subprocess.run([sys.executable, "tests/e2e_player.py", "--bpm", "180"], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=120)
        assert player.returncode == 0, player.stderr
        sent = json.loads(player.stdout.splitlines()[-1])["sent"]
        m = lg.wait_line(r"response: (\d+) notes.*\(beat ([\d.]+)\), first note at beat ([\d.]+)")
        notes, start, first = int(m.group(1)), float(m.group(2)), float(m.group(3))
        assert start % 4 == 0
        want = anchor + first * 60e9 / 180
        assert wait_for(lambda: ons_after(recorder.snapshot(), sent[-1][0]) > 0)
        t, msg = first_on(recorder.snapshot(), sent[-1][0])
        print(f"internal tempo: first response note {(t - want) / 1e6:+.1f} ms vs its bar-line schedule")
        assert -EARLY_NS < t - want < LATE_NS, (t - want) / 1e6
        n_lines = len(lg.lines)
        assert wait_for(lambda: ons_after(recorder.snapshot(), sent[-1][0]) == notes
                        and not left_sounding(recorder.snapshot()))  # the rest of the response

        # 2. a MIDI clock at 100 bpm: bars count from the player's Start
        player = subprocess.Popen([sys.executable, "tests/e2e_player.py", "--bpm", "100", "--clock",
                                   "--seconds", "12", "--phrase", "67,69,71,72"], cwd=ROOT, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            t0 = json.loads(player.stdout.readline())["t0"]
            m = lg.wait_line(r"response: .*\(beat ([\d.]+)\), first note at beat ([\d.]+)", start=n_lines)
            start, first = float(m.group(1)), float(m.group(2))
            assert start % 4 == 0
            assert first == start  # the phrase began on the player's beat 2: its answer's first note is on the bar line
            want = t0 + first * 60e9 / 100
            assert wait_for(lambda: ons_after(recorder.snapshot(), want - 500_000_000) > 0)
            t, msg = first_on(recorder.snapshot(), want - 500_000_000)
            print(f"MIDI clock: first response note {(t - want) / 1e6:+.1f} ms vs its bar-line schedule")
            assert -EARLY_NS - 20_000_000 < t - want < LATE_NS + 20_000_000, (t - want) / 1e6

            # 3. SIGINT while the response sounds: every note is closed, exit status 0
            lg.proc.send_signal(signal.SIGINT)
            assert lg.proc.wait(60) == 0, "\n".join(lg.lines)
        finally:
            player.kill()
            player.wait()
        wait_for(lambda: not left_sounding(recorder.snapshot()))  # the note-offs sent before the exit arrive
        got = recorder.snapshot()
        assert not left_sounding(got)
        assert any(m[0] & 0xF0 == 0xB0 and m[1] == 123 for _, m in got[-16:])  # All Notes Off at the end
        assert any("every note closed" in line for line in lg.lines)
    finally:
        if recorder is not None:
            recorder.close()
        if lg.proc.poll() is None:
            lg.proc.kill()
            lg.proc.wait()
