"""livegen.train.timbre_metrics and livegen.train.timbre.evaluate: the timbre model's measures.

The measures run on synthetic signals whose answer is known (a harmonic tone, white noise, a
cut sine) and the evaluation runs end to end on a small set of synthetic "instruments"
(harmonic tones that differ in spectrum and envelope), once with a renderer that plays the
real notes (every figure passes) and once with one that plays every preset alike (they fail).
"""

from __future__ import annotations

import math
import numpy as np
import pytest

from livegen.train import timbre_metrics as tm
from livegen.train.timbre import evaluate as ev

SR = 48000
TOY_SR = 16000  # the evaluation runs at any rate; a low one keeps the end-to-end tests quick


def tone(f0: float, seconds: float = 1.0, slope: float = 1.0, odd: bool = False, attack_s: float = 0.01,
         decay_s: float = math.inf, hold_s: float | None = None, release_s: float = 0.1, noise: float = 0.0,
         amp: float = 0.3, seed: int = 0, sr: int = SR) -> np.ndarray:
    """A band-limited harmonic tone: harmonic k at k^-slope (odd ones only if ``odd``), an attack,
    an exponential decay, a release after ``hold_s`` and white noise of RMS ``noise`` x amp."""
    t = np.arange(int(seconds * sr)) / sr
    x = np.zeros_like(t)
    for k in range(1, 25):
        if k * f0 >= 0.45 * sr or (odd and k % 2 == 0):
            continue
        x += k ** -slope * np.sin(2 * np.pi * k * f0 * t + 0.3 * k)
    x /= np.abs(x).max()
    env = np.minimum(t / attack_s, 1.0) * np.exp(-t / decay_s)
    if hold_s is not None:
        env *= np.where(t < hold_s, 1.0, np.exp(-(t - hold_s) / release_s))
    x = amp * env * (x + noise * np.random.default_rng(seed).standard_normal(len(t)))
    return x.astype(np.float32)


# ---------------------------------------------------------------------------- measures


def test_hnr_of_a_harmonic_tone_is_high_and_of_white_noise_about_minus_6_db():
    assert tm.hnr_db(tone(220.0), 220.0, SR, SR) > 40.0
    noise = np.random.default_rng(1).standard_normal(SR).astype(np.float32)
    assert tm.hnr_db(noise, 220.0, SR, SR) == pytest.approx(-6.0, abs=1.0)


def test_hnr_falls_as_noise_is_added():
    h = [tm.hnr_db(tone(330.0, noise=n), 330.0, SR, SR) for n in (0.01, 0.1, 1.0)]
    assert h[0] > h[1] + 10 > h[2] + 20


def test_hnr_sees_a_tone_at_the_wrong_pitch_as_noise():
    # a tone a tritone away from the f0 asked for has most of its power between the "harmonics"
    assert tm.hnr_db(tone(220.0 * 2 ** 0.5), 220.0, SR, SR) < 0.0


def test_steady_span_runs_from_the_attack_to_the_note_off_or_0_6_s():
    assert tm.steady_span(SR, 2 * SR, SR) == (int(0.1 * SR), int(0.6 * SR))
    assert tm.steady_span(int(0.4 * SR), 2 * SR, SR) == (int(0.1 * SR), int(0.4 * SR))
    a, b = tm.steady_span(int(0.05 * SR), 2 * SR, SR)
    assert b - a == int(0.1 * SR)


def test_harmonic_levels_find_missing_even_harmonics():
    p, f = tm.power_spectrum(tone(200.0, odd=True, slope=1.0)[int(0.1 * SR):], SR)
    lv = tm.harmonic_levels_db(p, f, 200.0)
    assert lv[0] == 0.0
    assert lv[2] == pytest.approx(20 * math.log10(1 / 3), abs=0.5)  # the 3rd at 1/3 of the 1st
    assert lv[1] < -60 and lv[3] < -60


def test_note_features_are_finite_fixed_length_and_see_the_envelope():
    fast = tm.note_features(tone(300.0, 1.2, attack_s=0.005, hold_s=0.8), 300.0, int(0.8 * SR), SR)
    slow = tm.note_features(tone(300.0, 1.2, attack_s=0.25, hold_s=0.8), 300.0, int(0.8 * SR), SR)
    assert fast.shape == slow.shape and np.all(np.isfinite(fast)) and np.all(np.isfinite(slow))
    assert slow[-1] > fast[-1] + 1.0  # log10 attack time: 0.25 s vs 5 ms
    # level does not matter (pitch-normalised, relative features)
    quiet = tm.note_features(0.1 * tone(300.0, 1.2, attack_s=0.005, hold_s=0.8), 300.0, int(0.8 * SR), SR)
    np.testing.assert_allclose(quiet, fast, atol=1e-2)


