"""The CLI end to end: help, devices with and without a JACK server."""

from __future__ import annotations

import subprocess
import sys

import pytest

from livegen import cli


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "devices" in out and "config" in out


def test_an_old_command_name_still_runs_and_says_its_new_name(capsys, caplog, tmp_path):
    # `eval wavenet` is `eval timbre`: the same options and checks, one line naming the new name
    assert cli.main(["eval", "wavenet", "--reference", "--data", str(tmp_path / "none.npz")]) == 2
    assert "'livegen eval wavenet' is now 'livegen eval timbre'" in caplog.text
    assert "none.npz" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["eval", "--help"])
    assert "wavenet" not in capsys.readouterr().out  # the old name is not listed


def test_devices_without_jack_says_what_is_missing(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "JACK_DEFAULT_SERVER": "livegen-nonexistent",
           "JACK_NO_START_SERVER": "1", "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "livegen", "devices"], capture_output=True,
                          text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "compiled in: jack" in proc.stdout
    assert "no JACK server is running (server name 'livegen-nonexistent')" in proc.stdout
    assert "Missing:" in proc.stdout
    assert "ONNX Runtime runs on" in proc.stderr
    # libjack's and CUDA's own complaints are kept off the terminal
    assert "Cannot connect to server" not in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.jack
def test_devices_with_jack_lists_ports_and_the_jack_audio_device(jack_server):
    proc = subprocess.run([sys.executable, "-m", "livegen", "devices"], capture_output=True,
                          text=True, env=jack_server.env(), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "jack: works" in proc.stdout
    assert "midi.backend = 'auto' -> jack" in proc.stdout
    assert "on JACK: JACK native ports (C process callback)" in proc.stdout
    assert "JACK Audio Connection Kit: system" in proc.stdout  # what PortAudio sees, listed
    assert "audio.backend = 'auto' -> JACK native port livegen-synth:out_0 (C process callback)" in proc.stdout
    assert "Cannot connect to server" not in proc.stdout + proc.stderr
