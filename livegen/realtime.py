"""Real-time scheduling for the threads that keep time (where the OS permits it).

On Linux, ``os.sched_setscheduler(0, SCHED_FIFO, ...)`` called from a thread
changes that thread only. The priorities stay below JACK's own (10 by default),
so livegen never pre-empts the audio server; they lift livegen's threads above
every ordinary process (a training run, a browser). All of them, not only the
sender: Python threads share one interpreter lock, and an ordinary thread that
another process pre-empts while it holds the lock keeps the sender waiting (the
synth's render thread did, up to 43 ms). Without the permission (no
CAP_SYS_NICE, no rtprio limit) nothing changes, and the reason is returned for
the log.
"""

from __future__ import annotations

import os
import shutil

SENDER_PRIORITY = 6
CONTROL_PRIORITY = 5
# The generator is the lowest real-time priority: it must not be pre-empted by ordinary
# processes while it holds the interpreter lock the sender is waiting for.
GENERATOR_PRIORITY = 1
# The synth's render thread and the kernel's workers (livegen.synth.live, synth.realtime):
# an ordinary thread that holds the interpreter lock while other processes pre-empt it keeps
# the sender waiting for tens of milliseconds (measured: p99 up to +17 ms, max +43 ms late;
# raised: +0.3 ms), and a busy machine starves the audio (3 underruns a minute, 0 raised).
RENDER_PRIORITY = 2
# Other Python threads of a livegen process (the status loop; the demo's and bench's
# in-process player) for the same reason, at the lowest real-time priority.
OTHER_PRIORITY = 1


def make_realtime(priority: int) -> str | None:
    """Raise the calling thread to SCHED_FIFO ``priority``; None if done, else why not."""
    if not hasattr(os, "sched_setscheduler") or not hasattr(os, "SCHED_FIFO"):
        return "this OS has no SCHED_FIFO"
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except OSError as err:
        return f"SCHED_FIFO not permitted ({err.strerror}); grant rtprio (e.g. the audio group)"
    return None



def ordinary(command: list[str], nice: int = 10) -> list[str]:
    """``command`` run as an ordinary, lower-priority process (SCHED_OTHER, ``nice``), even
    when a real-time thread starts it: a child inherits its parent's scheduling policy."""
    chrt, renice = shutil.which("chrt"), shutil.which("nice")
    return ([chrt, "--other", "0"] if chrt else []) + ([renice, "-n", str(nice)] if renice else []) + list(command)