def test_classifier_separates_and_probabilities_sum_to_one():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 1, (50, 3)), rng.normal(3, 1, (50, 3)) * [1, -1, 1]])
    y = np.repeat([0, 1], 50)
    clf = tm.Classifier.fit(X, y, 2)
    assert (clf.predict(X) == y).mean() > 0.95
    np.testing.assert_allclose(clf.proba(X).sum(1), 1.0)


def test_discriminator_features_are_named_and_see_noise():
    x, f0 = tone(220.0, hold_s=0.7), 220.0
    f = tm.discriminator_features(x, f0, int(0.7 * SR), SR)
    assert f.shape == (len(tm.DISCRIMINATOR_NAMES),) and np.all(np.isfinite(f))
    g = tm.discriminator_features(tone(220.0, hold_s=0.7, noise=0.3), f0, int(0.7 * SR), SR)
    hnr, centroid = tm.DISCRIMINATOR_NAMES.index("HNR"), tm.DISCRIMINATOR_NAMES.index("centroid / f0")
    assert g[hnr] < f[hnr] - 10 and g[centroid] > f[centroid] + 1  # white noise is bright


def test_classifier_rejects_bad_labels():
    with pytest.raises(ValueError, match="labels must be in 0..1"):
        tm.Classifier.fit(np.zeros((3, 2)), np.asarray([0, 1, 2]), 2)


def test_largest_step_finds_a_click():
    x = tone(440.0, 0.5, slope=3.0)  # a mellow tone: its steps are about a sine's
    smooth = tm.largest_step(x)
    assert smooth < 2 * np.pi * 440 * 0.3 / SR * 2
    i = SR // 4 + int(np.argmax(np.abs(x[SR // 4:SR // 4 + 200])))
    cut = x.copy()
    cut[i:] = 0.0  # a hard note-off at a peak of the wave
    assert tm.largest_step(cut) == pytest.approx(abs(float(x[i - 1])), rel=1e-6)
    assert tm.largest_step(cut, i - 10, i + 10) > 5 * smooth
    assert tm.largest_step(cut, 0, i - 1) == pytest.approx(tm.largest_step(x, 0, i - 1))


def test_dc_offset_and_energy_above_8_khz():
    assert tm.dc_offset(tone(200.0) + np.float32(0.01)) == pytest.approx(0.01, abs=2e-4)
    assert abs(tm.dc_offset(tone(200.0))) < 1e-3
    noise = np.random.default_rng(2).standard_normal(SR)
    assert tm.high_band_db(noise, SR) == pytest.approx(10 * math.log10(16 / 24), abs=0.2)
    assert tm.high_band_db(tone(200.0, slope=3.0), SR) < -60.0


def test_right_closer_share_counts_ordered_pairs():
    dist = np.asarray([[1.0, 2.0, 3.0],  # right (0) closer than both wrong
                       [1.0, 2.0, 0.5],  # right (1) beats neither
                       [2.0, 0.5, 1.0]])  # right (2) beats 0, not 1
    assert tm.right_closer_share(dist, np.asarray([0, 1, 2])) == (3, 6)
    assert tm.right_closer_share(np.ones((2, 3)), np.asarray([0, 1])) == (0, 4)  # ties do not count


def test_rises_monotonically():
    assert tm.rises_monotonically([0.1, 0.2, 0.2, 0.9])
    assert tm.rises_monotonically([0.1, 0.3, 0.29, 0.9])  # within the tolerance
    assert not tm.rises_monotonically([0.1, 0.5, 0.3, 0.9])
    assert not tm.rises_monotonically([0.5, 0.5, 0.5])  # flat is not rising
    assert not tm.rises_monotonically([0.9])


# ---------------------------------------------------------------------------- the evaluation

# synthetic instruments: (harmonic slope, odd harmonics only, attack s, decay s, noise)
VOICES = {"piano": (1.2, False, 0.003, 0.4, 0.0), "epiano": (2.5, False, 0.003, 0.8, 0.0),
          "vibraphone": (3.0, False, 0.002, 1.5, 0.0), "organ": (0.5, False, 0.01, math.inf, 0.0),
          "guitar": (1.5, True, 0.002, 0.3, 0.0), "violin": (0.8, False, 0.12, math.inf, 0.02),
          "trumpet": (0.4, True, 0.04, math.inf, 0.0), "flute": (2.0, True, 0.08, math.inf, 0.05),
          "cello": (0.9, False, 0.15, math.inf, 0.01), "clarinet": (1.0, True, 0.05, math.inf, 0.0),
          "oboe": (0.6, False, 0.03, math.inf, 0.0), "tuba": (0.7, False, 0.06, math.inf, 0.01),
          "piccolo": (2.5, True, 0.04, math.inf, 0.03)}
