"""Imports go one way: a pure core, device I/O apart, ONNX Runtime apart, torch only in training,
and livegen's own packages in layers (docs/design.md)."""

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
    "aiohttp": ("livegen/ui",),  # the control surface's server
    "selenium": ("livegen/ui",),  # a browser on it, for its tests and benchmarks
}


def modules_imported(path: Path) -> set[str]:
    """Every module ``path`` imports, by its full name (inside functions too); a relative
    import is an error (livegen imports absolutely, so these rules can see it)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.relative_to(ROOT)}: a relative import (from {'.' * node.level}" \
                                    f"{node.module or ''})"
            names.add(node.module)
    return names


def imports(path: Path) -> set[str]:
    """The top-level packages ``path`` imports."""
    return {name.split(".")[0] for name in modules_imported(path)}


def sources():
    for folder in ("livegen", "export"):
        yield from sorted((ROOT / folder).rglob("*.py"))


def test_core_imports_only_numpy_the_standard_library_and_itself():
    paths = sorted((ROOT / "livegen" / "core").rglob("*.py"))
    assert len(paths) > 5
    for path in paths:
        names = modules_imported(path)
        extra = {n.split(".")[0] for n in names} - STDLIB - {"numpy", "livegen"}
        assert not extra, f"{path.relative_to(ROOT)} imports {sorted(extra)}"
        outside = {n for n in names if n.split(".")[0] == "livegen" and not
                   (n in ("livegen.core", "livegen.errors") or n.startswith("livegen.core."))}
        assert not outside, (f"{path.relative_to(ROOT)} imports {sorted(outside)}: core imports only core "
                             f"(and the error hierarchy)")


def test_the_rules_see_a_core_module_that_reaches_outside(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from livegen import config\n    import livegen.daemon.sender\n")
    assert modules_imported(bad) == {"livegen", "livegen.daemon.sender"}


# livegen's own packages, lowest first: the parts of livegen each may import besides itself and
# the package root (``livegen.__version__``). A part is a subpackage (``io``), a top-level module
# (``config``), or ``export``; ``io.quiet`` (keeping C libraries off fd 2) is process plumbing
# that the engine uses for CUDA's messages too.
LEAVES = {"errors", "fileio", "realtime"}
MAY_IMPORT = {
    "root": set(),
    "errors": set(), "fileio": {"errors"}, "realtime": set(),
    "core": {"errors"},  # and numpy and the standard library only (the test above)
    "config": {"core", "errors"},
    "io": {"core"} | LEAVES,
    "engine": {"core", "io.quiet"} | LEAVES,
    "synth": {"core", "io", "engine"} | LEAVES,
    "daemon": {"core", "io", "engine", "synth"} | LEAVES,
    "ui": {"core", "synth", "daemon"} | LEAVES,  # the control surface: a guest beside the daemon
    "commands": {"core", "io", "engine", "synth", "daemon", "ui", "config"} | LEAVES,
    "cli": {"commands", "config"} | LEAVES,
    "__main__": {"cli"},
    "train": {"core", "io", "engine", "synth", "config", "cli"} | LEAVES,  # cli: the standalone entry
    "export": {"core", "engine", "synth", "train"} | LEAVES,  # synth: the export checks the kernel
}
# Known exceptions, each with the work that removes it.
KNOWN: set[tuple[str, str]] = set()


def part_of_module(name: str) -> str | None:
    """The part a module name belongs to (None: not livegen's)."""
    parts = name.split(".")
    if parts[0] == "export":
        return "export"
    if parts[0] != "livegen" or len(parts) == 1:
        return None
    if parts[1].startswith("__"):  # from livegen import __version__
        return "root"
    return "io.quiet" if parts[1:3] == ["io", "quiet"] else parts[1]


def part_of_file(rel: str) -> str:
    parts = rel.removesuffix(".py").split("/")
    return "export" if parts[0] == "export" else "root" if parts[1] == "__init__" else parts[1]


def livegen_imports(path: Path) -> set[str]:
    """The modules of livegen and export that ``path`` imports (``from livegen import config``
    is ``livegen.config``), inside functions too."""
    names = modules_imported(path)
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module in ("livegen", "export"):
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {n for n in names if part_of_module(n) is not None}


def layer_violations(root: Path, paths) -> list[str]:
    """One line for each import of a part that the importing part may not import."""
    bad = []
    for path in paths:
        rel = path.relative_to(root).as_posix()
        mine = part_of_file(rel)
        assert mine in MAY_IMPORT, f"{rel}: part {mine!r} is in no layer: add it to MAY_IMPORT"
        for name in sorted(livegen_imports(path)):
            theirs = part_of_module(name)
            allowed = MAY_IMPORT[mine] | {mine, "root"}
            if not (theirs in allowed or (theirs == "io.quiet" and "io" in allowed) or (rel, theirs) in KNOWN):
                bad.append(f"{rel} ({mine}) imports {name} ({theirs}); {mine} may import "
                           f"{', '.join(sorted(MAY_IMPORT[mine])) or 'nothing of livegen'}")
    return bad


def test_livegen_packages_import_only_the_layers_below():
    bad = layer_violations(ROOT, sources())
    assert not bad, "\n".join(bad)


def test_the_layer_rules_see_an_import_upward(tmp_path):
    for folder, code in (("core", "from livegen.io import midi\n"), ("io", "import livegen.engine.lstm\n"),
                         ("synth", "def f():\n    from livegen.train import pitch\n"),
                         ("engine", "from livegen import daemon\n"), ("daemon", "from livegen import cli\n")):
        (tmp_path / "livegen" / folder).mkdir(parents=True)
        path = tmp_path / "livegen" / folder / "bad.py"
        path.write_text(code)
        bad = layer_violations(tmp_path, [path])
        assert len(bad) == 1 and bad[0].startswith(f"livegen/{folder}/bad.py ({folder}) imports"), bad


def test_device_and_ml_libraries_stay_in_their_layer():
    for path in sources():
        rel = path.relative_to(ROOT).as_posix()
        for name in imports(path):
            allowed = ONLY_IN.get(name)
            if allowed is not None:
                assert rel.startswith(allowed), f"{rel} imports {name} (allowed only in {allowed})"


def test_importing_every_module_outside_training_imports_no_torch():
    """Every module of livegen but livegen.train (and __main__, which runs the CLI), plus the
    CLI's parser (it imports the training commands' modules): no torch, no onnx."""
    code = """if True:
        import importlib, pkgutil, sys
        import livegen, livegen.cli
        livegen.cli.build_parser()
        names = [m.name for m in pkgutil.walk_packages(livegen.__path__, "livegen.")
                 if not m.name.startswith("livegen.train") and m.name != "livegen.__main__"]
        for name in names:
            importlib.import_module(name)
        for part in ("daemon.sender", "daemon.generator", "daemon.control", "synth.live", "synth.synth",
                     "engine.lstm", "io.midi", "io.audio", "commands.run"):
            assert "livegen." + part in sys.modules, part  # the walk found them
        bad = [m for m in ("torch", "onnx") if m in sys.modules]
        print(len(names), "modules;", bad or "no torch, no onnx")
        sys.exit(bool(bad))
    """
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
