"""End to end with sound: `livegen run` with the WaveNet synth on a JACK dummy server.

A player process sends a phrase; livegen's response must be heard on its audio port
(``livegen-synth:out_0``) from the response's first note on, and not before (the
player's notes do not pass through here: ``jam.thru = none``). With the shipped
WaveNet the first response note's pitch is checked too; the test WaveNet is random.
"""

from __future__ import annotations

import json
import math
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
jack = pytest.importorskip("jack", reason="needs JACK-Client (pip install JACK-Client)")

from livegen.core.pitch import cents, note_pitch  # noqa: E402
from livegen.errors import DeviceError  # noqa: E402
from livegen.io.jackrec import PortRecorder  # noqa: E402
from tests.conftest import JACK_RATE  # noqa: E402
from tests.lstm_models import step_model  # noqa: E402
from tests.test_e2e_jam import Livegen  # noqa: E402

pytestmark = [pytest.mark.jack, pytest.mark.slow, pytest.mark.train]
ROOT = Path(__file__).resolve().parent.parent
NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


def wavenet_folder(tmp_path) -> tuple[Path, bool]:
    shipped = ROOT / "models" / "wavenet"
    if (shipped / "presets.json").is_file():
        return shipped, True
    wavenet = pytest.importorskip("export.wavenet")
    from tests.test_export_wavenet import SIZES, make
    wavenet.export(make(SIZES["tiny"], seed=4), tmp_path)
    (tmp_path / "presets.json").write_text(json.dumps({"a": [0.5] * 4}))
    return tmp_path, False


def midi_number(name: str) -> int:
    m = re.fullmatch(r"([A-G][#b]?)(-?\d+)", name)
    return NAMES.index(m.group(1)) + 12 * (int(m.group(2)) + 1)


def test_the_response_is_heard_on_livegens_audio_port(jack_server, tmp_path):
    folder, shipped = wavenet_folder(tmp_path / "wavenet")
    model = step_model(tmp_path / "lstm.onnx", embed=32, hidden=64, layers=2)
    env = {**jack_server.env(), "PYTHONPATH": str(ROOT)}
    lg = Livegen(env, f"models.lstm={model}", f"models.wavenet={folder}", "audio.backend=jack",
                 "midi.backend=jack", "jam.thru=none", "jam.tempo_bpm=180", "jam.silence_beats=1",
                 "jam.response_bars=2", "jam.seed=3", "jam.temperature=1.0", "jam.state_cc=-1")
    rec = None
    try:
        lg.wait_line(r"clock: beat 0 at monotonic (\d+) ns", timeout=30)
        assert any("MIDI only" not in line for line in lg.lines if "listening on" in line), lg.lines
        deadline = time.monotonic() + 10
        while True:
            try:
                rec = PortRecorder("livegen-synth:out_0", name="e2e-audio-rec")
                break
            except DeviceError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        anchor = int(lg.wait_line(r"clock: beat 0 at monotonic (\d+) ns").group(1))
        player = subprocess.run([sys.executable, "tests/e2e_player.py", "--bpm", "180"], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=30)
        assert player.returncode == 0, player.stderr
        m = lg.wait_line(r"response: (\d+) notes.*first note at beat ([\d.]+), .*: (\S+)")
        first_beat, first_name = float(m.group(2)), m.group(3)
        due = anchor + first_beat * 60e9 / 180
        while time.monotonic_ns() < due + 600_000_000:
            time.sleep(0.02)
        blocks = rec.periods()
        lg.proc.send_signal(signal.SIGINT)
        assert lg.proc.wait(15) == 0, "\n".join(lg.lines)
    finally:
        if rec is not None:
            rec.close()
        if lg.proc.poll() is None:
            lg.proc.kill()
            lg.proc.wait()
    before = [b for t, b in blocks if t < due - 50_000_000]
    after = [(t, b) for t, b in blocks if t >= due - 50_000_000]
    assert before and np.abs(np.concatenate(before)).max() < 1e-3  # silence until the response
    loud = [t for t, b in after if np.abs(b).max() > 1e-3]
    assert loud, "the response was not heard on livegen's audio port"
    assert (loud[0] - due) / 1e6 < 300  # loose: the synth's own latency is its benchmark's business
    pitch = midi_number(first_name)
    if shipped and 40 <= pitch <= 90:  # the test WaveNet is random: its pitch means nothing
        x = np.concatenate([b for t, b in after if t >= loud[0]])[: JACK_RATE // 2]
        f0 = 440 * 2 ** ((pitch - 69) / 12)
        f = note_pitch(x, JACK_RATE, 0.05, 0.3, fmin=f0 / math.sqrt(2), fmax=f0 * math.sqrt(2))
        assert abs(cents(f, f0)) < 50, (first_name, f)