TEST_PITCHES = (50, 62, 74)
TRAIN_PITCHES = (44, 48, 52, 56, 60, 64, 68, 72, 76)
HOLD_S, TOTAL_S = 0.6, 0.9


class ToyNoteSet:
    """What the evaluation reads of a NoteSet, built from synthetic tones."""

    def __init__(self, names, gain=1.0, pitches=TEST_PITCHES + TRAIN_PITCHES):
        self.names, self.sample_rate = list(names), TOY_SR
        self.clips, meta = [], []
        for k, n in enumerate(names):
            slope, odd, att, dec, noise = VOICES[n]
            for p in pitches:
                f0 = 440.0 * 2 ** ((p - 69) / 12)
                self.clips.append(gain * tone(f0, TOTAL_S, slope, odd, att, dec, HOLD_S, 0.08, noise, seed=p,
                                              sr=TOY_SR))
                meta.append((p, k, p in TEST_PITCHES))
        pitch, inst, held = zip(*meta)
        self.pitch, self.instrument, self.heldout = np.asarray(pitch, float), np.asarray(inst), np.asarray(held)
        self.velocity = np.full(len(self.clips), 85)
        self.hold = np.full(len(self.clips), int(HOLD_S * TOY_SR))

    def __len__(self):
        return len(self.clips)

    def clip(self, i):
        return self.clips[i]


def note_sets():
    return [ToyNoteSet(ev.PRESET_NAMES),
            ToyNoteSet(("piano",) + ev.UNSEEN_NAMES, gain=0.5, pitches=TEST_PITCHES + (44, 48, 56, 60, 64, 72))]


OPTIONS = ev.EvalOptions(test_pitches=TEST_PITCHES, unseen_pitches=TEST_PITCHES, morph_pitches=(62,),
                         discriminator_pitches=TRAIN_PITCHES,
                         steal_pitches=(60, 64))


@pytest.fixture(scope="module")
def notes():
    return ev.RealNotes(note_sets())


def test_real_notes_bring_a_later_set_to_the_first_ones_level(notes):
    assert notes.gains == [1.0, pytest.approx(2.0, rel=1e-4)]
    np.testing.assert_allclose(np.abs(notes.clip("cello", 62, 85)).max(), 0.3, rtol=0.05)
    # the later set's piano does not replace the first set's
    assert notes.clip("piano", 62, 85) is not None and notes.gains[0] == 1.0
    with pytest.raises(KeyError, match="no real note of cello at pitch 61"):
        notes.clip("cello", 61, 85)


@pytest.mark.slow
def test_evaluation_of_the_real_notes_passes(notes):
    melody = np.concatenate([notes.clip("cello", p, 85) for p in (44, 48, 56)])
    res = ev.evaluate(ev.RealRenderer(notes), notes, OPTIONS, progress=lambda s: None, melodies={"cello": melody})
    assert res["encode_unseen"]["cello"]["melody"]["ratio"] == 0.0 and "melody" not in res["encode_unseen"]["oboe"]
    assert res["recognition"]["real"]["share"] == 1.0
    assert res["recognition"]["rendered"]["share"] == 1.0
    assert res["pitch"]["rendered"]["windowed"]["share"] == 1.0
    assert res["hnr"]["median_gap_db"] == 0.0 and res["hnr"]["median_gap_own_f0_db"] == 0.0
    assert res["right_vs_wrong"]["share"] == 1.0
    assert all(u["held_notes"]["closer_than_every_shipped"] for u in res["encode_unseen"].values())
    assert set(res["encode_unseen"]) == set(ev.UNSEEN_NAMES)
    assert res["morph"]["n"] == len(OPTIONS.morph_pairs) and res["morph"]["share"] >= 0.75
    assert res["clicks"]["note_on"]["largest_ratio"] <= 1.0
    assert res["clicks"]["steal"]["largest_ratio"] <= 1.5
    # real against itself: the discriminator cannot do better than a coin (it calls all "real")
    assert res["discriminator"]["mean"] == 0.5 and set(res["discriminator"]["per_instrument"]) == set(ev.PRESET_NAMES)
    o = res["outside_pitch"]
    assert o["rendered"]["n_in_tune"] == o["real"]["n_in_tune"] >= len(o["real"]["per_instrument"]) * 2
    assert all(res["passed"].values()), res["passed"]
    md = ev.results_markdown(res)
    assert "| recognised by the classifier" in md and "FAIL" not in md


