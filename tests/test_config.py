"""config.toml loading: defaults, overrides, and one clear error per kind of mistake."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from livegen import cli, config
from livegen.config import Config, ConfigError

ROOT = Path(__file__).resolve().parent.parent
REPO_CONFIG = ROOT / "config.toml"  # the documented reference


def write(tmp_path, text: str):
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_repository_config_documents_the_defaults():
    cfg, defaults = config.load(REPO_CONFIG), Config()
    for section in config.SECTIONS:
        if section != "models":
            assert getattr(cfg, section) == getattr(defaults, section), section
    # its model paths are relative to itself and name the shipped models, as the defaults do
    assert cfg.models.provider == defaults.models.provider
    for key in ("lstm", "timbre"):
        mine, default = cfg.path(getattr(cfg.models, key)), defaults.path(getattr(defaults.models, key))
        assert mine == default == config.PACKAGE_DIR / getattr(defaults.models, key), key
        assert mine.exists(), mine
    text = REPO_CONFIG.read_text()
    for section, key, *_ in config.describe():  # every key is written (and so documented) there
        assert f"\n{key} = " in text, f"{section}.{key} missing from config.toml"


def test_missing_section_and_missing_implicit_file_fall_back_to_defaults(tmp_path, monkeypatch):
    cfg = config.load(write(tmp_path, "[jam]\ntempo_bpm = 90\n"))
    assert cfg.jam.tempo_bpm == 90.0 and cfg.jam.beats_per_bar == 4
    assert cfg.midi == config.MidiConfig() and cfg.synth == config.SynthConfig()
    assert cfg.models == config.ModelsConfig()  # not in the file: the shipped models
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "no-such-folder"))
    assert config.load() == Config()


def test_the_config_file_is_found_in_the_folder_then_in_xdg_config_home(tmp_path, monkeypatch):
    xdg, here = tmp_path / "xdg", tmp_path / "here"
    (xdg / "livegen").mkdir(parents=True)
    here.mkdir()
    (xdg / "livegen" / "config.toml").write_text('[jam]\ntempo_bpm = 90\n[models]\nlstm = "my.onnx"\n')
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg))
    monkeypatch.chdir(here)
    cfg = config.load()
    assert cfg.jam.tempo_bpm == 90.0 and cfg.source == str(xdg / "livegen" / "config.toml")
    assert cfg.path(cfg.models.lstm) == xdg / "livegen" / "my.onnx"  # relative to that file
    (here / "config.toml").write_text("[jam]\ntempo_bpm = 100\n")
    assert config.load().jam.tempo_bpm == 100.0  # ./config.toml comes first
    assert config.load(xdg / "livegen" / "config.toml").jam.tempo_bpm == 90.0  # --config before both


def test_a_relative_path_in_set_is_from_the_working_folder(tmp_path, monkeypatch):
    (tmp_path / "cfg").mkdir()
    monkeypatch.chdir(tmp_path)
    cfg = config.load(write(tmp_path / "cfg", "[jam]\n"), ["models.timbre=mine/w"])
    assert cfg.path(cfg.models.timbre) == tmp_path / "mine" / "w"  # not cfg/mine/w


def test_the_old_name_models_wavenet_still_works_and_says_its_new_name(tmp_path, caplog):
    # the repository's config.toml sets models.timbre: --set models.wavenet overrides it
    cfg = config.load(REPO_CONFIG, [f"models.wavenet={tmp_path / 'w'}"])
    assert cfg.path(cfg.models.timbre) == tmp_path / "w"
    assert "models.wavenet is now called models.timbre" in caplog.text
    (tmp_path / "cfg").mkdir()
    cfg = config.load(write(tmp_path / "cfg", '[models]\nwavenet = "mine"\n'))
    assert cfg.path(cfg.models.timbre) == tmp_path / "cfg" / "mine"
    cfg = config.load(tmp_path / "cfg" / "config.toml", ["models.timbre=/x", "models.wavenet=/y"])
    assert cfg.models.timbre == "/y"  # the last --set wins, whatever the file's spelling
    with pytest.raises(ConfigError, match="models.wavenet and models.timbre are one key"):
        config.from_dict({"models": {"wavenet": "a", "timbre": "b"}})


def test_colliding_controllers_are_refused_by_the_loader_naming_both_keys(tmp_path, capsys):
    with pytest.raises(ConfigError, match="jam.cc_temperature and jam.cc_loop are both controller 20"):
        config.from_dict({"jam": {"cc_loop": 20}})
    config.from_dict({"jam": {"cc_loop": -1, "cc_mute": -1}})  # -1 (off) may repeat
    with pytest.raises(ConfigError, match="jam.state_cc = 123: that controller ends notes"):
        config.from_dict({"jam": {"state_cc": 123, "thru": "both"}})
    config.from_dict({"jam": {"state_cc": 123, "thru": "synth"}})  # never reaches the MIDI out
    # `livegen config` refuses what `livegen run` would
    assert cli.main(["--set", "jam.cc_mute=20", "config"]) == 2
    assert "jam.cc_temperature and jam.cc_mute are both controller 20" in capsys.readouterr().err


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Config().jam.tempo_bpm = 10


def test_int_is_accepted_for_a_float_key():
    assert config.from_dict({"jam": {"tempo_bpm": 100}}).jam.tempo_bpm == 100.0


@pytest.mark.parametrize("text, expected", [
    ("[jam]\ntempo = 90\n", "unknown key 'jam.tempo' (did you mean 'jam.tempo_bpm'?)"),
    ("[jazz]\ntempo_bpm = 90\n", "unknown section 'jazz'"),
    ("[jam]\ntempo_bpm = \"fast\"\n", "jam.tempo_bpm = 'fast': must be a number"),
    ("[synth]\nvoices = 4.5\n", "synth.voices = 4.5: must be an integer"),
    ("[synth]\nvoices = true\n", "synth.voices = True: must be an integer"),
    ("[audio]\nenabled = 1\n", "audio.enabled = 1: must be true or false"),
    ("[synth]\nvoices = 0\n", "synth.voices = 0: must be in range 1..64"),
    ("[jam]\ntempo_bpm = 1000.0\n", "jam.tempo_bpm = 1000.0: must be in range 20.0..400.0"),
    ("[midi]\nbackend = \"oss\"\n", "midi.backend = 'oss': must be one of 'auto', 'jack'"),
    ("[midi]\nin_port = \"livegen\"\n", "midi.in_port = 'livegen': must be client:port"),
    ("jam = 3\n", "[jam] must be a table"),
    ("[jam\n", "not valid TOML"),
])
def test_each_mistake_names_the_key_value_and_what_is_allowed(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert expected in str(info.value)
    assert str(path) in str(info.value)


def test_all_mistakes_are_reported_together(tmp_path):
    with pytest.raises(ConfigError, match="2 problems") as info:
        config.load(write(tmp_path, "[synth]\nvoices = 0\ntemperature = -1.0\n"))
    assert "synth.voices" in str(info.value) and "synth.temperature" in str(info.value)


def test_a_removed_key_loads_with_one_notice_naming_it_and_why(tmp_path, caplog):
    # synth.block: the resampling path it sized is gone; an old config.toml keeps working
    path = write(tmp_path, "[synth]\nblock = 256\nvoices = 8\n")
    with caplog.at_level("WARNING", logger="livegen"):
        cfg = config.load(path, ["synth.block=512"])
    assert cfg.synth.voices == 8 and not hasattr(cfg.synth, "block")
    notes = [r.getMessage() for r in caplog.records]
    assert len(notes) == 1 and "\n" not in notes[0]  # the override replaced the file's value: one key
    assert "synth.block is no longer used" in notes[0] and "resampled" in notes[0] and str(path) in notes[0]


def test_explicit_missing_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        config.load(tmp_path / "nope.toml")


def test_set_overrides_parse_toml_values_else_strings(tmp_path):
    cfg = config.load(write(tmp_path, "[jam]\ntempo_bpm = 90\n"),
                      ["jam.tempo_bpm=100", "midi.backend=jack", "audio.enabled=false",
                       'audio.device="system"'])
    assert cfg.jam.tempo_bpm == 100.0 and cfg.midi.backend == "jack"
    assert cfg.audio.enabled is False and cfg.audio.device == "system"


@pytest.mark.parametrize("override, expected", [
    ("jam.tempo_bpm", "must be section.key=value"),
    ("tempo_bpm=3", "must be section.key=value"),
    ("jam.tempo_bpm=3", "jam.tempo_bpm = 3.0: must be in range"),
    ("jam.nope=3", "unknown key 'jam.nope'"),
])
def test_bad_overrides(override, expected):
    with pytest.raises(ConfigError, match=expected.replace(".", r"\.")):
        config.load(None, [override])


def test_relative_model_paths_resolve_against_the_config_file(tmp_path):
    cfg = config.load(write(tmp_path, '[models]\nlstm = "m/l.onnx"\n'))
    assert cfg.path(cfg.models.lstm) == tmp_path / "m" / "l.onnx"


def test_cli_prints_one_line_and_no_traceback(tmp_path, capsys):
    path = write(tmp_path, "[synth]\nvoices = 100\n")
    assert cli.main(["--config", str(path), "config"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("livegen: error: ") and "synth.voices = 100" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cli_in_a_real_process_reports_bad_set_cleanly():
    proc = subprocess.run([sys.executable, "-m", "livegen", "--set", "models.provider=gpu", "config"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "models.provider = 'gpu': must be one of 'auto', 'cpu', 'cuda'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_config_command_shows_what_is_in_force(capsys):
    assert cli.main(["--set", "jam.tempo_bpm=96", "config"]) == 0
    out = capsys.readouterr().out
    assert "[jam]\ntempo_bpm = 96.0" in out
    assert cli.main(["config", "--reference"]) == 0
    assert "synth.voices = 16  [1..64]" in capsys.readouterr().out
    assert cli.main(["config", "--markdown"]) == 0  # docs/config.md (tests/test_docs.py)
    assert capsys.readouterr().out == config.reference_markdown()
