"""Training the timbre model on a handful of synthetic notes: the loss falls, checkpoints
resume to the same result, presets and the CLI work."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from livegen.cli import main  # noqa: E402
from livegen.train.timbre.model import load_checkpoint  # noqa: E402
from livegen.train.timbre.options import TrainOptions  # noqa: E402
from livegen.train.timbre.train import train  # noqa: E402
from tests.test_timbre_data import synthetic_noteset  # noqa: E402

pytestmark = [pytest.mark.train, pytest.mark.slow]

TINY = dict(batch=4, crop_frames=8, lr=3e-3, eval_every=20, ckpt_every=10, pitch_notes=2,
            channels=8, layers=3, n_harmonics=16, noise_bands=8, z_dim=4, threads=1)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("timbre")
    synthetic_noteset(pitches=(55, 57, 60, 62, 64)).save(d / "notes.npz")
    o = TrainOptions(out=str(d / "run"), steps=40, data=str(d / "notes.npz"), **TINY)
    best = train(o, progress=False)
    return d, o, best


def test_loss_falls_and_evaluation_is_logged(run):
    d, o, best = run
    recs = [json.loads(line) for line in (d / "run" / "log.jsonl").read_text().splitlines()]
    evals = [r for r in recs if "valid_loss" in r]
    assert [e["step"] for e in evals] == [20, 40]
    assert evals[-1]["valid_loss"] < 0.9 * evals[0]["valid_loss"]
    assert 0.0 <= evals[-1]["heldout_in_tune"] <= 1.0
    assert best.exists()


def test_training_resumes_to_what_an_uninterrupted_run_gives(run, tmp_path):
    d, o, _ = run
    half = TrainOptions(out=str(tmp_path / "r"), steps=20, data=o.data, **TINY)
    train(half, progress=False)
    train(TrainOptions(out=str(tmp_path / "r"), steps=40, data=o.data, **TINY), progress=False)
    a, _ = load_checkpoint(tmp_path / "r" / "last.pt")
    b, ck = load_checkpoint(d / "run" / "last.pt")
    assert ck["step"] == 40
    for (k, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.allclose(p, q, atol=1e-5), k


def test_presets_export_encode_and_render_commands(run, tmp_path, capsys):
    from livegen.io.wavfile import write_wav
    from tests.test_timbre_data import harmonic_note
    d, o, best = run
    ck = tmp_path / "model.pt"
    assert main(["presets", "timbre", "--from-run", str(best), "--checkpoint", str(ck),
                 "--data", o.data]) == 0
    presets = json.loads((tmp_path / "presets.json").read_text())
    assert list(presets) == ["inst0", "inst1"] and len(presets["inst0"]) == 4
    from export import timbre as export_timbre
    assert export_timbre.main([str(ck), str(tmp_path / "m"), "--presets", str(tmp_path / "presets.json")]) == 0
    write_wav(tmp_path / "mine.wav", harmonic_note(300.0, 30000), 44100)
    model = ["--set", f"models.timbre={tmp_path / 'm'}"]
    assert main(model + ["encode", str(tmp_path / "mine.wav"), "--name", "mine", "--refine", "3"]) == 0
    assert list(json.loads((tmp_path / "m" / "presets.json").read_text())) == ["inst0", "inst1", "mine"]
    capsys.readouterr()
    assert main(model + ["encode", str(tmp_path / "none.wav")]) == 2
    assert "no such WAV file" in capsys.readouterr().err
