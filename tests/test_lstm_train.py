"""The phrase LSTM in torch: learning, checkpoints, resume, streaming, the commands."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import asdict

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.train

from livegen.core import controls as ctl  # noqa: E402
from livegen.core import tokens as tk  # noqa: E402
from livegen.core.tokens import Note  # noqa: E402
from livegen.errors import ModelFileError  # noqa: E402
from livegen.train.lstm import dataset  # noqa: E402
from livegen.train.lstm.baselines import Unigram  # noqa: E402
from livegen.train.lstm.corpus import PieceNotes  # noqa: E402
from livegen.train.lstm.model import PhraseLSTM, load_checkpoint, save_checkpoint  # noqa: E402
from livegen.train.lstm.settings import ModelDims, TrainConfig  # noqa: E402
from livegen.train.lstm.train import nll_per_token, train  # noqa: E402

TINY = ModelDims(embed=16, hidden=32, layers=2, dropout=0.1)


def scale_pieces(count: int, seed: int = 0) -> list[PieceNotes]:
    """Melodies that walk up and down a major scale in eighths: easy to learn."""
    rng = np.random.default_rng(seed)
    steps = np.array([0, 2, 4, 5, 7, 9, 11, 12, 14, 16])
    pieces = []
    for i in range(count):
        idx = np.clip(np.cumsum(rng.choice([-1, 1], 160)) + 4, 0, 9)
        start = np.arange(160) * 0.5
        pitch = (55 + int(rng.integers(0, 8)) + steps[idx]).astype(np.int16)
        pieces.append(PieceNotes(f"scale{i}", start, start + 0.5, pitch, np.full(160, 80, np.int16)))
    return pieces


@pytest.fixture(scope="module")
def data():
    return dataset.build(scale_pieces(40), held_out_percent=20)


def cfg(steps, **kw):
    base = dict(steps=steps, batch=8, length=48, lr=1e-2, warmup=5, eval_every=10, eval_windows=8,
                checkpoint_every=10, transpose=3, dims=TINY)
    base.update(kw)
    return TrainConfig(**base)


def test_split_is_by_piece_and_fixed(data):
    again = dataset.build(scale_pieces(40), held_out_percent=20)
    assert data.held_out.names == again.held_out.names
    assert not set(data.held_out.names) & set(data.train.names)
    assert 0 < data.held_out.num_pieces < 40
    assert data.train.tokens[data.train.piece_starts].tolist() == [tk.BOS] * data.train.num_pieces


def test_training_windows_are_transposed_copies_of_the_stream_with_their_controls(data):
    rng = np.random.default_rng(0)
    sampler = dataset.TextureSampler.of(data.train, 32)
    batch, controls = dataset.texture_windows(data.train, sampler, 16, 32, rng, transpose=5)
    assert batch.shape == (16, 33) and controls.shape == (16, 33, ctl.NUM_CONTROLS)
    moved = 0
    for row, cts in zip(batch, controls):
        shifts = [t for t in row if tk.is_time_shift(t)]
        assert shifts  # time shifts are never transposed
        ons = [t - tk.NOTE_ON for t in row if tk.is_note_on(t)]
        moved += any(p < 55 or p > 78 for p in ons)
    assert moved > 0
    # the controls travel with their tokens: the centre moves by the transposition
    offsets = sampler.draw(4, np.random.default_rng(1))
    toks, cts = dataset.texture_windows(data.train, sampler, 4, 32, np.random.default_rng(1), transpose=0)
    for o, row, c in zip(offsets, toks, cts):
        assert np.array_equal(row, data.train.tokens[o:o + 33]) and np.array_equal(c, data.train.controls[o:o + 33])


def test_windows_are_balanced_by_texture_but_a_rare_texture_is_not_repeated_endlessly():
    line = scale_pieces(30)
    chords = [PieceNotes(f"chords{i}", np.repeat(np.arange(40.0), 4), np.repeat(np.arange(40.0), 4) + 1,
                         np.tile(np.array([48, 55, 60, 64], np.int16), 40), np.full(160, 80, np.int16))
              for i in range(3)]
    split = dataset.build(line + chords, held_out_percent=1).train
    sampler = dataset.TextureSampler.of(split, 32)
    one, two, chord = sampler.natural
    assert one > 0.8 and 0 < chord < 0.15 and two < 0.02  # two voices: windows across a line and chords
    # each class wants a third; chords can have at most 4x their share of the data
    assert sampler.shares[2] == pytest.approx(4 * chord / (1 / 3 + 4 * chord + 4 * two))
    drawn = sampler.draw(4000, np.random.default_rng(0))
    tex = dataset.window_textures(split.controls, 32)[drawn]
    assert abs((tex >= 2.25).mean() - sampler.shares[2]) < 0.03


def test_a_tiny_model_learns_beats_the_unigram_and_writes_its_files(data, tmp_path):
    history = train(cfg(300), data, tmp_path, progress=False)
    held = dataset.fixed_windows(data.held_out.tokens, 48)
    model, blob = load_checkpoint(tmp_path / "model.pt")
    lstm = nll_per_token(model, held)
    uni = -Unigram(data.train.tokens).token_logprobs(held[:, 1:].reshape(-1)).mean()
    assert history["held_out"][0][1] > np.log(tk.VOCAB_SIZE) - 0.5  # starts near uniform
    assert lstm < uni - 0.4
    assert blob["dims"] == asdict(TINY) and blob["vocab"] == tk.VOCAB_SPEC
    assert blob["config"]["steps"] == 300 and blob["step"] == history["best"][0]
    for name in ("model.pt", "train_state.pt", "curves.png", "history.json"):
        assert (tmp_path / name).stat().st_size > 0
    assert (tmp_path / "model.pt").stat().st_size < (tmp_path / "train_state.pt").stat().st_size


def test_resuming_gives_the_same_weights_as_one_run(data, tmp_path):
    train(cfg(20), data, tmp_path / "straight", progress=False)
    train(cfg(20), data, tmp_path / "split", progress=False, stop_after=10)
    history = train(cfg(20), data, tmp_path / "split", resume=True, progress=False)
    assert [s for s, _ in history["held_out"]] == [0, 10, 20]
    a = torch.load(tmp_path / "straight" / "train_state.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "split" / "train_state.pt", weights_only=True)["model"]
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_resume_refuses_other_dimensions(data, tmp_path):
    train(cfg(10), data, tmp_path, progress=False)
    with pytest.raises(ModelFileError, match="dims"):
        train(cfg(20, dims=ModelDims(embed=16, hidden=48, layers=2)), data, tmp_path, resume=True, progress=False)


def test_stepping_one_token_at_a_time_equals_the_full_forward():
    torch.manual_seed(0)
    model = PhraseLSTM(ModelDims(embed=16, hidden=32, layers=2, dropout=0.1, controls=ctl.NUM_CONTROLS)).eval()
    x = torch.randint(0, tk.VOCAB_SIZE, (3, 40))
    c = torch.randn(3, 40, ctl.NUM_CONTROLS)
    full, (h_full, c_full) = model(x, controls=c)
    state = model.initial_state(3)
    steps = []
    with pytest.raises(ValueError, match="controls"):
        model(x)
    for t in range(40):
        logits, state = model(x[:, t:t + 1], state, controls=c[:, t:t + 1])
        steps.append(logits)
    assert torch.allclose(torch.cat(steps, 1), full, atol=1e-5)
    assert torch.allclose(state[0], h_full, atol=1e-6) and torch.allclose(state[1], c_full, atol=1e-6)


def test_bad_checkpoints_are_model_file_errors(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelFileError, match="junk.pt"):
        load_checkpoint(tmp_path / "junk.pt")
    with pytest.raises(ModelFileError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    model = PhraseLSTM(TINY)
    save_checkpoint(tmp_path / "ok.pt", model, config={})
    blob = torch.load(tmp_path / "ok.pt", weights_only=True)
    blob["vocab"] = dict(blob["vocab"], num_velocity_bins=32)
    torch.save(blob, tmp_path / "othervocab.pt")
    with pytest.raises(ModelFileError, match="vocabulary"):
        load_checkpoint(tmp_path / "othervocab.pt")
    blob = torch.load(tmp_path / "ok.pt", weights_only=True)
    blob["dims"]["hidden"] = 64
    torch.save(blob, tmp_path / "wrongdims.pt")
    with pytest.raises(ModelFileError, match="dimensions"):
        load_checkpoint(tmp_path / "wrongdims.pt")


@pytest.mark.slow
@pytest.mark.timeout(1500)  # five commands, each allowed 300 s
def test_train_eval_and_sample_commands_on_a_midi_folder(tmp_path):
    from livegen.io.midifile import write_notes

    midi = tmp_path / "midi"
    midi.mkdir()
    for p in scale_pieces(24, seed=3):
        write_notes(midi / f"{p.name}.mid", [Note(float(s), float(e), int(q), int(v))
                                             for s, e, q, v in zip(p.start, p.end, p.pitch, p.velocity)])
    (midi / "broken.mid").write_bytes(b"MThd garbage")
    common = ["--no-corpus", "--midi-dir", str(midi), "--cache-dir", str(tmp_path / "cache"), "--held-out-percent", "25"]
    run = lambda *a: subprocess.run([sys.executable, "-m", "livegen", *a], capture_output=True, text=True, timeout=300)
    out = tmp_path / "run"
    proc = run("train", "lstm", *common, "--out", str(out), "--steps", "40", "--batch", "8", "--length", "48",
               "--hidden", "32", "--layers", "2", "--embed", "16", "--eval-every", "20", "--eval-windows", "4",
               "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "broken.mid" in proc.stderr  # reported and skipped
    assert (out / "model.pt").exists() and (out / "curves.png").exists()
    proc = run("eval", "lstm", str(out / "model.pt"), *common, "--prompts", "5", "--json", str(tmp_path / "e.json"))
    assert proc.returncode == 0, proc.stderr
    for row in ("unigram (add-one)", "3-gram (interpolated Kneser-Ney)", "LSTM", "real continuation",
                "LSTM (as the daemon: follow the phrase, safety net)", "LSTM, no safety net", "Targets (issue 12)",
                "one line ("):
        assert row in proc.stdout
    import json
    got = json.loads((tmp_path / "e.json").read_text())
    assert "one line" in got["likelihood"][0]["by_texture"] and len(got["targets"]) == 5
    proc = run("sample", "lstm", str(midi / "scale0.mid"), str(tmp_path / "o.mid"), "--checkpoint",
               str(out / "model.pt"), "--beats", "8", "--seed", "1")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "o.mid").exists()
    proc = run("train", "lstm", "--no-corpus", "--cache-dir", str(tmp_path / "cache"), "--out", str(out))
    assert proc.returncode == 2 and proc.stderr.splitlines()[-1].startswith("livegen: error: no training data")
