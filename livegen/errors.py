"""livegen's error hierarchy.

Every error a user can cause (a bad config value, an unreadable file, a missing
device) is a ``LivegenError``: the CLI prints its message as one line and exits
with status 2, never a traceback. Library errors are translated at the boundary
with ``raise SomeLivegenError(...) from err``.
"""


class LivegenError(Exception):
    """Base class: a problem the user can fix, with a message that says how."""


class ConfigError(LivegenError):
    """config.toml or a --set override is wrong (names the key, value, allowed)."""


class DataError(LivegenError):
    """An input file (MIDI, WAV, data set) cannot be read or is not what it claims."""


class ModelFileError(LivegenError):
    """A model file (checkpoint, ONNX, presets) is missing, corrupt or of the wrong kind."""


class DeviceError(LivegenError):
    """A MIDI or audio backend, port or device cannot be opened."""


class OutputError(LivegenError):
    """A file cannot be written where it was asked for (no such folder, a read-only folder,
    a folder where a file should go): checked before the work starts."""


class EngineError(LivegenError):
    """A model failed while running (ONNX Runtime failed a step)."""


class NativeError(LivegenError):
    """A compiled part of livegen (the synth kernel, the JACK process callbacks) cannot be
    loaded or refuses its input (names the file)."""


class SynthError(LivegenError):
    """The synth was asked something it cannot do now (says what and when it can)."""
