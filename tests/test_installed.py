"""livegen as a user gets it: the wheel, installed into a fresh venv, run from an empty folder.

The wheel is built from a copy of the source tree (so no stale ``build/`` folder of the
checkout leaks into it) and installed without its dependencies into a venv made without
``--system-site-packages``. The dependencies come from this test run's own environment
through one ``.pth`` line in the new venv: a ``.pth`` line adds that folder to ``sys.path``
*after* the venv's own site-packages and does not run the ``.pth`` files in it, so the
editable install of the checkout (a ``.pth`` hook there) stays out, and ``import livegen``
finds the wheel's copy (checked). Installing numpy, ONNX Runtime etc. from PyPI instead
would take minutes and the network. The wheel is built once for the module (compiling the
native parts: it must carry them, and a venv that installs it needs no compiler); the
tests take about 25 s here (2 cores).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import wave
import zipfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
# *.so: the checkout's own build of the native parts (pip install -e .): the wheel must build its own
JUNK = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
                              ".hypothesis", "data", "runs", "*.log", "*.so")


def dependency_names() -> list[str]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return [re.match(r"[A-Za-z0-9_.-]+", d).group(0) for d in deps]


def test_the_readme_lists_what_pip_install_installs():
    readme = (ROOT / "README.md").read_text()
    line = re.search(r"`pip install \.` \(([^):]*)[):]", readme)
    assert line, "README: the `pip install .` line with its list of dependencies"
    listed = [name.strip() for name in re.split(r",|\band\b", line.group(1).replace("\n", " "))]
    listed = [name for name in listed if name]
    assert sorted(n.lower() for n in listed) == sorted(n.lower() for n in dependency_names()), listed


# the distribution that provides each top-level module livegen imports
DISTRIBUTION = {"numpy": "numpy", "mido": "mido", "rtmidi": "python-rtmidi", "sounddevice": "sounddevice",
                "onnxruntime": "onnxruntime-gpu", "soxr": "soxr", "jack": "JACK-Client", "cffi": "cffi",
                "torch": "torch", "onnx": "onnx", "music21": "music21", "tqdm": "tqdm",
                "matplotlib": "matplotlib", "scipy": "scipy", "aiohttp": "aiohttp", "selenium": "selenium",
                "torchcrepe": "torchcrepe"}
TRAINING = ("livegen/train", "export")  # what only the [train] extra needs
# imported outside training but declared in an extra only: each says what to install when missing
EXTRA_ONLY = {"selenium": "test"}  # livegen.ui.browser: bench live --page and the browser tests


def _third_party_imports() -> dict[str, set[str]]:
    """Top-level module -> the files (relative) of livegen/ and export/ that import it."""
    import ast

    found: dict[str, set[str]] = {}
    for folder in ("livegen", "export"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                         [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in ("livegen", "export"):
                        found.setdefault(top, set()).add(path.relative_to(ROOT).as_posix())
    return found


def test_every_package_livegen_imports_is_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    name = lambda d: re.match(r"[A-Za-z0-9_.-]+", d).group(0).lower()  # noqa: E731
    runtime = {name(d) for d in project["dependencies"]}
    train = {name(d) for d in project["optional-dependencies"]["train"]}
    for module, files in _third_party_imports().items():
        assert module in DISTRIBUTION, f"{module} (imported by {sorted(files)}): which distribution provides it?"
        dist = DISTRIBUTION[module].lower()
        outside_training = sorted(f for f in files if not f.startswith(TRAINING))
        if module in EXTRA_ONLY:
            extra = {name(d) for d in project["optional-dependencies"][EXTRA_ONLY[module]]}
            assert dist in extra, f"{dist}: imported by {sorted(files)}, not in [{EXTRA_ONLY[module]}]"
        elif outside_training:
            assert dist in runtime, f"{dist}: imported by {outside_training}, not in [project] dependencies"
        else:
            assert dist in runtime | train, f"{dist}: imported by {sorted(files)}, not declared"


def test_each_platform_gets_an_onnx_runtime_that_has_a_wheel_for_it():
    """onnxruntime-gpu has no macOS wheel: the README's macOS route installs onnxruntime (the
    markers are checked here; an install on macOS or Windows has not been tried)."""
    from packaging.markers import default_environment
    from packaging.requirements import Requirement

    deps = [Requirement(d) for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]]
    for platform, wanted in (("linux", "onnxruntime-gpu"), ("win32", "onnxruntime-gpu"),
                             ("darwin", "onnxruntime")):
        env = default_environment() | {"sys_platform": platform}
        got = [r.name for r in deps if r.name.startswith("onnxruntime") and (r.marker is None or r.marker.evaluate(env))]
        assert got == [wanted], (platform, got)


def _tracked_package_files() -> list[str]:
    """Files git tracks under livegen/ that are not Python modules (the package data), nor C
    sources the build compiles into the native modules (the sdist carries those: MANIFEST.in)."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and the checkout's history to list the package's files")
    out = subprocess.run(["git", "ls-files", "livegen"], cwd=ROOT, capture_output=True, text=True, check=True)
    return [f for f in out.stdout.split() if not f.endswith((".py", ".c", ".h"))]


