"""export.timbre on tiny untrained timbre models: ONNX files, metadata, streaming parity,
refusals of files of another kind. Other tests build their model folders with ``make``."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from export import timbre as export_timbre  # noqa: E402
from livegen.engine.timbre import TimbreEngine  # noqa: E402
from livegen.errors import ModelFileError  # noqa: E402
from livegen.train.timbre.model import Dims, TimbreModel, controls, save_checkpoint  # noqa: E402

pytestmark = pytest.mark.train

SIZES = {
    "tiny": Dims(z_dim=4, channels=8, dilations=(1, 2, 4), head=8, n_harmonics=16, noise_bands=8,
                 n_mels=16, enc_channels=8, enc_dilations=(1, 2), enc_frames=16),
    "small": Dims(z_dim=8, channels=16, dilations=(1, 2, 4, 8, 16), head=16, n_harmonics=32,
                  noise_bands=12, n_mels=24, enc_channels=8, enc_dilations=(1, 2, 4), enc_frames=24),
}


def make(dims, seed=0):
    """An untrained model whose biases are not zero (so the checks see them) and whose notes
    sound: a loud amplitude and some noise."""
    torch.manual_seed(seed)
    model = TimbreModel(dims).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim == 1:
                p.normal_(0, 0.3)
        model.decoder.h2.bias[0] = 1.0
    return model


def folder(tmp_path, dims=SIZES["tiny"], seed=0, presets=None):
    """A model folder (ONNX files and presets) of an untrained model."""
    export_timbre.export(make(dims, seed), tmp_path)
    z = presets or {"a": [0.3] * dims.z_dim, "b": [-0.3] * dims.z_dim}
    (tmp_path / "presets.json").write_text(json.dumps(z))
    return tmp_path


@pytest.fixture(scope="module", params=sorted(SIZES))
def exported(request, tmp_path_factory):
    model = make(SIZES[request.param])
    out = tmp_path_factory.mktemp(request.param)
    export_timbre.export(model, out)
    return model, out


def test_export_verifies_and_carries_metadata(exported):
    model, out = exported
    assert export_timbre.verify(model, out, frames=60) == []
    files = TimbreEngine.load(out, "cpu")
    assert files.dims == model.dims.to_dict()
    assert files.presets == {}


def test_streamed_frames_equal_the_whole_sequence_in_torch(exported):
    """Decoder.step over explicit past inputs equals Decoder.forward (the batch form)."""
    model, _ = exported
    d = model.dims
    cond = torch.randn(3, 70, d.cond_dim)
    want = model.decoder(cond)
    hist = [torch.zeros(3, 70 + max(d.dilations), d.channels) for _ in d.dilations]
    got = []
    with torch.no_grad():
        for f in range(70):
            past = torch.stack([hist[l][:, f] for l in range(len(d.dilations))], dim=1)
            raw, cur = model.decoder.step(cond[:, f], past)
            for l, dl in enumerate(d.dilations):
                hist[l][:, f + dl] = cur[:, l]
            got.append(raw)
    assert torch.allclose(torch.stack(got, dim=1), want, atol=1e-5)


def test_a_broken_export_is_caught_by_the_check(exported, tmp_path):
    import copy

    model, out = exported

    def flagged(bad: list[str]) -> dict[str, float]:
        """name -> the difference reported, each above the tolerance it names."""
        found = {}
        for line in bad:
            name, _, figures = line.rpartition(": ")
            err, _, tolerance = figures.partition(" > ")
            assert float(err) > float(tolerance) == export_timbre.TOLERANCE, line
            found[name] = float(err)
        return found

    # other weights entirely: every check of the encoder and of the decoder's outputs fails
    # (but the noise gains': an untrained model's are tiny, exp_sigmoid(x - 5), and differ by
    # less than the absolute tolerance)
    bad = flagged(export_timbre.verify(make(model.dims, seed=99), out, frames=20))
    assert {"encoder, batch 1", "encoder, batch 8"} <= bad.keys(), bad
    for voices in (1, 8):
        for name in ("amp", "dist", "dev"):
            assert f"20 streamed frames, {voices} voices: {name}" in bad, bad
    # one decoder bias moved a little (the amplitude's): the amplitude's checks fail, not the
    # encoder's, and by about what was moved
    nudged = copy.deepcopy(model)
    with torch.no_grad():
        nudged.decoder.h2.bias[0] += 0.05
    bad = flagged(export_timbre.verify(nudged, out, frames=20))
    assert "20 streamed frames, 1 voices: amp" in bad and "20 streamed frames, 8 voices: amp" in bad, bad
    assert not [name for name in bad if name.startswith("encoder")], bad


def test_checkpoint_to_files_by_the_script_and_a_mismatch_leaves_the_old_files(tmp_path, monkeypatch):
    model = make(SIZES["tiny"], seed=1)
    ck = tmp_path / "m.pt"
    save_checkpoint(ck, model, presets={"x": [0.1] * 4})
    out = tmp_path / "out"
    assert export_timbre.main([str(ck), str(out)]) == 0
    files = TimbreEngine.load(out, "cpu")
    assert list(files.presets) == ["x"]
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    monkeypatch.setattr(export_timbre, "verify", lambda *a, **k: ["forced mismatch"])
    save_checkpoint(ck, make(SIZES["tiny"], seed=2))
    assert export_timbre.main([str(ck), str(out)]) == 1
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing half-written
    assert not [p for p in out.iterdir() if p.name.startswith(".export")]


def test_wrong_kind_corrupt_and_old_files_are_named(exported, tmp_path):
    _, out = exported
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    shutil.copy(bad / "encoder.onnx", bad / "decoder_step.onnx")
    with pytest.raises(ModelFileError, match="decoder_step.onnx: not a livegen decoder_step model"):
        TimbreEngine.load(bad, "cpu")
    (bad / "decoder_step.onnx").write_bytes(b"not onnx")
    with pytest.raises(ModelFileError, match="decoder_step.onnx"):
        TimbreEngine.load(bad, "cpu")
    with pytest.raises(ModelFileError, match="does not exist"):
        TimbreEngine.load(tmp_path / "none", "cpu")


def test_a_model_of_the_old_sample_level_kind_is_refused_by_name(exported, tmp_path):
    import onnx
    _, out = exported
    old = tmp_path / "old"
    shutil.copytree(out, old)
    m = onnx.load(str(old / "encoder.onnx"))
    for p in m.metadata_props:
        if p.key == "kind":
            p.value = "livegen.wavenet.encoder"
    onnx.save(m, str(old / "encoder.onnx"))
    with pytest.raises(ModelFileError, match="encoder.onnx: a timbre model of the old sample-level"):
        TimbreEngine.load(old, "cpu")


def test_bad_presets_are_refused(exported, tmp_path):
    _, out = exported
    bad = tmp_path / "p"
    shutil.copytree(out, bad)
    (bad / "presets.json").write_text(json.dumps({"a": [1.0, 2.0]}))
    with pytest.raises(ModelFileError, match="preset 'a' must be a list of"):
        TimbreEngine.load(bad, "cpu")


def test_checkpoint_of_another_kind_is_refused(tmp_path):
    from livegen.train.timbre.model import load_checkpoint
    torch.save({"kind": "livegen-wavenet", "format_version": 1}, tmp_path / "old.pt")
    with pytest.raises(ModelFileError, match="sample-level WaveNet"):
        load_checkpoint(tmp_path / "old.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(ModelFileError, match="junk.pt"):
        load_checkpoint(tmp_path / "junk.pt")


def test_controls_respect_their_bounds():
    d = SIZES["tiny"]
    raw = torch.randn(5, 7, d.n_controls) * 50
    amp, dist, dev, noise = controls(raw, d)
    assert (amp > 0).all() and (noise > 0).all()
    assert torch.allclose(dist.sum(-1), torch.ones(5, 7))
    assert dev.abs().max() <= d.max_dev_cents
    assert np.isfinite(dev.numpy()).all()
