"""Bad input through the real CLI: one line naming the thing and what is allowed, exit status 2,
no traceback, and nothing written. Output paths are checked before the work starts: each case
below names a model that does not exist, so an output error seen proves the check came first.

The cases are the defects an outside campaign found (issue 21): a traceback for a missing
folder, a read-only folder or a folder as the output path, after the whole render; a numpy
traceback for ``--seed -1``; ``render`` writing silence for a MIDI file with no notes while
``continue`` refused it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from livegen.core.tokens import Note
from livegen.io.midifile import write_notes


def livegen(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "livegen", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


def one_error(proc, *words: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    for word in words:
        assert word in lines[0], lines
    return lines[0]


@pytest.fixture
def clip(tmp_path) -> Path:
    path = tmp_path / "good.mid"
    write_notes(path, [Note(i * 0.5, i * 0.5 + 0.4, 60 + i, 90) for i in range(8)])
    return path


def read_only_folder(tmp_path: Path) -> Path:
    """A folder no file can be made in: chmod 555 for a user; root writes anywhere it may chmod,
    so for root /sys, where the kernel refuses new files to everyone."""
    if os.geteuid() != 0:
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o555)
        return folder
    if not Path("/sys").is_dir():
        pytest.skip("running as root with no /sys: no folder here refuses root a file")
    return Path("/sys")


NO_MODEL = ("--set", "models.timbre=/nonexistent/model", "--set", "models.lstm=/nonexistent/lstm.onnx")


@pytest.mark.parametrize("command", ["render", "continue", "sample"])
def test_an_output_path_that_cannot_be_written_is_refused_before_the_work(tmp_path, clip, command):
    out = "x.wav" if command == "render" else "x.mid"
    words, options = {"render": (["render"], []), "continue": (["continue"], []),
                      "sample": (["sample", "lstm"], ["--checkpoint", "/nonexistent/model.pt"])}[command]
    if command == "sample":
        pytest.importorskip("torch", reason="sample lstm is a training command (the [train] extra)")
    ro = read_only_folder(tmp_path)
    (tmp_path / "folder").mkdir()
    cases = [
        (tmp_path / "nodir" / out, ["the folder", "nodir", "does not exist"]),
        (ro / out, [str(ro), "cannot write into the folder"]),
        (tmp_path / "folder", ["folder: is a folder; give the path of a file"]),
        (clip / out, ["good.mid is a file, not a folder"]),
    ]
    for path, message in cases:
        proc = livegen(*NO_MODEL, *words, str(clip), str(path), *options, cwd=tmp_path)
        one_error(proc, f"livegen: error: {path}: ", *message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "good.mid"] + (["ro"] if ro.parent == tmp_path
                                                                                   else [])
    if ro.parent != tmp_path:
        assert not (ro / out).exists()


def test_continue_checks_every_variation_path(tmp_path, clip):
    proc = livegen(*NO_MODEL, "continue", str(clip), str(tmp_path / "nodir" / "c.mid"), "--variations", "3",
                   cwd=tmp_path)
    one_error(proc, "nodir/c-1.mid", "does not exist")


def test_demo_refuses_an_output_folder_it_cannot_use(tmp_path, clip):
    one_error(livegen("demo", "--out", str(clip), cwd=tmp_path), f"{clip}: is a file; give a folder")
    ro = read_only_folder(tmp_path)
    one_error(livegen("demo", "--out", str(ro / "new"), cwd=tmp_path), f"{ro / 'new'}: cannot make that folder")


@pytest.mark.parametrize("argv", [
    ("render", "good.mid", "s.wav"), ("continue", "good.mid", "c.mid"), ("bench", "soak", "--seconds", "1")])
@pytest.mark.parametrize("seed", ["-1", "9223372036854775808", "1.5", "x"])
def test_a_seed_out_of_range_is_one_clear_line(tmp_path, clip, argv, seed):
    proc = livegen(*NO_MODEL, *argv, "--seed", seed, cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert f"argument --seed: '{seed}': a seed is a whole number in range 0..9223372036854775807" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.mid"]


def test_render_and_continue_agree_on_a_file_with_no_notes(tmp_path):
    empty = tmp_path / "empty.mid"
    write_notes(empty, [])
    drums = tmp_path / "drums.mid"
    write_notes(drums, [Note(0.0, 0.5, 36, 100)], channel=9)
    for path in (empty, drums):
        one_error(livegen("render", str(path), "e.wav", cwd=tmp_path), f"livegen: error: {path}: ",
                  "holds no notes to render (drums on channel 10 are left out)")
        one_error(livegen("continue", str(path), "e.mid", cwd=tmp_path), f"livegen: error: {path}: ",
                  "holds no notes to continue (drums on channel 10 are left out)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["drums.mid", "empty.mid"]


def test_training_commands_check_their_output_paths_before_the_work(tmp_path, clip):
    pytest.importorskip("torch", reason="the training commands are the [train] extra's")
    ro = read_only_folder(tmp_path)
    cases = [
        (["train", "lstm", "--out", str(clip)], f"{clip}: is a file; give a folder"),
        (["train", "lstm", "--out", str(ro / "run")], f"{ro / 'run'}: cannot make that folder"),
        (["eval", "timbre", "--out", str(clip)], f"{clip}: is a file; give a folder"),
        (["dataset", "notes", "--out", str(tmp_path / "nodir" / "n.npz")], "the folder"),
        (["presets", "timbre", "--checkpoint", "/nonexistent/model.pt", "--out", str(tmp_path)], "is a folder"),
        (["eval", "lstm", "/nonexistent/model.pt", "--json", str(tmp_path / "nodir" / "e.json")], "does not exist"),
    ]
    for argv, message in cases:
        one_error(livegen(*argv, cwd=tmp_path), message)
