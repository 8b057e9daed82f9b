"""The synth's audio output on JACK: a JACK port written by a C process callback.

JACK-Client opens the client (``audio.client_name``) and registers its port ``out_0``; the
process callback is C (``jackaudio.c``, compiled with the package into
``livegen.io._jack``: :mod:`livegen.io.jacknative`). Each cycle it copies a period from a
lock-free single-producer, single-consumer ring of float samples into the port's buffer,
fills what the ring lacks with silence and counts. No Python runs on JACK's thread for
audio: PortAudio's JACK callback was Python (sounddevice), and waited for the interpreter
lock whenever another thread held it.

The render thread is the ring's only writer (:meth:`NativeRing.write`: one copy of the
rendered block into the ring, in C, the interpreter lock released); the callback its only
reader. :class:`JackAudioOutput` has the interface of
:class:`~livegen.io.audio.AudioOutput` (``ring``, ``sample_rate``, ``period``,
``callbacks``, ``underruns``, ``latency``, ``lost``, ``backend``, ``start``, ``close``,
``abandon``), so :class:`~livegen.synth.live.LiveSynth` does not care which it has.

The server going away: JACK's shutdown callback (C) marks the output ``lost``; the
daemon notices and comes back with the server (:mod:`livegen.daemon.jackrestart`).
"""

from __future__ import annotations

import time

import logging

import numpy as np

from livegen.errors import DeviceError
from livegen.io.jacknative import (OPEN_TRIES, REOPEN_PAUSE_S, c_pointer, close_client, first_cycle, jack_module,
                                   native, never_ran, open_client, refused)
from livegen.io.quiet import captured_stderr

log = logging.getLogger("livegen.audio")

PORT = "out_0"  # the port's name, as PortAudio named its first channel
KEY = "audio.client_name"
COUNTS = ("callbacks", "frames", "underruns", "silence", "period", "written")


class NativeRing:
    """The C ring (``jackaudio.c``) the process callback reads: mono float32 frames.
    ``write`` and ``available`` have the meaning of :class:`~livegen.core.ring.AudioRing`'s."""

    def __init__(self, ffi, lib, handle, capacity: int):
        self._ffi, self._lib, self._handle = ffi, lib, handle
        self.capacity = capacity

    def write(self, block: np.ndarray) -> int:
        """The writer (render thread): copy as much of ``block`` (frames, or frames x 1) as
        fits; the frames copied."""
        data = np.ascontiguousarray(block, dtype=np.float32).reshape(-1)
        return int(self._lib.lga_write(self._handle, self._ffi.from_buffer("float[]", data), len(data)))

    def available(self) -> int:
        """Frames written and not yet played."""
        return int(self._lib.lga_available(self._handle))

    def free(self) -> int:
        return self.capacity - self.available()


