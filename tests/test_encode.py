"""``livegen encode`` through the real CLI, with the shipped timbre model: any recording of one
instrument (held notes, a legato line with vibrato), and bad input (silence, too short, a bad
--refine, two encodes writing one presets file at once)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from livegen import cli
from livegen.core.pitch import find_notes
from livegen.io.wavfile import write_wav

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "livegen" / "models" / "timbre"
SR = 48000


def line(pitches, seconds, vibrato=0.0, gaps=False, sr=SR, seed=0) -> np.ndarray:
    """A monophonic line of harmonic notes: legato (each note starts where the last ends) or
    with 0.15 s of silence between notes; vibrato in semitones at 5.5 Hz; a little noise."""
    parts = []
    for p, s in zip(pitches, seconds):
        t = np.arange(int(s * sr)) / sr
        f = 440.0 * 2 ** ((p - 69) / 12) * 2 ** (vibrato / 12 * np.sin(2 * np.pi * 5.5 * t))
        ph = 2 * np.pi * np.cumsum(f) / sr
        env = np.minimum(t / 0.02, 1.0) * (np.minimum((s - t) / 0.02, 1.0) if gaps else 1.0)
        parts.append(0.3 * env * sum(k ** -1.2 * np.sin(k * ph) for k in range(1, 12)))
        if gaps:
            parts.append(np.zeros(int(0.15 * sr)))
    x = np.concatenate(parts)
    x += 1e-3 * np.random.default_rng(seed).standard_normal(len(x))
    return x.astype(np.float32)


@pytest.fixture()
def model(tmp_path):
    if not (SHIPPED / "decoder_step.onnx").exists():
        pytest.fail(f"no shipped timbre model in {SHIPPED}")
    d = tmp_path / "model"
    shutil.copytree(SHIPPED, d, ignore=shutil.ignore_patterns("eval", "*.png", "*.jsonl", "*.md", "model.pt"))
    return d


def encode(model: Path, *args: str) -> int:
    return cli.main(["--set", f"models.timbre={model}", "encode", *args])


# ---------------------------------------------------------------------------- finding the notes


def test_find_notes_splits_a_legato_line_with_vibrato_at_each_new_pitch():
    pitches, secs = (60, 62, 64, 65, 67, 64, 60), (0.5, 0.4, 0.6, 0.3, 0.7, 0.4, 0.8)
    notes = find_notes(line(pitches, secs, vibrato=0.4), SR)
    assert [round(n.pitch) for n in notes] == list(pitches)
    starts = np.cumsum((0,) + secs[:-1])
    np.testing.assert_allclose([n.start / SR for n in notes], starts, atol=0.03)


def test_find_notes_sees_silence_between_notes_and_the_same_pitch_played_again():
    x = line((57, 57, 69), (0.4, 0.4, 0.5), gaps=True)
    notes = find_notes(x, SR)
    assert [round(n.pitch) for n in notes] == [57, 57, 69]
    np.testing.assert_allclose([n.start / SR for n in notes], (0.0, 0.55, 1.1), atol=0.02)
    np.testing.assert_allclose([n.length / SR for n in notes], (0.4, 0.4, 0.5), atol=0.04)


def test_find_notes_finds_nothing_in_silence_or_noise():
    assert find_notes(np.zeros(SR, np.float32), SR) == []
    assert find_notes(0.1 * np.random.default_rng(0).standard_normal(SR), SR) == []
    assert find_notes(np.zeros(10, np.float32), SR) == []


# ---------------------------------------------------------------------------- encode


def test_encode_a_played_legato_line(model, tmp_path, capsys):
    wav = tmp_path / "line.wav"
    write_wav(wav, line((62, 64, 66, 67, 69, 67, 66, 64, 62), (0.6,) * 9, vibrato=0.3), SR)
    assert encode(model, str(wav), "--name", "mine", "--refine", "2") == 0
    out = capsys.readouterr().out
    found = re.search(r"(\d+) notes found \(MIDI ([\d, ]+)\)", out)
    assert found and sorted(int(p) for p in found[2].split(", ")) == [62, 64, 66, 67, 69]  # one of each pitch
    assert "refined:" in out
    presets = json.loads((model / "presets.json").read_text())
    assert len(presets) == 33 and list(presets)[-1] == "mine" and list(presets)[:8][0] == "piano"


def test_silence_is_refused_and_nothing_is_written(model, tmp_path, capsys):
    before = (model / "presets.json").read_text()
    write_wav(tmp_path / "silence.wav", np.zeros(2 * SR, np.float32), SR)
    for refine in ("0", "48"):
        assert encode(model, str(tmp_path / "silence.wav"), "--refine", refine) == 2
        err = capsys.readouterr().err
        assert "silence.wav is silent" in err and "nothing written" in err and "Traceback" not in err
    assert (model / "presets.json").read_text() == before


def test_a_wav_too_short_to_hold_a_note_is_refused(model, tmp_path, capsys):
    write_wav(tmp_path / "one.wav", np.full(1, 0.5, np.float32), SR)
    assert encode(model, str(tmp_path / "one.wav"), "--refine", "0") == 2
    assert "too short to hold a note (at least 0.1 s)" in capsys.readouterr().err
    write_wav(tmp_path / "noise.wav", 0.1 * np.random.default_rng(1).standard_normal(SR).astype(np.float32), SR)
    assert encode(model, str(tmp_path / "noise.wav"), "--refine", "0") == 2
    assert "no note found" in capsys.readouterr().err


def test_a_negative_refine_is_refused_naming_the_range(model, tmp_path, capsys):
    wav = tmp_path / "a.wav"
    write_wav(wav, line((60,), (0.5,)), SR)
    assert encode(model, str(wav), "--refine", "-1") == 2
    assert "--refine -1: allowed 0..10000" in capsys.readouterr().err


@pytest.mark.slow
def test_two_encodes_into_one_presets_file_at_once_keep_both(model, tmp_path):
    presets = tmp_path / "shared" / "presets.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    procs = []
    for k, p in enumerate((60, 67, 55)):
        wav = tmp_path / f"n{k}.wav"
        write_wav(wav, line((p, p + 2), (0.5, 0.5), gaps=True), SR)
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "livegen", "--set", f"models.timbre={model}", "encode", str(wav),
             "--name", f"n{k}", "--refine", "0", "--presets", str(presets)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env))
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err.decode()
    assert sorted(json.loads(presets.read_text())) == ["n0", "n1", "n2"]


def test_add_preset_under_the_lock_from_many_processes_keeps_every_preset(tmp_path):
    import multiprocessing as mp

    path = tmp_path / "presets.json"
    ctx = mp.get_context("spawn")
    with ctx.Pool(4) as pool:
        pool.starmap(_add, [(str(path), f"p{k}") for k in range(16)])
    assert sorted(json.loads(path.read_text())) == sorted(f"p{k}" for k in range(16))


def _add(path: str, name: str) -> None:
    from livegen.engine.timbre import add_preset
    add_preset(Path(path), name, np.full(16, 0.1, np.float32))


def test_find_notes_drops_a_short_octave_slip_between_two_notes():
    x = line((71, 43, 74), (0.45, 0.09, 0.6), vibrato=0.1)
    assert [round(n.pitch) for n in find_notes(x, SR)] == [71, 74]
