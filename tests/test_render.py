"""livegen render: a MIDI file through the synth to a WAV, deterministic for a seed."""

from __future__ import annotations

import wave

import numpy as np
import pytest

from livegen import cli
from livegen.core.tokens import Note
from livegen.io.midifile import write_notes
from livegen.synth.offline import note_events, seconds_at
from tests import timbre_fixture


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return timbre_fixture.copy_to(tmp_path_factory.mktemp("render"), {"a": [0.3] * 4, "b": [-0.9] * 4})


def test_tempo_map_to_seconds():
    assert seconds_at(2.0, []) == 1.0  # 120 bpm by default
    assert seconds_at(3.0, [(0.0, 60.0), (2.0, 120.0)]) == pytest.approx(2.5)
    events = note_events([Note(0.0, 1.0, 60, 100), Note(1.0, 2.0, 60, 90)], [(0.0, 120.0)], 16000, 64)
    # the first note's off sorts before the repeated note's on at the same sample
    assert [(t, m[0]) for t, m in events] == [(0, 0x90), (8000, 0x80), (8000, 0x90), (16000, 0x80)]


def read_wav(path, rate=48000):
    with wave.open(str(path)) as w:
        assert w.getframerate() == rate and w.getnchannels() == 1
        return np.frombuffer(w.readframes(w.getnframes()), "<i2")


def test_render_writes_a_deterministic_wav(model_dir, tmp_path, capsys):
    mid = tmp_path / "in.mid"
    write_notes(mid, [Note(0.0, 1.0, 60, 100), Note(0.5, 1.5, 64, 80)], tempos=[(0.0, 120.0)])
    args = ["--set", f"models.timbre={model_dir}", "--set", "synth.release_max_s=0.1", "render",
            str(mid)]
    assert cli.main(args + [str(tmp_path / "a.wav"), "--seed", "3"]) == 0
    assert "rendered 2 notes" in capsys.readouterr().out
    assert cli.main(args + [str(tmp_path / "b.wav"), "--seed", "3"]) == 0
    assert cli.main(args + [str(tmp_path / "c.wav"), "--seed", "4", "--preset", "b"]) == 0
    a, b, c = (read_wav(tmp_path / f"{n}.wav") for n in "abc")
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert 0.75 * 48000 <= len(a) <= (0.75 + 1.0 + 0.3) * 48000  # the notes, a tail, the release
    assert np.abs(a[:24000].astype(float)).max() > 0
    assert cli.main(args + [str(tmp_path / "d.wav"), "--seed", "3", "--rate", "44100"]) == 0
    d = read_wav(tmp_path / "d.wav", 44100)
    assert abs(len(d) / 44100 - len(a) / 48000) < 0.01
    assert cli.main(args + [str(tmp_path / "e.wav"), "--rate", "100"]) == 2
    assert "--rate 100: must be in range 8000..192000" in capsys.readouterr().err


def test_render_bad_inputs_give_one_clear_line(model_dir, tmp_path, capsys):
    junk = tmp_path / "junk.mid"
    junk.write_bytes(b"not a midi file at all")
    assert cli.main(["--set", f"models.timbre={model_dir}", "render", str(junk), str(tmp_path / "o.wav")]) == 2
    err = capsys.readouterr().err
    assert "junk.mid" in err and "Traceback" not in err
    mid = tmp_path / "in.mid"
    write_notes(mid, [Note(0.0, 1.0, 60, 100)], tempos=[(0.0, 120.0)])
    assert cli.main(["--set", f"models.timbre={model_dir}", "render", str(mid), str(tmp_path / "o.wav"),
                     "--preset", "zzz"]) == 2
    assert "no such preset" in capsys.readouterr().err
    assert cli.main(["--set", f"models.timbre={tmp_path}/none", "render", str(mid),
                     str(tmp_path / "o.wav")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_long_render_reports_its_progress(model_dir, tmp_path, capsys, monkeypatch):
    from livegen.commands import render
    monkeypatch.setattr(render.Progress, "EVERY_S", 0.0)  # a line after every block
    mid = tmp_path / "long.mid"
    write_notes(mid, [Note(i * 0.5, i * 0.5 + 0.4, 60 + i % 12, 90) for i in range(12)], tempos=[(0.0, 120.0)])
    args = ["--set", f"models.timbre={model_dir}", "render", str(mid), str(tmp_path / "long.wav")]
    assert cli.main(args) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("render: ")]
    assert len(lines) > 10 and "x real time" in lines[-1] and "s left" in lines[-1]
    assert lines[-1].split()[1] != "0"  # the position moves on
