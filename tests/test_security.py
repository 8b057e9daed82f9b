"""livegen opens no network socket, and loads checkpoints weights-only."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
AUDIT = [sys.executable, str(ROOT / "tests" / "netaudit.py")]


def test_the_audit_catches_a_network_socket():
    code = (f"import sys; sys.path.insert(0, {str(ROOT / 'tests')!r}); import netaudit, socket; "
            "sys.addaudithook(netaudit.hook); socket.socket()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 99 and "network socket" in proc.stderr


def test_devices_and_config_open_no_network_socket(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "JACK_NO_START_SERVER": "1",
           "JACK_DEFAULT_SERVER": "livegen-none"}
    for args in (["devices"], ["config"]):
        proc = subprocess.run(AUDIT + args, capture_output=True, text=True, env=env, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr


def test_render_opens_no_network_socket(tmp_path):
    from livegen.core.tokens import Note
    from livegen.io.midifile import write_notes
    from tests import timbre_fixture
    timbre_fixture.copy_to(tmp_path / "m", {"a": [0.0] * 4})
    write_notes(tmp_path / "in.mid", [Note(0, 1, 60, 100)])
    proc = subprocess.run(AUDIT + ["--set", f"models.timbre={tmp_path / 'm'}", "render",
                                   str(tmp_path / "in.mid"), str(tmp_path / "o.wav")],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr


def test_every_torch_load_is_weights_only():
    """Checkpoints are data: torch.load must never unpickle code (weights_only=True)."""
    for path in list((ROOT / "livegen").rglob("*.py")) + list((ROOT / "export").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "load" and getattr(node.func.value, "id", "") == "torch"):
                kw = {k.arg: k.value for k in node.keywords}
                assert isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value is True, \
                    f"{path.relative_to(ROOT)}:{node.lineno}: torch.load without weights_only=True"
