"""Real-time scheduling for the threads that keep time (where the OS permits it).

On Linux, ``os.sched_setscheduler(0, SCHED_FIFO, ...)`` called from a thread
changes that thread only. The priorities stay below those of JACK's client threads,
which JACK2 runs at the server's priority less 5 (5 by default; the server runs at 10):
livegen's own process callbacks (the MIDI ports, the audio port) and every other
client's must never wait for a Python thread of livegen's (with the sender at 6 and
the control thread at 5, jackd named livegen's MIDI clients as not finished while
they were busy). They lift livegen's threads above every ordinary process (a
training run, a browser). All of them, not only the
sender: Python threads share one interpreter lock, and an ordinary thread that
another process pre-empts while it holds the lock keeps the sender waiting (the
synth's render thread did, up to 43 ms). Without the permission (no
CAP_SYS_NICE, no rtprio limit) nothing changes, and the reason is returned for
the log.
"""

from __future__ import annotations

import gc
import os
import shutil
import time

SENDER_PRIORITY = 4
CONTROL_PRIORITY = 3
# The generator is the lowest real-time priority: it must not be pre-empted by ordinary
# processes while it holds the interpreter lock the sender is waiting for.
GENERATOR_PRIORITY = 1
# The synth's render thread and the kernel's workers (livegen.synth.live, synth.realtime):
# an ordinary thread that holds the interpreter lock while other processes pre-empt it keeps
# the sender waiting for tens of milliseconds (measured: p99 up to +17 ms, max +43 ms late;
# raised: +0.3 ms), and a busy machine starves the audio (3 underruns a minute, 0 raised).
RENDER_PRIORITY = 2
# The JACK MIDI input's reader thread (livegen.io.jackmidi), which moves what the process
# callback received into the port's queue: an ordinary thread fell behind under a flood on a
# busy machine, the ring from the callback filled and dropped messages, note-offs among them
# (notes hung in the synth); it does a few microseconds of work per message.
READER_PRIORITY = 4
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


# Python's cyclic garbage collector holds the interpreter lock for as long as it runs. Measured
# under a MIDI flood at 128 frames (issue 18): its automatic full collections took 7-15 ms in
# the middle of the flood, and every underrun of the flood fell in one (the render thread waits
# for the lock after each wait for a cycle). A real-time run leaves the young generations to
# the automatic collector (each collection scans what a few hundred allocations left, well under
# a millisecond) and makes the full collections itself, at moments of its own choosing.
FULL_EVERY_S = 60.0  # a full collection at most this often, while nothing sounds or comes in
FULL_MAX_S = 600.0  # ... and at least this often, whatever is playing
NEVER = 1 << 30  # a threshold the count of young collections never reaches


class Collector:
    """Python's full garbage collections, made by one thread (its owner) through :meth:`tick`.

    :meth:`start` freezes what start-up allocated (models, modules: never scanned again) and
    stops the automatic full collections. A tick makes one through ``collect`` when ``quiet()``
    (nothing sounding, nothing played in) and FULL_EVERY_S have passed (the synth's render
    thread collects after padding its ring with silence: livegen.synth.live), or itself when
    FULL_MAX_S have passed regardless, so that reference cycles cannot pile up."""

    def __init__(self, quiet, clock=None, collect=None):
        self.quiet = quiet
        self.collect = collect or gc.collect  # a quiet moment's full collection
        self.clock = clock or time.monotonic
        self.last_full = self.clock()
        self.full = 0  # full collections made by tick
        self._thresholds = None

    def start(self) -> None:
        gc.freeze()  # (no collection first: the synth may be playing already)
        self._thresholds = gc.get_threshold()
        gc.set_threshold(self._thresholds[0], self._thresholds[1], NEVER)
        self.last_full = self.clock()

    def tick(self) -> None:
        now = self.clock()
        since = now - self.last_full
        if since >= FULL_MAX_S:
            gc.collect()
        elif since >= FULL_EVERY_S and self.quiet():
            self.collect()
        else:
            return
        self.full += 1
        self.last_full = now

    def stop(self) -> None:
        if self._thresholds is not None:
            gc.set_threshold(*self._thresholds)
            self._thresholds = None
        gc.unfreeze()
