"""A preset's calibration (livegen.train.timbre.calibrate, calibration.json): the fit finds the
gains that made a set of notes, and a bad file is one clear error."""

from __future__ import annotations

import json

import numpy as np
import pytest

from livegen.core import hnsynth
from livegen.engine.timbre import CALIBRATION_FILE, TimbreEngine, load_calibration
from livegen.errors import ModelFileError
from livegen.synth.offline import render_note
from livegen.synth.synth import Synth
from livegen.train.timbre import calibrate as cal
from tests import timbre_fixture


@pytest.fixture(scope="module")
def files():
    return TimbreEngine.load(timbre_fixture.FOLDER, provider="cpu")


SR = 48000
DIMS = hnsynth.SynthDims()


def tone(z, calibration, pitch, velocity, hold_s, total_s):
    """A stand-in synth for the fit's logic: 20 harmonics falling 3 dB each, plus white noise at
    -40 dB, shaped by the calibration's gains as the synth shapes them."""
    n = int(total_s * SR)
    t = np.arange(n) / SR
    f0 = hnsynth.midi_to_hz(pitch)
    hg, ng = calibration.gains(f0, 40, DIMS)
    x = sum(hg[k - 1] * 10 ** (-3 * k / 20) * np.sin(2 * np.pi * k * f0 * t) for k in range(1, 41) if k * f0 < SR / 2)
    spec = np.fft.rfft(np.random.default_rng(pitch).standard_normal(n)) * 0.01
    freqs = np.fft.rfftfreq(n, 1 / SR)
    spec *= np.interp(freqs, hnsynth.band_centers(DIMS), ng)
    x = x + np.fft.irfft(spec, n)
    x[int(hold_s * SR):] *= np.exp(-np.arange(n - int(hold_s * SR)) / (0.1 * SR))
    return x.astype(np.float32)


class Notes:
    """'Real' notes: the stand-in's notes with a known calibration."""

    sample_rate = SR

    def __init__(self, truth):
        self.audio = {p: tone(None, truth, p, cal.VELOCITY, 0.7, 1.0) for p in cal.PITCHES}

    def has(self, name, pitch, velocity):
        return name == "x" and pitch in self.audio and velocity == cal.VELOCITY

    def clip(self, name, pitch, velocity):
        return self.audio[pitch]

    def hold(self, name, pitch, velocity):
        return int(0.7 * SR)


def test_the_fit_finds_the_noise_and_shelf_the_notes_were_made_with():
    truth = cal.calibration(noise_db=-8.0, shelf_db=12.0)
    got, report = cal.calibrate(Notes(truth), "x", None, tone, rounds=6)
    assert abs(report["before"]["hnr_gap_db"]) > 3 and abs(report["before"]["high_gap_db"]) > 3  # a gap ...
    assert abs(report["after"]["hnr_gap_db"]) < 1 and abs(report["after"]["high_gap_db"]) < 1  # ... closed
    assert report["noise_db"] == pytest.approx(-8.0, abs=1.5) and report["shelf_db"] == pytest.approx(12.0, abs=2.0)
    assert got.noise_db[0] == pytest.approx(report["noise_db"], abs=0.01)


@pytest.mark.parametrize("text, says", [
    ("[1, 2]", "must be a JSON object"),
    ('{"a": {"harmonic_db": [0, 0]}}', "'a' needs harmonic_db and noise_db"),
    ('{"a": {"harmonic_db": [0, 0], "noise_db": [0, 0]}}', "10 finite numbers within +-30 dB"),
    ("{not json", "not a readable calibration file"),
])
def test_a_bad_calibration_file_is_one_line_naming_it(tmp_path, text, says):
    path = tmp_path / CALIBRATION_FILE
    path.write_text(text)
    with pytest.raises(ModelFileError) as err:
        load_calibration(path)
    assert says in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)


def test_a_model_folder_loads_its_calibration(tmp_path):
    out = timbre_fixture.copy_to(tmp_path / "m", {"a": [0.5] * 4})
    n = len(hnsynth.EQ_BANDS_HZ)
    (out / CALIBRATION_FILE).write_text(json.dumps({"a": {"harmonic_db": [1.0] * n, "noise_db": [-2.0] * n}}))
    files = TimbreEngine.load(out, provider="cpu")
    assert files.calibration["a"] == hnsynth.Calibration((1.0,) * n, (-2.0,) * n)
    assert Synth(files, preset="a").channel_eq[0] == files.calibration["a"]
