"""The WaveNet autoencoder: cached-queue generation equals the full forward pass; checkpoints; cost."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from livegen.core import dsp  # noqa: E402
from livegen.errors import ModelFileError  # noqa: E402
from livegen.train.wavenet.generate import generate  # noqa: E402
from livegen.train.wavenet.model import (  # noqa: E402
    Dims, WaveNetAutoencoder, load_checkpoint, save_checkpoint)

pytestmark = pytest.mark.train

SIZES = [
    dict(residual=8, gate=4, skip=8, head=8, dilations=(1,), n_harmonics=1, frame=4),
    dict(residual=8, gate=4, skip=12, head=10, dilations=(1, 2, 4, 1, 3), n_harmonics=2, frame=4),
    dict(residual=16, gate=8, skip=16, head=16, dilations=(1, 2, 4, 8, 16, 1, 2), n_harmonics=4, frame=16),
    dict(),  # the shipped model's dimensions
]


def tiny(**kw) -> WaveNetAutoencoder:
    base = dict(z_dim=4, enc_channels=8, enc_dilations=(1, 2), enc_pool=16)
    base.update(kw)
    torch.manual_seed(0)
    m = WaveNetAutoencoder(Dims(**base))
    with torch.no_grad():  # untrained biases are zero; make them matter
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return m.eval()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"L{len(s.get('dilations', Dims().dilations))}")
@pytest.mark.parametrize("batch,frames", [(1, 3), (3, 5)])
def test_queue_generation_equals_full_forward(size, batch, frames):
    m = tiny(**size)
    d = m.dims
    # several frames and, for the larger case, a partial last frame; at most ~3.5 frames of 64
    T = min(d.frame * frames + (d.frame // 2 if frames > 3 else 0), 3 * 64 + 32)
    n_frames = -(-T // d.frame)
    rng = np.random.default_rng(1)
    exc = rng.standard_normal((batch, T, d.exc_dim)).astype(np.float32)
    cond = rng.standard_normal((batch, n_frames, d.cond_dim)).astype(np.float32)
    teacher = rng.integers(0, 256, (batch, T))
    silence = dsp.mu_law_encode(np.zeros(1))[0]
    x_prev = dsp.mu_law_to_unit(np.concatenate([np.full((batch, 1), silence), teacher[:, :-1]], axis=1))
    Tf = n_frames * d.frame  # the full pass needs whole frames: pad, then cut
    pad = Tf - T
    with torch.no_grad():
        full = m.decoder(torch.from_numpy(np.pad(x_prev, ((0, 0), (0, pad)))),
                         torch.from_numpy(np.pad(exc, ((0, 0), (0, pad), (0, 0)))),
                         torch.from_numpy(cond)).numpy()[:, :T]
    q, logits = generate(m.decoder, exc, cond, teacher=teacher, return_logits=True)
    np.testing.assert_array_equal(q, teacher.astype(np.uint8))
    assert np.abs(full - logits).max() < 1e-4 * max(1.0, np.abs(full).max())


def test_sampling_is_seeded_and_temperature_zero_is_argmax():
    m = tiny(**SIZES[1])
    d = m.dims
    rng = np.random.default_rng(2)
    exc = rng.standard_normal((2, 40, d.exc_dim)).astype(np.float32)
    cond = rng.standard_normal((2, 10, d.cond_dim)).astype(np.float32)
    a = generate(m.decoder, exc, cond, temperature=1.0, seed=5)
    b = generate(m.decoder, exc, cond, temperature=1.0, seed=5)
    c = generate(m.decoder, exc, cond, temperature=1.0, seed=6)
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()
    g, logits = generate(m.decoder, exc, cond, temperature=0.0, return_logits=True)
    np.testing.assert_array_equal(g, logits.argmax(-1).astype(np.uint8))


def test_macs_per_sample_match_the_matrix_products():
    from torch.utils.flop_counter import FlopCounterMode

    m = tiny()
    d = m.dims
    T = 4 * d.frame
    args = (torch.zeros(1, T), torch.zeros(1, T, d.exc_dim), torch.zeros(1, T // d.frame, d.cond_dim))
    with FlopCounterMode(display=False) as fc:
        m.decoder(*args)
    macs = fc.get_total_flops() / 2 / T
    assert macs == pytest.approx(d.decoder_macs_per_sample()["total"], rel=1e-6)


def test_encoder_pools_to_frames():
    m = tiny()
    z = m.encoder(torch.zeros(2, 64))
    assert z.shape == (2, 64 // m.dims.enc_pool, m.dims.z_dim)
    assert m.encoder.note_z(torch.zeros(2, 64)).shape == (2, m.dims.z_dim)


def test_checkpoint_round_trip_and_bad_files(tmp_path):
    m = tiny(**SIZES[1])
    p = tmp_path / "m.pt"
    save_checkpoint(p, m, step=3)
    m2, ck = load_checkpoint(p)
    assert m2.dims == m.dims and ck["step"] == 3
    for a, b in zip(m.parameters(), m2.parameters()):
        assert torch.equal(a, b)
    with pytest.raises(ModelFileError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelFileError, match="cannot read checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"kind": "something-else"}, tmp_path / "other.pt")
    with pytest.raises(ModelFileError, match="not a livegen WaveNet checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
