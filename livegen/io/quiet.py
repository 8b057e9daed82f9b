"""Keep C libraries (libjack, ALSA, PortAudio, CUDA) from writing to our stderr.

They print connection attempts straight to file descriptor 2; a user should see
one clear line from livegen instead. What they printed is kept for debug logs.

File descriptor 2 belongs to the whole process: while it is redirected, what any
other thread writes to stderr (a log line of the sender, say) lands in the capture
too, and is lost to the user. So wrap only the one noisy library call, never a
wait, a loop or anything that may block: the window must be as short as that call.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile


@contextlib.contextmanager
def captured_stderr():
    """Redirect fd 2 to a temporary file; yields a list that receives the captured text.

    Process-wide: keep the ``with`` block to the noisy call alone (see the module)."""
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
