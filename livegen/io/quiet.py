"""Keep C libraries (libjack, ALSA, PortAudio, CUDA) from writing to our stderr.

They print connection attempts straight to file descriptor 2; a user should see
one clear line from livegen instead. What they printed is kept for debug logs.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile


@contextlib.contextmanager
def captured_stderr():
    """Redirect fd 2 to a temporary file; yields a list that receives the captured text."""
    captured: list[str] = []
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (embedded interpreters): nothing to hide
        yield captured
        return
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            captured.append(tmp.read().decode("utf-8", "replace"))
