"""``livegen continue``: a clip continued offline with the daemon's ONNX model, sampling and controls."""

from __future__ import annotations

import subprocess
import sys

import pytest

from livegen.core import controls as ctl
from livegen.core.tokens import Note
from tests.lstm_models import numpy_step_model

pytest.importorskip("onnx")  # the [train] extra builds the test's model (mido is required: not skipped)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """Random weights, biased to play notes and hold them: anything the safety net allows happens."""
    import numpy as np

    from livegen.core import tokens as tk

    bias = np.zeros(tk.VOCAB_SIZE)
    bias[tk.NOTE_ON:tk.NOTE_OFF] = 3.0
    bias[tk.NOTE_OFF:tk.VELOCITY] = 1.0
    bias[tk.TIME_SHIFT:tk.TIME_SHIFT + 12] = 3.0
    return numpy_step_model(tmp_path_factory.mktemp("lstm") / "tiny.onnx", logit_bias=bias)


def run(*args, cwd):
    return subprocess.run([sys.executable, "-m", "livegen", *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd)


def line_clip(path):
    from livegen.io.midifile import write_notes

    pitches = [76, 79, 81, 79, 76, 74, 72, 74] * 2  # around E5, one line, 2 bars of eighths
    write_notes(path, [Note(i * 0.5, i * 0.5 + 0.45, p, 90) for i, p in enumerate(pitches)])
    return pitches


def test_continue_writes_k_variations_after_the_clip_in_its_register_and_texture(tmp_path, model):
    from livegen.io.midifile import read_midi

    clip = tmp_path / "clip.mid"
    pitches = line_clip(clip)
    out = tmp_path / "out.mid"
    proc = run("--set", f"models.lstm={model}", "continue", str(clip), str(out), "--variations", "3",
               "--bars", "2", "--seed", "5", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "answering with texture 1.00" in proc.stdout
    target = ctl.phrase_controls([Note(i * 0.5, i * 0.5 + 0.45, p, 90) for i, p in enumerate(pitches)], 7.95)
    low, high = ctl.register_window(target)
    heard = 0
    for i in (1, 2, 3):
        notes = read_midi(tmp_path / f"out-{i}.mid").notes
        assert [n.pitch for n in notes[:len(pitches)]] == pitches  # the clip, then the continuation
        new = notes[len(pitches):]
        assert all(8.0 <= n.start < 16.0 for n in new)  # on the next bar line, for 2 bars
        assert not new or new[0].start == 8.0  # the clip began on the beat: so does the continuation
        assert all(low <= n.pitch <= high for n in new)  # the safety net holds even random weights
        assert all(sum(m.start <= n.start < m.end for m in new) <= 1 for n in new)  # one line
        heard += len(new)
    assert heard > 0
    again = tmp_path / "again.mid"
    proc = run("--set", f"models.lstm={model}", "continue", str(clip), str(again), "--bars", "2", "--seed", "5",
               "--only-continuation", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert read_midi(again).notes == read_midi(tmp_path / "out-1.mid").notes[len(pitches):]  # seeded


def test_an_empty_clip_or_a_file_that_is_not_midi_gets_one_clear_message(tmp_path, model):
    from livegen.io.midifile import write_notes

    empty = tmp_path / "empty.mid"
    write_notes(empty, [])
    text = tmp_path / "notes.txt"
    text.write_text("C D E F G\n")
    for path, message in ((empty, "the clip holds no notes to continue"),
                          (text, "not a MIDI file (a standard MIDI file starts with 'MThd')"),
                          (tmp_path / "missing.mid", "cannot read it")):
        proc = run("--set", f"models.lstm={model}", "continue", str(path), str(tmp_path / "o.mid"), cwd=tmp_path)
        assert proc.returncode == 2
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"livegen: error: {path}: ") and message in lines[0], lines
    assert not (tmp_path / "o.mid").exists()