def _run(args, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, capture_output=True, text=True, **kw)
    assert proc.returncode == 0, f"{' '.join(map(str, args))}:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv's python, its site-packages): the wheel built from a copy of the checkout,
    installed into a fresh venv (the dependencies through one .pth line: see the module)."""
    tmp = tmp_path_factory.mktemp("installed")
    src, dist, venv = (tmp / n for n in ("src", "dist", "venv"))
    shutil.copytree(ROOT, src, ignore=JUNK)
    build = [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "-q", "-w", str(dist)]
    if importlib.util.find_spec("setuptools") is not None:
        build.append("--no-build-isolation")  # this environment's setuptools: no download
    _run(build)
    wheel = next(dist.glob("livegen-*.whl"))
    assert not wheel.name.endswith("-none-any.whl"), f"{wheel.name}: a pure wheel, without the native parts"
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [f for f in _tracked_package_files() if f not in names]
    assert not missing, f"not in the wheel (pyproject.toml package-data): {missing}"
    assert [n for n in names if re.fullmatch(r"livegen/io/_jack\..*so", n)], "the compiled JACK callbacks"
    assert [n for n in names if re.fullmatch(r"livegen/synth/_hnkernel\..*so", n)], "the compiled synth kernel"

    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    # installing the wheel compiles nothing: no compiler is offered
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)],
         env={**os.environ, "CC": "/bin/false", "CXX": "/bin/false"})
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(_run([str(python), "-c", purelib]).stdout.strip())
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "livegen-test-deps.pth").write_text("".join(f"{p}\n" for p in sorted(ours)))
    return python, site


@pytest.mark.slow
def test_the_installed_wheel_renders_a_note_from_an_empty_folder(tmp_path, installed):
    import mido

    python, site = installed
    venv = python.parent.parent
    home, empty = tmp_path / "home", tmp_path / "empty"
    empty.mkdir()
    home.mkdir()
    song = mido.MidiFile()
    track = mido.MidiTrack([mido.Message("note_on", note=60, velocity=100, time=0),
                            mido.Message("note_off", note=60, velocity=0, time=480)])
    song.tracks.append(track)
    song.save(empty / "one.mid")
    # a user's environment: no checkout on the path, an empty home, config and cache
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
           "XDG_CONFIG_HOME": str(home / ".config"), "XDG_CACHE_HOME": str(home / ".cache")}
    where = _run([str(python), "-c", "import livegen; print(livegen.__file__)"], cwd=empty, env=env).stdout
    assert Path(where.strip()).is_relative_to(site), where
    # what the wheel asks for on this platform (markers evaluated) is what it runs with here:
    # the version bounds hold for the versions tested
    check = ("import importlib.metadata as m\n"
             "from packaging.requirements import Requirement\n"
             "for text in m.requires('livegen'):\n"
             "    r = Requirement(text)\n"
             "    if r.marker is None or r.marker.evaluate({'extra': ''}):\n"
             "        v = m.version(r.name)\n"
             "        assert r.specifier.contains(v, prereleases=True), (text, v)\n"
             "        print(r.name, v)\n")
    satisfied = _run([str(python), "-c", check], cwd=empty, env=env).stdout.split()
    assert "onnxruntime-gpu" in satisfied and "cffi" in satisfied and "onnxruntime" not in satisfied, satisfied
    livegen = venv / "bin" / "livegen"
    shown = _run([str(livegen), "config"], cwd=empty, env=env).stdout
    assert f'timbre = "{site / "livegen" / "models" / "timbre"}"' in shown, shown
    proc = _run([str(livegen), "render", "one.mid", "one.wav"], cwd=empty, env=env)
    assert "rendered 1 notes" in proc.stdout and "native kernel" in proc.stdout, proc.stdout + proc.stderr
    kernel = _run([str(python), "-c", "from livegen.synth import native; print(native.kernel().__file__)"],
                  cwd=empty, env=env).stdout.strip()
    assert Path(kernel).is_relative_to(site), kernel  # the wheel's compiled kernel played it
    with wave.open(str(empty / "one.wav")) as w:
        audio = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768
    assert w.getnframes() > 0.5 * w.getframerate() and np.abs(audio).max() > 0.01  # a note, not silence
    assert sorted(p.name for p in empty.iterdir()) == ["one.mid", "one.wav"]  # nothing else written here


PLAY_THROUGH_JACK = """
import os, sys, time
import numpy as np
from livegen.config import AudioConfig
from livegen.io import jackserver
from livegen.io.audio import open_output
from livegen.io.jackrec import AudioRecorder
from livegen.io.jacknative import module_file
with jackserver.serving("lginstalled-%d" % os.getpid(), 48000, 256, sys.argv[1]):
    out = open_output(AudioConfig(backend="jack", client_name="lginstalled"), 1 << 15)
    out.start()
    rec = AudioRecorder("lginstalled:out_0", name="lginstalled-rec")
    signal = np.random.default_rng(0).uniform(0.1, 0.5, 24000).astype(np.float32)
    out.ring.write(signal)
    while out.ring.available():
        time.sleep(0.01)
    seen = out.callbacks
    while out.callbacks < seen + 3:
        time.sleep(0.01)
    got = rec.audio()
    rec.close()
    out.close()
start = int(np.flatnonzero(got)[0])
print(module_file())
print("played", np.array_equal(got[start:start + len(signal)], signal))
"""


@pytest.mark.slow
@pytest.mark.jack
def test_the_installed_wheel_plays_through_its_own_compiled_jack_port(tmp_path, installed):
    # the wheel's native parts, loaded from the fresh venv, play a signal out of a JACK port
    python, site = installed
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
    out = _run([str(python), "-c", PLAY_THROUGH_JACK, str(tmp_path / "jackd.log")], cwd=tmp_path, env=env).stdout
    where, played = out.strip().splitlines()[-2:]
    assert Path(where).is_relative_to(site) and "_jack" in where, where  # the wheel's module, not the checkout's
    assert played == "played True", out