class SameForEveryPreset(ev.RealRenderer):
    """A broken model: every preset plays the organ, with a DC offset and a hard note-off."""

    name = "broken"

    def preset(self, name):
        return {"organ": 1.0}

    def note(self, code, pitch, velocity, hold_s, total_s):
        return super().note({"organ": 1.0}, pitch, velocity, hold_s, total_s) + np.float32(0.01)

    def encode(self, name, clips):
        return {"organ": 1.0}


@pytest.mark.slow
def test_evaluation_of_a_model_that_ignores_the_preset_fails(notes):
    res = ev.evaluate(SameForEveryPreset(notes), notes, OPTIONS, progress=lambda s: None)
    p = res["passed"]
    assert p["recognised_real"]  # the classifier is fine ...
    assert not p["recognised_rendered"] and res["recognition"]["rendered"]["correct"] == len(TEST_PITCHES)
    assert not p["right_closer"] and res["right_vs_wrong"]["pairs_right_closer"] == 0
    assert not p["dc"] and res["dc"]["largest_abs"] == pytest.approx(0.01, rel=1e-2)
    assert not p["morph"]
    assert not p["encode_unseen"]
    # the organ played for every other instrument is told from the real one every time
    d = res["discriminator"]["per_instrument"]
    assert not p["discriminator"] and all(d[n]["accuracy"] == 1.0 for n in ev.PRESET_NAMES if n != "organ")
    assert "FAIL" in ev.results_markdown(res)


def save_note_set(toy: ToyNoteSet, path):
    from livegen.train.timbre.data import NoteSet

    lengths = np.asarray([len(c) for c in toy.clips], np.int64)
    NoteSet(audio=np.concatenate(toy.clips), start=np.concatenate([[0], np.cumsum(lengths)[:-1]]),
            length=lengths, hold=toy.hold.astype(np.int64), pitch=toy.pitch,
            f0=440.0 * 2 ** ((toy.pitch - 69) / 12), velocity=toy.velocity.astype(np.int64),
            instrument=toy.instrument.astype(np.int64), heldout=toy.heldout, names=toy.names,
            sample_rate=TOY_SR).save(path)


@pytest.mark.slow
def test_cli_evaluates_the_real_notes_and_writes_its_tables(tmp_path, capsys):
    from livegen import cli

    o = ev.EvalOptions()
    test = o.test_pitches
    a = ToyNoteSet(ev.PRESET_NAMES, pitches=test + tuple(range(40, 84, 4)))
    a.heldout = np.isin(a.pitch, test)
    b = ToyNoteSet(("piano",) + ev.UNSEEN_NAMES, gain=0.5, pitches=test + o.encode_pitches)
    b.heldout = np.isin(b.pitch, test)
    save_note_set(a, tmp_path / "a.npz")
    save_note_set(b, tmp_path / "b.npz")
    out = tmp_path / "eval"
    assert cli.main(["eval", "timbre", "--reference", "--data", str(tmp_path / "a.npz"),
                     "--unseen", str(tmp_path / "b.npz"), "--out", str(out)]) == 0
    import json

    res = json.loads((out / "results.json").read_text())
    assert res["renderer"] == "real" and all(res["passed"].values())
    assert res["recognition"]["rendered"]["n"] == 8 * len(test)
    assert "| largest DC offset |" in (out / "results.md").read_text()
    assert (out / "spectrograms.png").stat().st_size > 1000
    assert "the real notes (reference level)" in capsys.readouterr().out


def test_cli_names_a_note_set_it_cannot_read(tmp_path, capsys):
    from livegen import cli

    bad = tmp_path / "notes.npz"
    bad.write_bytes(b"not a note set")
    assert cli.main(["eval", "timbre", "--reference", "--data", str(bad), "--unseen", str(bad)]) == 2
    assert f"cannot read note set {bad}" in capsys.readouterr().err


def test_model_renderer_plays_the_shipped_model():
    from pathlib import Path

    folder = Path(ev.__file__).resolve().parents[2] / "models" / "timbre"
    if not (folder / "decoder_step.onnx").exists():
        pytest.skip(f"no shipped timbre model in {folder}")
    from livegen.engine.timbre import TimbreEngine

    r = ev.ModelRenderer(TimbreEngine.load(folder))
    z = r.preset("flute")
    x = r.note(z, 62, 85, 0.3, 0.5)
    assert x.shape == (int(0.5 * r.sample_rate),) and np.abs(x).max() > 1e-3
    assert np.array_equal(x, r.note(z, 62, 85, 0.3, 0.5))  # a fresh synth per note: same seed, same note
    y = r.steal(z, 62, 66, 85, 0.2, 0.2, 0.5)
    assert y.shape == (int(0.5 * r.sample_rate),)
    m = r.mix(z, r.preset("piano"), 0.0)
    assert m[0] == pytest.approx(z[0]) and m[1] == z[1]  # the code and the calibration