class JackAudioOutput:
    """The synth's JACK port ``<audio.client_name>:out_0``, fed from a :class:`NativeRing`
    of ``capacity`` frames. Connected when started to the server's first two playback ports
    (``audio.device``: to every audio input whose name holds it instead)."""

    backend = "jack"
    kind = "audio output"

    def __init__(self, audio_cfg, capacity: int):
        self._ffi, self._lib = ffi, lib = native()
        self._handle = None
        self._started = False
        self._last = dict.fromkeys(COUNTS, 0)  # the counts as last read
        self._lost = False
        self.device = audio_cfg.device
        self.name = f"{audio_cfg.client_name}:{PORT}"
        self.describe = f"JACK native port {self.name} (C process callback)"  # for the status screen
        self._audio_cfg = audio_cfg
        self.client = None
        try:
            self._open_port()
            handle = lib.lga_attach(c_pointer(self.client, "jack_client_t *"),
                                    c_pointer(self.port, "jack_port_t *"), capacity)
            if handle == ffi.NULL:
                raise DeviceError(f"cannot set up the process callback of {self.name!r}: JACK refused it "
                                  "(is the server still running?)")
            self._handle = handle
            self.ring = NativeRing(ffi, lib, handle, capacity)
        except BaseException:
            self._close_client()
            raise

    def _open_port(self) -> None:
        """Open the client (``self.client``) and register its port (``self.port``)."""
        jack = jack_module()
        audio_cfg = self._audio_cfg
        self.client = open_client(self.kind, self.name, KEY)
        self.sample_rate = self.client.samplerate
        if audio_cfg.sample_rate and audio_cfg.sample_rate != self.sample_rate:
            raise DeviceError(f"audio.sample_rate = {audio_cfg.sample_rate}, but the JACK server runs at "
                              f"{self.sample_rate} Hz: JACK sets the rate (0 follows the server)")
        if audio_cfg.block_size and audio_cfg.block_size != self.client.blocksize:
            log.warning("audio.block_size = %d is not used on JACK: the callback runs once per server "
                        "period (%d frames)", audio_cfg.block_size, self.client.blocksize)
        failed = None
        with captured_stderr():
            try:
                self.port = self.client.outports.register(PORT)
            except jack.JackError as err:
                failed = err
        if failed is not None:
            raise refused(self.kind, self.name, failed, key=KEY) from failed

    def counts(self) -> dict:
        """What the process callback counted: callbacks, frames, underruns (callbacks that
        found too little), silence (frames it filled with silence), period, written; after
        closing, the last ones."""
        if self._handle is not None:  # any thread: a buffer of its own per call
            out = self._ffi.new("uint64_t[6]")
            self._lib.lga_counts(self._handle, out)
            self._last = dict(zip(COUNTS, (int(c) for c in out)))
        return self._last

    @property
    def callbacks(self) -> int:
        return self.counts()["callbacks"]

    def wait_cycle(self, timeout_s: float) -> bool:
        """The render thread: block (without the interpreter lock) until a process callback
        has come since the last call, at most ``timeout_s``; True if one came."""
        if self._handle is None:
            time.sleep(timeout_s)
            return False
        return bool(self._lib.lga_wait(self._handle, max(1, int(timeout_s * 1e6))))

    @property
    def frames(self) -> int:
        return self.counts()["frames"]

    @property
    def underruns(self) -> int:
        return self.counts()["underruns"]

    @property
    def period(self) -> int:
        """Frames of the latest cycle (the server's period; before the first, the period the
        server reported at opening)."""
        return self.counts()["period"]

    @property
    def latency(self) -> float:
        """Seconds from the port to the server's outputs, as JACK reports it (the largest of
        the port's playback latency range)."""
        if self._handle is None or self.lost:
            return 0.0
        return int(self._lib.lga_latency(self._handle)) / self.sample_rate

    @property
    def lost(self) -> bool:
        """The server shut the client down: it stopped or went away."""
        if self._handle is not None:
            self._lost = bool(self._lib.lga_lost(self._handle))
        return self._lost

    def start(self) -> None:
        jack = jack_module()
        for attempt in range(1, OPEN_TRIES + 1):
            with captured_stderr():
                try:
                    self.client.activate()
                except jack.JackError as err:
                    raise DeviceError(f"cannot start {self.name!r}: {err} (is the JACK server still running?)") from err
            self._started = True
            if first_cycle(lambda: self.counts()["callbacks"]) or attempt == OPEN_TRIES:
                break
            never_ran(self.kind, self.name, attempt)
            self._reopen()
        targets = self.client.get_ports(is_audio=True, is_input=True, is_physical=not self.device)
        if self.device:
            targets = [p for p in targets if self.device.lower() in p.name.lower()]
            if not targets:
                names = [p.name for p in self.client.get_ports(is_audio=True, is_input=True)]
                raise DeviceError(f"audio.device = {self.device!r}: no JACK audio input holds that name; "
                                  f"there are: {', '.join(names) or 'none'}")
        for target in targets if self.device else targets[:2]:  # mono: both sides of a stereo output
            try:
                self.client.connect(self.port, target)
            except jack.JackError as err:
                raise DeviceError(f"cannot connect {self.name!r} to {target.name!r}: {err}") from err

    def _reopen(self) -> None:
        """A new client and port for the same ring and counts (:func:`~livegen.io.jacknative.never_ran`)."""
        client, self.client = self.client, None
        close_client(client, deactivate=True)
        self._started = False
        time.sleep(REOPEN_PAUSE_S)
        self._open_port()
        if not self._lib.lga_rebind(self._handle, c_pointer(self.client, "jack_client_t *"),
                                    c_pointer(self.port, "jack_port_t *")):
            raise DeviceError(f"cannot set up the process callback of {self.name!r}: JACK refused it "
                              "(is the server still running?)")

    def _close_client(self) -> None:
        client = getattr(self, "client", None)
        if client is None:
            return
        lost = self._handle is not None and self.lost
        self.counts()  # the last counts stay readable
        self.client = None
        if not close_client(client, deactivate=self._started and not lost):
            return  # its server is gone: the client, and the ring its callback reads, stay
        handle, self._handle = self._handle, None  # readers see the last counts from now on
        if handle is not None:
            self._lib.lga_free(handle)

    def close(self) -> None:
        self._close_client()

    def abandon(self) -> None:
        """Let go after the server went away, touching nothing: the process execs or exits
        next (the ring stays allocated; the client is not closed on a dead server)."""
        self._abandoned = (self.client, self._handle)  # kept alive: no close on collection
        self.client = None
