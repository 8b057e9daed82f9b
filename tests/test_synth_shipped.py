"""The shipped timbre model through the live engine (ONNX files + compiled kernel), if present:
``livegen render`` of a short MIDI file plays the MIDI's pitches, and the preset sets the timbre."""

from __future__ import annotations

import math
import wave
from pathlib import Path

import numpy as np
import pytest

from livegen import cli
from livegen.core import dsp
from livegen.core.pitch import cents, note_pitch
from livegen.core.tokens import Note
from livegen.io.midifile import write_notes

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "livegen" / "models" / "wavenet"
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not (MODEL / "decoder_step.onnx").exists() or not (MODEL / "presets.json").exists(),
    reason="no shipped timbre model in livegen/models/wavenet")]

PITCHES = (48, 55, 62, 69)  # one note a beat at 120 bpm: 0.5 s each, 0.4 s held


def render(tmp_path, name, preset, seed, pitches=PITCHES):
    mid = tmp_path / f"{name}.mid"
    write_notes(mid, [Note(i * 1.0, i * 1.0 + 0.8, p, 100) for i, p in enumerate(pitches)])
    wav = tmp_path / f"{name}.wav"
    assert cli.main(["--set", "synth.release_max_s=0.1", "render", str(mid), str(wav), "--preset",
                     preset, "--seed", str(seed), "--temperature", "0.9"]) == 0
    with wave.open(str(wav)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32767


def notes_of(audio):
    step = dsp.SAMPLE_RATE // 2
    return [audio[i * step:i * step + int(0.4 * dsp.SAMPLE_RATE)] for i in range(len(PITCHES))]


def test_rendered_notes_have_the_midi_pitches(tmp_path):
    import json
    preset = next(iter(json.loads((MODEL / "presets.json").read_text())))
    errs = []
    for x, p in zip(notes_of(render(tmp_path, "pitch", preset, 0)), PITCHES):
        f0 = dsp.midi_to_hz(p)
        f = note_pitch(x, dsp.SAMPLE_RATE, 0.08, 0.38, fmin=f0 / math.sqrt(2), fmax=f0 * math.sqrt(2))
        errs.append(cents(f, f0))
    assert sum(math.isfinite(e) and abs(e) <= 50 for e in errs) >= 3, errs


def test_the_preset_sets_the_timbre(tmp_path):
    import json
    names = list(json.loads((MODEL / "presets.json").read_text()))[:4]
    audio = {(n, s): render(tmp_path, f"{n}{s}", n, s) for n in names for s in (1, 2)}
    closer = 0
    pairs = 0
    for a in names:
        same = dsp.log_mel_distance(audio[a, 1], audio[a, 2])  # the same preset, other noise
        for b in names:
            if b != a:
                pairs += 1
                closer += same < dsp.log_mel_distance(audio[a, 1], audio[b, 1])
    assert closer >= 0.75 * pairs, (closer, pairs)


@pytest.mark.train
@pytest.mark.skipif(not (MODEL / "wavenet.pt").exists(), reason="no shipped checkpoint in livegen/models/wavenet")
def test_the_shipped_onnx_files_match_the_shipped_checkpoint():
    """The committed ONNX files are the committed checkpoint's: the export's own checks
    (ONNX Runtime against torch at batch 1 and 8, 300 streamed steps against the full pass)."""
    pytest.importorskip("torch")
    from export.wavenet import verify
    from livegen.train.wavenet.model import load_checkpoint
    model, _ = load_checkpoint(MODEL / "wavenet.pt")
    assert verify(model.eval(), MODEL, steps=300) == []
