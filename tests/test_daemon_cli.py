"""The daemon's commands without devices: missing models, the status screen, bad CC numbers."""

from __future__ import annotations

from livegen import cli, config
from livegen.core import tokens as tk
from livegen.daemon.daemon import Status
from livegen.daemon.generator import Response
from livegen.core.notes import pitch_name
from livegen.daemon.status import bar_beat, describe_response, status_line, status_lines


def test_run_and_demo_without_a_model_say_how_to_make_one(tmp_path, capsys):
    for command in (["run", "--log"], ["demo", "--out", str(tmp_path)], ["bench", "jam"]):
        assert cli.main(["--set", f"models.lstm={tmp_path / 'none.onnx'}", *command]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "does not exist: train and export it" in err, err


def test_run_refuses_colliding_controllers_before_opening_anything(capsys):
    assert cli.main(["--set", "jam.cc_mute=85", "run", "--log"]) == 2  # the loader's check
    assert "jam.state_cc and jam.cc_mute are both controller 85" in capsys.readouterr().err


def test_status_screen_and_log_lines():
    r = Response("response", 8.0, 2, (tk.Note(0.5, 1.0, 60, 80), tk.Note(1.0, 2.0, 64, 80)), 0, 12.5, 40, 1, 0, 0, 3.0,
                 "texture 1.00, centre 62.0, spread 2.0, density 1.00/beat")
    st = Status("responding", 120.0, "midi", 9.5, 3, 1, 2, r, 0.042,
                {"thru": 5, "echoes": 2, "input_dropped": 7, "late_dropped": 0, "moved": 1,
                 "held_closed": 0, "send_errors": 0, "thru_dropped": 0, "schedule_dropped": 0,
                 "requests_dropped": 3},
                {"voices": 4, "load": 0.31, "underruns": 0, "inbox_dropped": 9, "notes_dropped": 2,
                 "audio_backend": "JACK native port livegen-synth:out_0 (C process callback)"})
    lines = status_lines(st, ports="in a  out b", audio="x", beats_per_bar=4)
    assert "RESPONDING" in lines[0] and "120.0 bpm (midi)" in lines[0] and "bar 3 beat 2.50" in lines[0]
    assert "4 voices, load 0.31, underruns 0" in lines[2]
    assert "JACK native port livegen-synth:out_0 (C process callback)" in lines[2]  # which audio port plays
    line = status_line(st, "JACK native (C process callback)")
    assert line.endswith("(MIDI: JACK native (C process callback); audio: JACK native port "
                         "livegen-synth:out_0 (C process callback))"), line
    assert "ready in 3.0 ms, generated in 12.5 ms, first note +0.042 ms vs schedule" in lines[4]
    assert "echoes 2" in lines[5]
    assert "input 7  thru 0  schedule 0  generator 3  synth 9  synth notes 2" in lines[6]
    assert "responding" in status_line(st)
    assert "dropped: input 7, thru 0, schedule 0, generator 3, synth 9, synth notes 2" in status_line(st)
    text = describe_response(r, 4)
    assert "bar 3 beat 1.00 (beat 8), first note at beat 8.5000" in text and "moved 1 bar(s) late" in text
    assert "; as texture 1.00, centre 62.0, spread 2.0, density 1.00/beat: C4 E4" in text
    assert pitch_name(60) == "C4" and pitch_name(69) == "A4" and bar_beat(3.9999, 4) == "bar 2 beat 1.00"


def test_run_and_demo_with_a_bad_timbre_model_stop_before_any_port_opens(tmp_path, capsys):
    """A corrupt synth model is an error at start-up, naming the file (not MIDI only)."""
    import shutil
    bad = tmp_path / "timbre"
    shutil.copytree(config.PACKAGE_DIR / "models" / "timbre", bad,
                    ignore=shutil.ignore_patterns("*.pt", "*.png", "eval", "resume"))
    (bad / "decoder_step.onnx").write_bytes(b"\x08\x01garbage")
    lstm = config.PACKAGE_DIR / "models" / "lstm" / "lstm.onnx"
    for command in (["run", "--log"], ["demo", "--out", str(tmp_path)]):
        assert cli.main(["--set", f"models.lstm={lstm}", "--set", f"models.timbre={bad}",
                         "--set", "midi.backend=jack", *command]) == 2
        err = capsys.readouterr().err
        assert "decoder_step.onnx" in err and "Traceback" not in err, err


def test_without_a_timbre_model_folder_livegen_runs_midi_only_and_says_so(tmp_path):
    from livegen.daemon.harness import load_models
    cfg = config.load(None, [f"models.timbre={tmp_path / 'no-model'}"])
    models = load_models(cfg)
    assert models.lstm is not None and models.synth is None
    assert models.why_no_synth == f"no timbre model folder {str(tmp_path / 'no-model')!r} (models.timbre)"
    off = load_models(config.load(None, ["audio.enabled=false"]))
    assert off.synth is None and off.why_no_synth == "audio.enabled = false"
