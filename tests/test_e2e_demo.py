"""`livegen demo` on a JACK dummy server: exits 0, writes demo.mid with both parts.

It runs on the test session's server (as on a machine where JACK runs); the private
server path is the same code (livegen.daemon.harness.jack_server) and JACK's server
registry holds only 8 servers, so the tests start as few as they can.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import mido
import pytest

pytestmark = [pytest.mark.jack, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent
# the shipped LSTM: a random test LSTM may answer with rests, and then nothing is checked
SHIPPED = ROOT / "livegen" / "models" / "lstm" / "lstm.onnx"


def test_demo_plays_records_and_writes_demo_mid(jack_server, tmp_path):
    model = SHIPPED
    proc = subprocess.run([sys.executable, "-m", "livegen", "--set", f"models.lstm={model}",
                           "--set", "audio.enabled=false", "--set", "jam.tempo_bpm=200", "--set", "jam.seed=5",
                           "demo", "--out", str(tmp_path)],
                          cwd=ROOT, env=jack_server.env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert f"the running JACK server ({jack_server.name})" in out
    assert "phrase: 12 notes" in out
    answered = re.search(r"response: (\d+) notes over \d+ bar\(s\) from .*\(the next bar line", out)
    assert answered, out
    mid = mido.MidiFile(tmp_path / "demo.mid")
    names = [t.name for t in mid.tracks]
    assert names[1:] == ["player", "livegen"]
    player_ons = [m for m in mid.tracks[1] if m.type == "note_on" and m.velocity > 0]
    livegen_ons = [m for m in mid.tracks[2] if m.type == "note_on" and m.velocity > 0]
    assert len(player_ons) == 12 and all(m.channel == 0 for m in player_ons)
    # livegen answered with notes, all on jam.out_channel 2 (the demo's), every one recorded
    assert livegen_ons and all(m.channel == 1 for m in livegen_ons), out
    assert len(livegen_ons) == int(answered.group(1)), out
