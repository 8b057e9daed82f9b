"""End to end with sound: `livegen run` with the timbre synth on a JACK dummy server.

A player process sends a phrase; livegen's response must be heard on its audio port
(``livegen-synth:out_0``) from the response's first note on, and not before (the
player's notes do not pass through here: ``jam.thru = none``). It plays the shipped
WaveNet where there is one; pitch is checked in tests/test_synth_shipped.py.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from livegen.errors import DeviceError
from livegen.io.jackrec import AudioRecorder  # JACK-Client is required: a broken install fails here
from tests.daemon_fakes import wait_for
from tests.lstm_models import step_model
from tests.test_e2e_jam import SYNTH_JAM, Livegen

# the shipped timbre model plays (torch only builds one where it is missing)
pytestmark = [pytest.mark.jack, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent


def timbre_folder(tmp_path) -> tuple[Path, bool]:
    shipped = ROOT / "livegen" / "models" / "timbre"
    if (shipped / "presets.json").is_file():
        return shipped, True
    pytest.importorskip("torch")  # the [train] extra: without it there is no model to export
    from export import timbre as export_timbre  # a broken first-party import fails, it is not skipped
    from tests.test_export_timbre import SIZES, make
    export_timbre.export(make(SIZES["tiny"], seed=4), tmp_path)
    (tmp_path / "presets.json").write_text(json.dumps({"a": [0.5] * 4}))
    return tmp_path, False


def test_the_response_is_heard_on_livegens_audio_port(jack_server, tmp_path):
    folder, _ = timbre_folder(tmp_path / "timbre")
    shipped = ROOT / "livegen" / "models" / "lstm" / "lstm.onnx"  # a random test LSTM may answer with rests
    model = shipped if shipped.exists() else step_model(tmp_path / "lstm.onnx", embed=32, hidden=64, layers=2)
    env = {**jack_server.env(), "PYTHONPATH": str(ROOT)}
    lg = Livegen(env, f"models.lstm={model}", f"models.timbre={folder}", *SYNTH_JAM)
    rec = None
    try:
        lg.wait_line(r"clock: beat 0 at monotonic (\d+) ns")
        assert any("MIDI only" not in line for line in lg.lines if "listening on" in line), lg.lines
        deadline = time.monotonic() + 60
        while True:
            try:
                rec = AudioRecorder("livegen-synth:out_0", name="e2e-audio-rec")
                break
            except DeviceError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        anchor = int(lg.wait_line(r"clock: beat 0 at monotonic (\d+) ns").group(1))
        player = subprocess.run([sys.executable, "tests/e2e_player.py", "--bpm", "180"], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=120)
        assert player.returncode == 0, player.stderr
        m = lg.wait_line(r"response: (\d+) notes.*first note at beat ([\d.]+), .*: (\S+)")
        first_beat = float(m.group(2))
        due = anchor + first_beat * 60e9 / 180
        # until sound reached the port after the response's first note was due (a state; the
        # deadline is generous), or the deadline passed (the assertions below say what is missing)
        wait_for(lambda: time.monotonic_ns() > due + 400_000_000 and any(
            t >= due - 50_000_000 and np.abs(b).max() > 1e-3 for t, b in rec.periods()))
        blocks = rec.periods()
        lg.proc.send_signal(signal.SIGINT)
        assert lg.proc.wait(60) == 0, "\n".join(lg.lines)
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
    # The pitch of what the synth plays is checked where a note sounds alone
    # (tests/test_synth_shipped.py: the same engine, through livegen render); here the
    # response's notes overlap, and a mixture has no single pitch to measure.
