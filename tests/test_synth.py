"""The synth on a tiny exported model: voices, fades, timbre control, engines agree."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from livegen.core import dsp  # noqa: E402
from livegen.engine.wavenet_files import WaveNetFiles  # noqa: E402
from livegen.errors import ConfigError  # noqa: E402
from livegen.synth.synth import Synth, frame_features  # noqa: E402
from tests.test_export_wavenet import SIZES, make  # noqa: E402

pytestmark = pytest.mark.train


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from export import wavenet
    out = tmp_path_factory.mktemp("synth")
    wavenet.export(make(SIZES["tiny"], seed=3), out)
    (out / "presets.json").write_text(json.dumps({"soft": [0.0] * 4, "bright": [1.5] * 4,
                                                  "dark": [-1.5] * 4}))
    return WaveNetFiles.load(out, provider="cpu")


def on(p, v=100, ch=0):
    return bytes([0x90 | ch, p, v])


def off(p, ch=0):
    return bytes([0x80 | ch, p, 0])


def test_vectorised_features_equal_dsp():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((2, 5))
    t_on = np.array([[0.0, 0.1, 0.4], [1.0, 1.2, 2.0]])
    t_off = np.array([[-1, -1, -1], [-1, 0.0, 0.3]])
    got = frame_features(z, np.array([220.0, 330.0]), np.array([64.0, 120.0]), t_on, t_off)
    for j in range(2):
        for f in range(3):
            want = dsp.frame_features(z[j], [220.0, 330.0][j], [64, 120][j], t_on[j, f],
                                      None if t_off[j, f] < 0 else t_off[j, f])
            np.testing.assert_allclose(got[j, f], want, rtol=1e-6)


def test_voices_start_release_and_end(files):
    s = Synth(files, voices=4, release_max_s=0.2, seed=1)
    assert not s.render(64).any()  # silence costs nothing and is silent
    s.handle(on(60))
    s.handle(on(64))
    block = s.render(128)
    assert s.active_voices == 2 and np.abs(block).max() > 0
    s.handle(off(60))
    s.handle(off(64))
    for _ in range(40):  # 0.2 s of release at most
        s.render(128)
    assert s.active_voices == 0


def test_stealing_fades_the_old_note_then_starts_the_new(files):
    s = Synth(files, voices=1, seed=2)
    s.handle(on(60))
    s.render(128)
    s.handle(on(67))
    assert s.alloc.stolen == 1 and s.fading[0] and s.f0[0] == pytest.approx(dsp.midi_to_hz(60))
    s.render(128)  # the fade block
    assert not s.fading[0] and s.f0[0] == pytest.approx(dsp.midi_to_hz(67))
    assert s.t_on[0] == 0 and s.state.pos[0] == 0


def test_same_seed_same_audio_and_engines_agree(files):
    def run(engine, seed):
        s = Synth(files, voices=3, engine=engine, seed=seed, temperature=0.0)
        s.handle(on(60))
        s.handle(on(72))
        a = s.render(128)
        s.handle(off(60))
        return np.concatenate([a, s.render(128)])
    a, b = run("c", 5), run("c", 5)
    assert np.array_equal(a, b)
    ort = run("onnx", 5)  # argmax decoding: both engines must pick the same samples
    assert np.mean(np.isclose(a, ort, atol=1e-6)) > 0.99


def test_program_change_and_morph_move_z(files):
    s = Synth(files, voices=2, morph_cc=1, morph_preset="bright")
    assert np.allclose(s.channel_z[0], 0.0)
    s.handle(bytes([0xC0, 2]))  # third preset: dark
    assert np.allclose(s.channel_z[0], -1.5)
    s.handle(bytes([0xB0, 1, 127]))
    assert np.allclose(s.channel_z[0], 1.5)
    s.handle(bytes([0xB0, 1, 0]))
    assert np.allclose(s.channel_z[0], -1.5)
    assert np.allclose(s.channel_z[1], 0.0)  # other channels keep theirs
    # a sounding voice glides to a new timbre over a few frames instead of jumping
    s.handle(on(60))
    s.render(64)
    assert np.allclose(s.z[0], -1.5)
    s.handle(bytes([0xB0, 1, 127]))
    s.render(64)
    assert -1.5 < s.z[0][0] < 0.0
    for _ in range(40):
        s.render(64)
    assert np.allclose(s.z[0], 1.5, atol=1e-3)


def test_all_notes_off_releases_and_unknown_presets_are_refused(files):
    s = Synth(files, voices=2, channel_presets="dark,bright")
    assert np.allclose(s.channel_z[1], 1.5)
    s.handle(on(60))
    s.render(64)
    s.handle(bytes([0xB0, 123, 0]))
    assert s.t_off[0] == 0
    with pytest.raises(ConfigError, match="synth.preset = 'nope': no such preset; the model has: soft"):
        Synth(files, preset="nope")


def test_synth_plays_exactly_what_torch_generation_plays(files, tmp_path):
    """The live path (excitation, features, conditioning graph, kernel) = the torch cached-queue
    generation of livegen.train.wavenet.generate, sample for sample at temperature 0."""
    from livegen.train.wavenet.generate import generate, note_inputs
    model = make(SIZES["tiny"], seed=3)  # the model the `files` fixture exported
    z = files.presets["bright"]
    n, hold = 512, 320
    e, c = note_inputs(z, dsp.midi_to_hz(57), 90, n, hold, model.dims.n_harmonics)
    want = dsp.mu_law_decode(generate(model.decoder, e[None], c[None], temperature=0.0)[0])
    s = Synth(files, voices=1, temperature=0.0, preset="bright")
    s.handle(on(57, 90))
    got = [s.render(64) for _ in range(hold // 64)]
    s.handle(off(57))
    got += [s.render(64) for _ in range((n - hold) // 64)]
    np.testing.assert_allclose(np.concatenate(got), want, atol=1e-6)


def test_lowering_the_limit_fades_the_oldest_voices(files):
    s = Synth(files, voices=4, seed=1)
    for p in (60, 62, 64, 65):
        s.handle(on(p))
        s.render(64)
    s.handle(off(62))
    s.set_limit(2)
    assert sorted(np.flatnonzero(s.fading)) == [0, 1]  # the released one, then the oldest held
    s.render(64)
    assert s.active_voices == 2 and s.alloc.limit == 2
    s.handle(on(67))  # at the limit: a new note takes the place of the oldest
    assert s.alloc.stolen == 1
