"""The clock-grid goal through real JACK ports: with an external MIDI clock master
(jack_midi_clock) driving ``livegen:in``, the note-ons of livegen's answers land within
0.5 ms of the master's ticks, on JACK's frame clock, at 48 kHz for periods 256 and 1024.

``livegen bench jam --period N`` measures the same for any period (README figures).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from livegen import config
from livegen.io import jackclock, jackserver

ROOT = Path(__file__).resolve().parent.parent
RATE = 48000
BPM = 120.0


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    shipped = ROOT / "models" / "lstm" / "lstm.onnx"
    if shipped.exists():
        return shipped
    from tests.lstm_models import step_model
    try:
        return step_model(tmp_path_factory.mktemp("grid") / "lstm.onnx", embed=32, hidden=64, layers=2)
    except ImportError:
        pytest.skip("needs torch or onnx to build a test LSTM")


@pytest.mark.jack
@pytest.mark.slow
@pytest.mark.parametrize("period", [256, 1024])
def test_answers_land_on_an_external_clocks_ticks(model, period):
    if jackclock.missing():
        pytest.skip(jackclock.missing())
    from livegen.daemon.harness import Rig, load_model
    from livegen.io.jackmidi import JackMidiInput
    from livegen.io.ports import Recorder

    cfg = config.load(None, [f"models.lstm={model}", "audio.enabled=false", "jam.silence_beats=1",
                             "jam.response_bars=2", "jam.out_channel=2", "jam.thru=midi", "jam.state_cc=-1",
                             "jam.seed=3", "jam.temperature=1.0", f"jam.tempo_bpm={BPM:g}"])
    lstm = load_model(cfg)
    with jackserver.serving(f"i13-grid-{os.getpid()}-{period}", RATE, period):
        rig = Rig(cfg, lstm)
        master = grid = None
        try:
            master = jackclock.ClockMaster(BPM, to=(cfg.midi.in_port,))
            grid = Recorder(JackMidiInput("grid-rec:in", maxlen=None, frames=True,
                                          connect=(jackclock.PORT, cfg.midi.out_port)))
            rig.start()
            master.start()
            time.sleep(0.5)
            assert rig.daemon.beat_clock.state.source == "midi"
            beat = 60 / BPM
            for _round in range(2):
                before = rig.daemon.generator.counts.responses
                for p in (60, 62, 64, 65, 67, 65, 64, 62):
                    rig.player.send(bytes((0x90, p, 90)))
                    time.sleep(0.4 * beat)
                    rig.player.send(bytes((0x80, p, 0)))
                    time.sleep(0.1 * beat)
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline and (rig.daemon.generator.counts.responses == before
                                                       or rig.daemon.sender.responding):
                    time.sleep(0.02)
            master.close()
            master = None
            got = grid.snapshot()
        finally:
            for part in (master, grid):
                if part is not None:
                    part.close()
            rig.close()
    errors = jackclock.grid_errors(got, 1)
    ticks = sum(m == b"\xf8" for _, m in got)
    assert ticks > 100, f"{ticks} ticks recorded"
    assert len(errors) >= 4, f"{len(errors)} answer note-ons recorded"
    ms = np.abs(errors) * 1e3 / RATE
    print(f"period {period}: {len(ms)} note-ons, |error| max {ms.max():.3f} ms")
    assert ms.max() <= 0.5, f"note-ons off the ticks by (ms): {sorted(ms)[-5:]}"


def test_grid_errors_measure_to_the_nearest_tick():  # pure logic: no JACK
    msgs = [(0, b"\xf8"), (100, b"\xf8"), (200, b"\xf8"), (103, b"\x91\x3c\x64"), (195, b"\x91\x3e\x64"),
            (150, b"\x90\x40\x64"),  # another channel: not an answer
            (160, b"\x91\x40\x00")]  # velocity 0 is a note-off
    assert jackclock.grid_errors(msgs, 1).tolist() == [3, -5]
    assert jackclock.grid_errors([(5, b"\x91\x3c\x64")], 1).tolist() == []
