"""export.wavenet on tiny untrained models: ONNX files, metadata, parity, and the kernel."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from export import wavenet as export_wavenet  # noqa: E402
from livegen.engine.kernel import DecoderState, KernelDecoder  # noqa: E402
from livegen.engine.wavenet_files import WaveNetFiles  # noqa: E402
from livegen.errors import ModelFileError  # noqa: E402
from livegen.train.wavenet.model import Dims, WaveNetAutoencoder, save_checkpoint  # noqa: E402

pytestmark = pytest.mark.train

SIZES = {
    "tiny": Dims(residual=8, gate=4, skip=8, head=8, dilations=(1, 2, 4, 1), n_harmonics=2,
                 z_dim=4, enc_channels=8, enc_dilations=(1, 2), enc_pool=64),
    "small": Dims(residual=16, gate=8, skip=16, head=16, dilations=(1, 2, 4, 8, 16, 32, 1, 2),
                  n_harmonics=3, z_dim=8, enc_channels=8, enc_dilations=(1, 2, 4), enc_pool=128),
}


def make(dims, seed=0):
    torch.manual_seed(seed)
    model = WaveNetAutoencoder(dims).eval()
    with torch.no_grad():  # untrained biases are zero: make them count in the checks
        for p in model.parameters():
            if p.ndim == 1:
                p.normal_(0, 0.3)
    return model


@pytest.fixture(scope="module", params=sorted(SIZES))
def exported(request, tmp_path_factory):
    model = make(SIZES[request.param])
    out = tmp_path_factory.mktemp(request.param)
    export_wavenet.export(model, out)
    return model, out


def test_export_verifies_and_carries_metadata(exported):
    model, out = exported
    assert export_wavenet.verify(model, out, steps=260) == []
    files = WaveNetFiles.load(out, provider="cpu")
    meta = files.decoder.get_modelmeta().custom_metadata_map
    assert meta["kind"] == "livegen.wavenet.decoder_step" and meta["format_version"] == "1"
    assert json.loads(meta["dilations"]) == list(model.dims.dilations)
    assert meta["sample_rate"] == "16000" and meta["mu_levels"] == "256"


def test_kernel_runs_the_same_weights_as_onnx_runtime(exported):
    model, out = exported
    files = WaveNetFiles.load(out, provider="cpu")
    w = files.kernel_weights()
    d = model.dims
    rng = np.random.default_rng(5)
    V, N = 3, 4 * d.frame
    L, G2, E = len(d.dilations), 2 * d.gate, d.exc_dim
    bias = rng.standard_normal((V, N // d.frame, L, G2)).astype(np.float32)
    exc = rng.standard_normal((V, N, E)).astype(np.float32)
    u = rng.random((V, N)).astype(np.float32)
    dec = KernelDecoder(w, threads=2)
    state = DecoderState.zeros(w, V, first_class=128)
    logits = np.zeros((V, N, 256), np.float32)
    classes = dec.render(state, bias, exc, u, np.ones(V, np.float32), logits)
    # the same steps through ONNX Runtime, fed the kernel's own draws
    ring = files.new_history(V)
    prev = np.full(V, 128)
    worst = 0.0
    for t in range(N):
        x_prev = (prev * (2 / 255) - 1).astype(np.float32)
        ort_logits, cur = files.decoder.run(None, {"x_prev": x_prev, "exc": exc[:, t],
                                                   "bias": bias[:, t // d.frame],
                                                   "past": files.gather_past(ring, t)})
        files.write_cur(ring, t, cur)
        worst = max(worst, float(np.abs(ort_logits - logits[:, t]).max()))
        prev = classes[:, t]
    assert worst < 1e-3, worst


def test_checkpoint_to_files_by_the_script(tmp_path, capsys):
    model = make(SIZES["tiny"])
    ck = tmp_path / "m.pt"
    save_checkpoint(ck, model, presets={"a": [0.1] * 4, "b": [0.2] * 4})
    assert export_wavenet.main([str(ck), str(tmp_path / "out"), "--steps", "64"]) == 0
    assert "verified" in capsys.readouterr().out
    files = WaveNetFiles.load(tmp_path / "out", provider="cpu")
    assert sorted(files.presets) == ["a", "b"]


def test_wrong_kind_corrupt_and_truncated_files_are_named(exported, tmp_path):
    _, out = exported
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    shutil.copyfile(out / "encoder.onnx", bad / "decoder_step.onnx")
    with pytest.raises(ModelFileError, match="decoder_step.onnx: not a livegen decoder_step model"):
        WaveNetFiles.load(bad, provider="cpu")
    data = (out / "decoder_step.onnx").read_bytes()
    (bad / "decoder_step.onnx").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="decoder_step.onnx: not a loadable ONNX model"):
        WaveNetFiles.load(bad, provider="cpu")
    (bad / "decoder_step.onnx").write_bytes(b"garbage" * 10)
    with pytest.raises(ModelFileError, match="decoder_step.onnx"):
        WaveNetFiles.load(bad, provider="cpu")
    with pytest.raises(ModelFileError, match="does not exist"):
        WaveNetFiles.load(tmp_path / "nowhere", provider="cpu")


def test_bad_presets_are_refused(exported, tmp_path):
    _, out = exported
    bad = tmp_path / "p"
    shutil.copytree(out, bad)
    (bad / "presets.json").write_text(json.dumps({"x": [1.0, 2.0]}))
    with pytest.raises(ModelFileError, match="preset 'x' must be a list of"):
        WaveNetFiles.load(bad, provider="cpu")


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    from export import wavenet
    ck = tmp_path / "lstm.pt"
    torch.save({"kind": "something-else"}, ck)
    assert wavenet.main([str(ck), str(tmp_path / "o")]) == 2
