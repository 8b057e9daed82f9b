#!/usr/bin/env bash
# One entry point that sets up everything on a fresh Debian/Ubuntu machine, then runs a job.
#   ./dev.sh demo    the main job (see README)
#   ./dev.sh test    the test suite (what CI runs)
#   ./dev.sh setup   only the set-up
# Set-up is idempotent: system packages are installed only when missing (as root, or with
# sudo), the virtual environment .venv is (re)installed only when pyproject.toml, setup.py or
# a native part's source (C files and cffi builders under livegen/) changed.
set -euo pipefail
cd "$(dirname "$0")"

# gcc: pip builds livegen's native parts (setup.py) and python-rtmidi.
# jack-midi-clock: an external MIDI clock master for the clock-grid test and bench jam.
# libjack-jackd2-dev, libasound2-dev and pkg-config: python-rtmidi is built from source against
# the system's libjack (see setup_python), and livegen's native JACK callbacks (livegen/io/*.c) against
# libjack's headers
# chromium and chromium-driver: the control surface's tests drive a headless browser (selenium)
APT_PACKAGES=(jackd2 jack-midi-clock libportaudio2 fluidsynth fluid-soundfont-gm libjack-jackd2-dev libasound2-dev pkg-config gcc
              chromium chromium-driver)

need_apt() {
    command -v jackd >/dev/null && command -v jack_midi_clock >/dev/null && command -v fluidsynth >/dev/null \
        && command -v gcc >/dev/null && command -v chromium >/dev/null && command -v chromedriver >/dev/null \
        && ldconfig -p | grep 'libportaudio\.so\.2' >/dev/null \
        && [ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ] && pkg-config --exists jack alsa 2>/dev/null \
        && return 1
    return 0
}

setup_system() {
    need_apt || return 0
    local sudo=""
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null || { echo "dev.sh: need root (or sudo) to install ${APT_PACKAGES[*]}" >&2; exit 1; }
        sudo=sudo
    fi
    echo "dev.sh: installing system packages: ${APT_PACKAGES[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${APT_PACKAGES[@]}" >/dev/null
}

setup_python() {
    local python=${PYTHON:-python3}
    # the stamp covers what the install builds from: a change to a native part's C source, header
    # or cffi builder (*.c, *.h, *_build.py beside the modules; not the generated _*.c)
    # reinstalls, and so rebuilds the compiled modules
    local native
    native=$(find livegen -type f \( -name '*.c' -o -name '*.h' -o -name '*_build.py' \) -not -name '_*' | sort)
    local stamp=".venv/.installed-$(cat pyproject.toml setup.py dev.sh $native | sha256sum | cut -c1-16)"
    [ -f "$stamp" ] && return 0
    echo "dev.sh: installing livegen and its Python dependencies into .venv" >&2
    [ -x .venv/bin/python ] || "$python" -m venv .venv
    .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
    # torch==2.13.0 comes from the [train] extra (a CPU wheel of it is on our machines).
    # python-rtmidi from source: its PyPI wheel carries its own libjack (1.9.22), a second JACK
    # client library in a process whose PortAudio uses the system's (the server's version);
    # built here (about 15 s) it links the system's libjack and ALSA
    .venv/bin/python -m pip install -q --no-binary python-rtmidi -e '.[train,test]' 2>&1 \
        | grep -v '^WARNING: Location' || true
    if .venv/bin/python -c 'import livegen.io.midi as m, sys; sys.exit(m.rtmidi_bundles_libjack() is None)'; then
        .venv/bin/python -m pip install -q --no-binary python-rtmidi --force-reinstall --no-deps \
            "python-rtmidi==$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("python-rtmidi"))')" \
            2>&1 | grep -v '^WARNING: Location' || true
    fi
    .venv/bin/python -c 'import livegen.cli, livegen.io._jack, torch, onnxruntime, rtmidi, sounddevice, music21' \
        || { echo "dev.sh: the Python install failed" >&2; exit 1; }
    rm -f .venv/.installed-* && touch "$stamp"
}

job=${1:-demo}
shift || true
case "$job" in
    setup) setup_system; setup_python ;;
    test) setup_system; setup_python; exec .venv/bin/python -m pytest "$@" ;;
    demo) setup_system; setup_python; exec .venv/bin/livegen demo "$@" ;;
    *) echo "usage: ./dev.sh [demo|test|setup] [args...]" >&2; exit 2 ;;
esac
