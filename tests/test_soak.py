"""The short soak: livegen run driven for 40 s by a generated performance through JACK."""

from __future__ import annotations

import subprocess
import sys

import pytest

from livegen.core.notes import left_sounding
from livegen.commands.soak_performance import performance


def test_the_performance_closes_every_note_it_opens_and_is_seeded():
    events = list(performance(60, seed=3))
    assert events == list(performance(60, seed=3)) and events != list(performance(60, seed=4))
    assert [t for t, _ in events] == sorted(t for t, _ in events)
    assert left_sounding(events) == {}
    kinds = {m[0] & 0xF0 if m[0] < 0xF0 else m[0] for _, m in events}
    assert {0x90, 0x80, 0xB0, 0xF8, 0xFA} <= kinds


def test_open_notes_counts_and_all_notes_off_closes_a_channel():
    msgs = [(0, bytes([0x90, 60, 100])), (0, bytes([0x91, 61, 100])), (0, bytes([0x90, 60, 0])),
            (0, bytes([0x90, 62, 100])), (0, bytes([0xB0, 123, 0]))]
    assert left_sounding(msgs) == {(1, 61): 1}


@pytest.mark.jack
@pytest.mark.slow
@pytest.mark.train
def test_short_soak_leaves_no_stuck_note_and_flat_memory(jack_server, tmp_path):
    """Stopped 0.3 s after the performance: in the middle of the last answer, as a rule."""
    pytest.importorskip("onnx")  # the [train] extra writes the LSTM
    from tests import timbre_fixture
    from tests.lstm_models import step_model
    step_model(tmp_path / "lstm.onnx")
    timbre_fixture.copy_to(tmp_path / "wn", {"a": [0.0] * 4, "b": [0.5] * 4})
    proc = subprocess.run([sys.executable, "-m", "livegen", "--set", f"models.lstm={tmp_path / 'lstm.onnx'}",
                           "--set", f"models.timbre={tmp_path / 'wn'}", "--set", "synth.morph_preset=b",
                           "bench", "soak", "--seconds", "40", "--stop-after", "0.3",
                           "--no-timing-bounds"],  # a busy machine misses audio blocks: a figure, not a test
                          capture_output=True, text=True, env=jack_server.env(), timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "stuck notes on livegen's output after SIGINT: 0" in proc.stdout
    assert "livegen exited with 0" in proc.stdout
