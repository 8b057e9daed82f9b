"""The LSTM runtime on ONNX Runtime: the exported step graph, its metadata, and torch agreement."""

from __future__ import annotations

import numpy as np
import pytest

from livegen.core import controls as ctl
from livegen.core import sampling
from livegen.core import tokens as tk
from livegen.engine.lstm import LstmRuntime
from livegen.errors import ModelFileError
from tests.lstm_models import numpy_step_model, step_model


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    pytest.importorskip("torch", reason="needs torch (the [train] extra) to export a model")
    return step_model(tmp_path_factory.mktemp("lstm") / "tiny.onnx", embed=16, hidden=32, layers=2)


def test_runtime_steps_the_exported_graph_like_torch(exported):
    import torch

    from livegen.train.lstm.model import PhraseLSTM
    from livegen.train.lstm.settings import ModelDims

    torch.manual_seed(0)  # step_model's seed: the same weights
    model = PhraseLSTM(ModelDims(embed=16, hidden=32, layers=2, dropout=0.0, controls=ctl.NUM_CONTROLS)).eval()
    rt = LstmRuntime(exported, "cpu")
    assert rt.info.kind == "livegen.lstm" and rt.info.dims["hidden"] == 32 and rt.info.controls == ctl.NAMES
    seq = [tk.BOS, tk.VELOCITY + 9, tk.NOTE_ON + 60, tk.TIME_SHIFT + 11, tk.NOTE_OFF + 60, tk.TIME_SHIFT + 5]
    vecs = np.stack([ctl.PhraseControls(1 + t, 50 + 4 * t, 3, 0.5 + t).vector() for t in range(len(seq))])
    with torch.no_grad():
        full, _ = model(torch.tensor([seq]), controls=torch.from_numpy(vecs)[None])
    state = rt.initial_state()
    for t, tok in enumerate(seq):  # streamed one token at a time equals the full forward
        logits, state = rt.step(tok, state, vecs[t])
        assert logits.shape == (tk.VOCAB_SIZE,)
        np.testing.assert_allclose(logits, full[0, t].numpy(), atol=2e-4)
    with pytest.raises(ValueError, match="takes 4 controls"):
        rt.step(tk.BOS, rt.initial_state())


def test_controls_change_what_the_model_says(exported):
    rt = LstmRuntime(exported, "cpu")
    a, _ = rt.step(tk.BOS, rt.initial_state(), ctl.PhraseControls(1, 60, 2, 1).vector())
    b, _ = rt.step(tk.BOS, rt.initial_state(), ctl.PhraseControls(4, 40, 9, 4).vector())
    assert np.abs(a - b).max() > 1e-3


def test_continuing_a_phrase_keeps_the_safety_net_of_its_texture_and_register(exported):
    rt = LstmRuntime(exported, "cpu")  # random weights: only the safety net keeps it in line
    line = [tk.Note(i * 0.5, i * 0.5 + 0.5, p, 90) for i, p in enumerate([72, 74, 76, 77, 79, 77, 76, 74] * 2)]
    prompt = tk.encode_notes(line, bos=True)
    for seed in range(3):
        toks = sampling.continue_phrase(rt.step, rt.initial_state(), prompt, beats=8, prompt_beats=8,
                                        rng=np.random.default_rng(seed))
        assert tk.tokens_duration_ticks(toks) == 8 * tk.TICKS_PER_BEAT
        notes = tk.decode_tokens(toks)
        low, high = ctl.register_window(ctl.measure(prompt, 8))
        assert all(low <= n.pitch <= high for n in notes)
        onsets = sorted({n.start for n in notes})
        assert all(sum(n.start <= t < n.end for n in notes) <= 1 for t in onsets)  # one line


def test_a_graph_without_torch_runs_too(tmp_path):
    pytest.importorskip("onnx")
    rt = LstmRuntime(numpy_step_model(tmp_path / "np.onnx"), "cpu")
    assert rt.num_controls == ctl.NUM_CONTROLS
    logits, state = rt.step(tk.BOS, rt.initial_state(), ctl.UNKNOWN.vector())
    assert logits.shape == (tk.VOCAB_SIZE,) and np.isfinite(logits).all()
    assert [s.shape for s in state] == [(2, 1, 32), (2, 1, 32)]
    plain = LstmRuntime(numpy_step_model(tmp_path / "plain.onnx", controls=0), "cpu")
    assert plain.num_controls == 0 and plain.step(tk.BOS, plain.initial_state())[0].shape == (tk.VOCAB_SIZE,)


@pytest.mark.parametrize("kwargs, message", [
    ({"kind": "livegen.wavenet.decoder"}, "not a livegen LSTM step model"),
    ({"version": 1}, "format_version '1'; this livegen reads 2"),
    ({"metadata": {"vocab": None}}, "LSTM metadata lacks vocab"),
    ({"metadata": {"controls": None, "dims": None}}, "LSTM metadata lacks dims, controls"),
    ({"metadata": {"controls": '{"names": ["loudness"]}'}}, "LSTM controls"),
    ({"metadata": {"vocab": '{"scheme": "other", "version": 9}'}}, "another vocabulary"),
])
def test_a_file_that_is_not_this_livegens_lstm_is_refused_naming_the_file(tmp_path, kwargs, message):
    pytest.importorskip("onnx")
    path = numpy_step_model(tmp_path / "odd.onnx", **kwargs)
    with pytest.raises(ModelFileError, match=message) as err:
        LstmRuntime(path, "cpu")
    assert str(path) in str(err.value)


def test_a_graph_with_other_names_is_refused(tmp_path):
    onnx = pytest.importorskip("onnx")
    path = numpy_step_model(tmp_path / "renamed.onnx")
    proto = onnx.load(str(path))
    for node in proto.graph.node:
        node.input[:] = ["state_h" if i == "h_in" else i for i in node.input]
    proto.graph.input[2].name = "state_h"
    onnx.save(proto, str(path))
    with pytest.raises(ModelFileError, match=r"inputs \('token', 'controls', 'state_h', 'c_in'\)") as err:
        LstmRuntime(path, "cpu")
    assert str(path) in str(err.value)


def test_a_missing_model_says_how_to_make_one(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist: train and export it"):
        LstmRuntime(tmp_path / "none.onnx")


def test_a_missing_export_next_to_a_checkpoint_says_how_to_export_it(tmp_path):
    (tmp_path / "model.pt").write_bytes(b"")
    with pytest.raises(ModelFileError, match=r"export it from the checkpoint next to it \(python -m export.lstm"):
        LstmRuntime(tmp_path / "lstm.onnx")
