"""`livegen demo` on a private JACK dummy server: exits 0, writes demo.mid with both parts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.lstm_models import step_model

pytestmark = [pytest.mark.jack, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent


def test_demo_plays_records_and_writes_demo_mid(tmp_path):
    try:
        model = step_model(tmp_path / "lstm.onnx", embed=32, hidden=64, layers=2)
    except ImportError:
        pytest.skip("needs torch or onnx to build a test LSTM")
    mido = pytest.importorskip("mido")
    proc = subprocess.run([sys.executable, "-m", "livegen", "--set", f"models.lstm={model}",
                           "--set", "audio.enabled=false", "--set", "jam.tempo_bpm=200", "--set", "jam.seed=5",
                           "demo", "--private-jack", "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "a private JACK dummy server" in out
    assert "phrase: 12 notes" in out
    assert "response:" in out and "(the next bar line" in out
    mid = mido.MidiFile(tmp_path / "demo.mid")
    names = [t.name for t in mid.tracks]
    assert names[1:] == ["player", "livegen"]
    player_ons = [m for m in mid.tracks[1] if m.type == "note_on" and m.velocity > 0]
    livegen_ons = [m for m in mid.tracks[2] if m.type == "note_on" and m.velocity > 0]
    assert len(player_ons) == 12 and all(m.channel == 0 for m in player_ons)
    assert all(m.channel == 1 for m in livegen_ons)  # jam.out_channel 2 in the demo
