"""`livegen demo` on a JACK dummy server: exits 0, writes demo.mid with both parts.

It runs on the test session's server (as on a machine where JACK runs); the private
server path is the same code (livegen.daemon.harness.jack_server) and JACK's server
registry holds only 8 servers, so the tests start as few as they can.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.lstm_models import step_model

pytestmark = [pytest.mark.jack, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent


def test_demo_plays_records_and_writes_demo_mid(jack_server, tmp_path):
    try:
        model = step_model(tmp_path / "lstm.onnx", embed=32, hidden=64, layers=2)
    except ImportError:
        pytest.skip("needs torch or onnx to build a test LSTM")
    mido = pytest.importorskip("mido")
    proc = subprocess.run([sys.executable, "-m", "livegen", "--set", f"models.lstm={model}",
                           "--set", "audio.enabled=false", "--set", "jam.tempo_bpm=200", "--set", "jam.seed=5",
                           "demo", "--out", str(tmp_path)],
                          cwd=ROOT, env=jack_server.env(), capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert f"the running JACK server ({jack_server.name})" in out
    assert "phrase: 12 notes" in out
    assert "response:" in out and "(the next bar line" in out
    mid = mido.MidiFile(tmp_path / "demo.mid")
    names = [t.name for t in mid.tracks]
    assert names[1:] == ["player", "livegen"]
    player_ons = [m for m in mid.tracks[1] if m.type == "note_on" and m.velocity > 0]
    livegen_ons = [m for m in mid.tracks[2] if m.type == "note_on" and m.velocity > 0]
    assert len(player_ons) == 12 and all(m.channel == 0 for m in player_ons)
    assert all(m.channel == 1 for m in livegen_ons)  # jam.out_channel 2 in the demo
