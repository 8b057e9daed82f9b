"""The shipped WaveNet (livegen/models/wavenet/wavenet.pt + presets.json), if present, plays notes in tune."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from livegen.core import dsp  # noqa: E402
from livegen.core.pitch import cents, note_pitch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CKPT = ROOT / "livegen" / "models" / "wavenet" / "wavenet.pt"
PRESETS = ROOT / "livegen" / "models" / "wavenet" / "presets.json"

pytestmark = [pytest.mark.train, pytest.mark.slow,
              pytest.mark.skipif(not (CKPT.exists() and PRESETS.exists()), reason="no shipped WaveNet")]


def test_shipped_model_plays_in_tune_including_unrendered_pitches():
    from livegen.train.wavenet.generate import render_notes
    from livegen.train.wavenet.model import load_checkpoint
    from livegen.engine.wavenet_files import load_presets

    torch.set_num_threads(1)
    model, _ = load_checkpoint(CKPT)
    model.eval()
    presets = load_presets(PRESETS, model.dims.z_dim)
    names = sorted(presets)
    # 45.5 and 70.3 lie between rendered pitches; 50 and 66 are held-out pitches of the default set
    pitches = [45.5, 50.0, 66.0, 70.3]
    notes = [(presets[names[k % len(names)]], dsp.midi_to_hz(p), 100.0) for k, p in enumerate(pitches)]
    n, hold = int(0.4 * dsp.SAMPLE_RATE), int(0.3 * dsp.SAMPLE_RATE)
    audio = render_notes(model.decoder, notes, n, hold, temperature=0.9, seed=0)
    errs = []
    for x, (_, f0, _) in zip(audio, notes):
        f = note_pitch(x, dsp.SAMPLE_RATE, 0.08, 0.3, fmin=f0 / math.sqrt(2), fmax=f0 * math.sqrt(2))
        errs.append(cents(f, f0))
    ok = [math.isfinite(e) and abs(e) <= 50 for e in errs]
    assert sum(ok) >= 3, errs
    assert all(np.sqrt(np.mean(x[800:hold] ** 2)) > 1e-3 for x in audio)  # not silent
