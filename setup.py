"""Builds livegen's native parts with the package (cffi, API mode); the rest is pyproject.toml.

Each builder compiles one extension module into the wheel (and, for ``pip install -e .``, into
the source tree beside the package's modules):

- ``native/build_jack.py``: ``livegen.io._jack``, the process callbacks of the JACK MIDI ports
  and the JACK audio output.
"""

from setuptools import setup

setup(cffi_modules=["native/build_jack.py:ffibuilder"])
