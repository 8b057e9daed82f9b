"""export/lstm.py: the single-step ONNX graph equals torch, streamed, at several batch sizes."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.train
onnx = pytest.importorskip("onnx")  # the [train] extra

from export import lstm as export_lstm  # noqa: E402
from livegen.core import controls as ctl  # noqa: E402
from livegen.core import tokens as tk  # noqa: E402
from livegen.train.lstm.model import PhraseLSTM, save_checkpoint  # noqa: E402
from livegen.train.lstm.settings import ModelDims  # noqa: E402


DIMS = ModelDims(embed=16, hidden=24, layers=3, controls=ctl.NUM_CONTROLS)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("export")
    torch.manual_seed(1)
    model = PhraseLSTM(DIMS).eval()
    ckpt, out = tmp / "m.pt", tmp / "m.onnx"
    save_checkpoint(ckpt, model, config={}, extra={"step": 7})
    assert export_lstm.main([str(ckpt), str(out), "--steps", "120"]) == 0
    return model, out


def test_metadata_names_kind_version_dims_and_vocabulary(exported):
    model, out = exported
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta["kind"] == "livegen.lstm" and meta["format_version"] == "2"
    assert json.loads(meta["dims"])["hidden"] == 24 and json.loads(meta["dims"])["controls"] == 4
    assert json.loads(meta["controls"])["names"] == list(ctl.NAMES)
    assert json.loads(meta["vocab"]) == json.loads(json.dumps(tk.VOCAB_SPEC))


@pytest.mark.parametrize("batch", [1, 3, 8])
def test_streamed_onnx_steps_equal_the_torch_full_forward(exported, batch):
    model, out = exported
    sess = export_lstm._session(out)
    rng = np.random.default_rng(batch)
    seqs = rng.integers(0, tk.VOCAB_SIZE, (batch, 200))
    cts = rng.normal(0, 1, (batch, 200, ctl.NUM_CONTROLS)).astype(np.float32)
    with torch.no_grad():
        full, (h_full, c_full) = model(torch.from_numpy(seqs), controls=torch.from_numpy(cts))
    h = np.zeros((3, batch, 24), np.float32)
    c = np.zeros_like(h)
    for t in range(seqs.shape[1]):
        logits, h, c = sess.run(None, {"token": seqs[:, t], "controls": cts[:, t], "h_in": h, "c_in": c})
        np.testing.assert_allclose(logits, full[:, t].numpy(), atol=1e-4)
    np.testing.assert_allclose(h, h_full.numpy(), atol=1e-5)
    np.testing.assert_allclose(c, c_full.numpy(), atol=1e-5)


def test_verification_fails_for_a_graph_of_other_weights(exported):
    _, out = exported
    other = PhraseLSTM(DIMS).eval()  # fresh random weights
    assert export_lstm.verify(other, out, steps=20, log=lambda *_: None) is False


def test_a_failed_verification_leaves_the_previous_model_in_place(exported, tmp_path, monkeypatch, capsys):
    model, _ = exported
    ckpt, out = tmp_path / "m.pt", tmp_path / "lstm.onnx"
    save_checkpoint(ckpt, model, config={})
    out.write_bytes(b"the previous model")
    monkeypatch.setattr(export_lstm, "verify", lambda *a, **k: False)
    assert export_lstm.main([str(ckpt), str(out), "--steps", "5"]) == 1
    assert out.read_bytes() == b"the previous model"
    assert "was left as it was" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lstm.onnx", "m.pt"]  # no temporary left behind


def test_the_daemon_runtime_reads_the_export(exported):
    from livegen.engine import lstm as engine
    model, out = exported
    rt = engine.LstmRuntime(out, provider="cpu")
    state = rt.initial_state()
    toks = [tk.BOS, tk.VELOCITY + 9, tk.NOTE_ON + 60, tk.TIME_SHIFT + 11, tk.NOTE_OFF + 60]
    vec = ctl.PhraseControls(1.0, 60.0, 2.0, 2.0).vector()
    with torch.no_grad():
        full, _ = model(torch.tensor([toks]), controls=torch.from_numpy(np.tile(vec, (1, len(toks), 1))))
    for t, tok in enumerate(toks):
        logits, state = rt.step(tok, state, vec)
        np.testing.assert_allclose(logits, full[0, t].numpy(), atol=1e-4)


def test_a_bad_checkpoint_exits_2(tmp_path, capsys):
    (tmp_path / "bad.pt").write_bytes(b"nope")
    assert export_lstm.main([str(tmp_path / "bad.pt"), str(tmp_path / "x.onnx")]) == 2
    assert "bad.pt" in capsys.readouterr().err
