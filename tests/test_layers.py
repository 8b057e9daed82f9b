"""Imports go one way: a pure core, device I/O apart, ONNX Runtime apart, torch only in training."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STDLIB = set(sys.stdlib_module_names)

# third-party package -> the folders allowed to import it
ONLY_IN = {
    "torch": ("livegen/train", "export"),
    "onnx": ("livegen/train", "livegen/engine", "export"),
    "rtmidi": ("livegen/io",),
    "mido": ("livegen/io", "livegen/train"),
    "sounddevice": ("livegen/io",),
    "jack": ("livegen/io",),
    "onnxruntime": ("livegen/engine", "livegen/train", "export"),
}


def imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def sources():
    for folder in ("livegen", "export"):
        yield from sorted((ROOT / folder).rglob("*.py"))


def test_core_imports_only_numpy_and_the_standard_library():
    for path in (ROOT / "livegen" / "core").rglob("*.py"):
        extra = imports(path) - STDLIB - {"numpy", "livegen"}
        assert not extra, f"{path.relative_to(ROOT)} imports {sorted(extra)}"


def test_device_and_ml_libraries_stay_in_their_layer():
    for path in sources():
        rel = path.relative_to(ROOT).as_posix()
        for name in imports(path):
            allowed = ONLY_IN.get(name)
            if allowed is not None:
                assert rel.startswith(allowed), f"{rel} imports {name} (allowed only in {allowed})"


def test_the_cli_and_daemon_import_no_torch():
    code = ("import sys, livegen.cli as c; c.build_parser();"
            "import livegen.io.midi, livegen.io.audio, livegen.engine.ort;"
            "bad = [m for m in ('torch', 'onnx') if m in sys.modules]; print(bad); sys.exit(bool(bad))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_audio_callback_only_copies_and_counts():
    """PortAudio's callback may not allocate, lock, log or call a model: it copies from the
    ring and counts. Every call it makes is listed here."""
    tree = ast.parse((ROOT / "livegen" / "io" / "audio.py").read_text())
    callback = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "_callback")
    calls = {ast.unparse(n.func) for n in ast.walk(callback) if isinstance(n, ast.Call)}
    assert calls == {"self.ring.read_into"}, calls
    ring = ast.parse((ROOT / "livegen" / "core" / "ring.py").read_text())
    read_into = next(n for n in ast.walk(ring) if isinstance(n, ast.FunctionDef) and n.name == "read_into")
    assert {ast.unparse(n.func) for n in ast.walk(read_into) if isinstance(n, ast.Call)} <= {"min", "len"}
