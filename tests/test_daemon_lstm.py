"""The LSTM runtime on ONNX Runtime: the exported step graph, its metadata, and torch agreement."""

from __future__ import annotations

import numpy as np
import pytest

from livegen.core import sampling
from livegen.core import tokens as tk
from livegen.engine.lstm import LstmRuntime
from livegen.errors import ModelFileError
from tests.lstm_models import numpy_step_model, step_model


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    pytest.importorskip("torch", reason="needs torch (the [train] extra) to export a model")
    pytest.importorskip("export.lstm", reason="export/lstm.py has not landed")
    return step_model(tmp_path_factory.mktemp("lstm") / "tiny.onnx", embed=16, hidden=32, layers=2)


def test_runtime_steps_the_exported_graph_like_torch(exported):
    import torch
    from export.lstm import SingleStep  # noqa: F401 - the export's own wrapper exists
    from livegen.train.lstm.model import PhraseLSTM
    from livegen.train.lstm.settings import ModelDims

    torch.manual_seed(0)  # step_model's seed: the same weights
    model = PhraseLSTM(ModelDims(embed=16, hidden=32, layers=2, dropout=0.0)).eval()
    rt = LstmRuntime(exported, "cpu")
    assert rt.info.kind == "livegen.lstm" and rt.info.dims["hidden"] == 32
    seq = [tk.BOS, tk.VELOCITY + 9, tk.NOTE_ON + 60, tk.TIME_SHIFT + 11, tk.NOTE_OFF + 60, tk.TIME_SHIFT + 5]
    with torch.no_grad():
        full, _ = model(torch.tensor([seq]))
    state = rt.initial_state()
    for t, tok in enumerate(seq):  # streamed one token at a time equals the full forward
        logits, state = rt.step(tok, state)
        assert logits.shape == (tk.VOCAB_SIZE,)
        np.testing.assert_allclose(logits, full[0, t].numpy(), atol=2e-4)


def test_incremental_priming_equals_priming_at_once(exported):
    rt = LstmRuntime(exported, "cpu")
    prompt = tk.encode_notes([tk.Note(0, 0.5, 60, 90), tk.Note(0.5, 1.0, 64, 90)], bos=True)
    logits_a, state_a = sampling.prime(rt.step, rt.initial_state(), prompt)
    state = rt.initial_state()
    for tok in prompt:  # as the generator thread does, note by note
        logits_b, state = rt.step(tok, state)
    np.testing.assert_array_equal(logits_a, logits_b)
    toks = sampling.continue_phrase(rt.step, rt.initial_state(), prompt, beats=8,
                                    rng=np.random.default_rng(0))
    assert tk.tokens_duration_ticks(toks) == 8 * tk.TICKS_PER_BEAT


def test_a_graph_without_torch_runs_too(tmp_path):
    pytest.importorskip("onnx")
    rt = LstmRuntime(numpy_step_model(tmp_path / "np.onnx"), "cpu")
    assert rt.info.state_inputs == ("h0_in", "c0_in", "h1_in", "c1_in")
    assert rt.info.state_outputs == ("h0_out", "c0_out", "h1_out", "c1_out")
    logits, state = rt.step(tk.BOS, rt.initial_state())
    assert logits.shape == (tk.VOCAB_SIZE,) and np.isfinite(logits).all()


@pytest.mark.parametrize("kwargs, message", [
    ({"kind": "livegen.wavenet.decoder"}, "not a livegen LSTM step model"),
    ({"version": 2}, "format_version '2'; this livegen reads 1"),
])
def test_unknown_kind_or_version_is_refused_naming_the_file(tmp_path, kwargs, message):
    pytest.importorskip("onnx")
    path = numpy_step_model(tmp_path / "odd.onnx", **kwargs)
    with pytest.raises(ModelFileError, match=message) as err:
        LstmRuntime(path, "cpu")
    assert str(path) in str(err.value)


def test_a_missing_model_says_how_to_make_one(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist: train and export it"):
        LstmRuntime(tmp_path / "none.onnx")


def test_a_missing_export_next_to_a_checkpoint_says_how_to_export_it(tmp_path):
    (tmp_path / "model.pt").write_bytes(b"")
    with pytest.raises(ModelFileError, match=r"export it from the checkpoint next to it \(python -m export.lstm"):
        LstmRuntime(tmp_path / "lstm.onnx")
