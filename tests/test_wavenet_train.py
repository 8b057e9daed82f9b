"""Training on a handful of synthetic notes: the loss falls, checkpoints resume, presets and CLI work."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from livegen.cli import main  # noqa: E402
from livegen.train.wavenet.options import TrainOptions  # noqa: E402
from livegen.train.wavenet.train import train  # noqa: E402
from tests.test_wavenet_data import synthetic_noteset, write_wav, harmonic_note  # noqa: E402

pytestmark = [pytest.mark.train, pytest.mark.slow]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("wn")
    ns = synthetic_noteset(pitches=(55, 57, 60, 62, 64), n=6000)
    ns.save(d / "notes.npz")
    o = TrainOptions(out=str(d / "run"), steps=30, batch=4, window=512, context=128, lr=3e-3,
                     eval_every=30, ckpt_every=10, pitch_notes=2, pitch_seconds=0.2, data=str(d / "notes.npz"),
                     residual=8, gate=4, skip=8, n_harmonics=2)
    best = train(o, progress=False)
    return d, o, best


def test_loss_falls_and_evaluation_is_logged(run):
    d, o, best = run
    recs = [json.loads(line) for line in (d / "run" / "log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in recs if "loss" in r]
    evals = [r for r in recs if "valid_loss" in r]
    assert len(losses) == 0 or losses[-1] < 5.5  # logged every 50 steps: none in 30
    assert evals and evals[-1]["step"] == 30
    assert evals[-1]["valid_loss"] < np.log(256) - 0.5  # better than uniform over 256 classes
    assert 0.0 <= evals[-1]["heldout_in_tune"] <= 1.0
    assert best.exists()


def test_training_resumes_from_last_checkpoint(run):
    d, o, _ = run
    ck = torch.load(d / "run" / "last.pt", weights_only=False)
    assert ck["step"] == 30
    o2 = TrainOptions(**{**o.__dict__, "steps": 40})
    train(o2, progress=False)
    assert torch.load(d / "run" / "last.pt", weights_only=False)["step"] == 40


def test_presets_encode_and_eval_commands(run, tmp_path, capsys):
    d, o, best = run
    ck = tmp_path / "ship" / "wavenet.pt"
    notes = str(d / "notes.npz")
    assert main(["presets", "wavenet", "--from-run", str(d / "run" / "last.pt"), "--checkpoint", str(ck),
                 "--data", notes, "--out", str(tmp_path / "presets.json")]) == 0
    shipped = torch.load(ck, weights_only=False)
    assert "optimizer" not in shipped and shipped["step"] >= 30
    presets = json.loads((tmp_path / "presets.json").read_text())
    assert sorted(presets) == ["a", "b"] and len(presets["a"]) == 16
    x, _ = harmonic_note(330.0, 8000, sr=22050)
    write_wav(tmp_path / "mine.wav", x, 22050)
    assert main(["encode", str(tmp_path / "mine.wav"), "--checkpoint", str(ck),
                 "--presets", str(tmp_path / "presets.json")]) == 0
    assert sorted(json.loads((tmp_path / "presets.json").read_text())) == ["a", "b", "mine"]
    assert main(["eval", "wavenet", "--checkpoint", str(ck), "--data", notes, "--presets",
                 str(tmp_path / "presets.json"), "--pitches-per-set", "1", "--max-seconds", "0.2",
                 "--out", str(tmp_path / "eval")]) == 0
    res = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert res["log_mel"]["pairs"] == 2  # two instruments: (a, b) and (b, a)
    assert res["teacher_forced"]["pairs"] == 2 and len(res["teacher_forced"]["matrix_nats"]) == 2
    assert (tmp_path / "eval" / "spectrograms.png").exists()


def test_bad_wav_gives_a_message_not_a_traceback(tmp_path, capsys):
    (tmp_path / "bad.wav").write_bytes(b"garbage")
    assert main(["encode", str(tmp_path / "bad.wav")]) == 2
    err = capsys.readouterr().err
    assert "livegen: error: cannot read" in err and "Traceback" not in err
