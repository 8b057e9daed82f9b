"""Native parts, built by setuptools when the package is built (the rest is in pyproject.toml).

Each entry is a cffi builder in API mode: the compiler checks its declarations against the C
source, and the wheel carries the compiled module (no compiler is needed where it is installed;
``pip install -e .`` puts it in the source tree beside the package's modules).
"""

from setuptools import setup

setup(cffi_modules=[
    "livegen/synth/hnkernel_build.py:ffibuilder",  # the synth's kernel: decoder + synthesis
    "livegen/io/jack_build.py:ffibuilder",  # livegen.io._jack: the JACK MIDI ports' and audio output's callbacks
])
