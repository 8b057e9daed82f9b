"""The synth live: a render thread that keeps an audio stream's ring buffer filled.

Threads and what they own:

- any thread calls :meth:`LiveSynth.send` (appends to an inbox, nothing else);
- the render thread owns the :class:`~livegen.synth.synth.Synth`: it drains the inbox,
  renders whenever the ring runs low and writes into the ring;
- the audio output's callback copies from the ring and counts (callbacks, underruns);
  nothing else. On JACK it is C (:mod:`livegen.io.jackaudio`), elsewhere PortAudio's
  (:mod:`livegen.io.audio`); :func:`livegen.io.audio.open_output` chooses. The render
  thread watches its count.

The synth renders at the device's rate (``Synth.set_sample_rate``): one device period per
render into a ring kept two periods deep. Each render starts half a period (at most 2 ms)
after the callback it follows (:data:`RENDER_AT`; on JACK the C callback wakes the thread
through a semaphore each cycle, elsewhere it polls the callback count four times a period), so a note-on that arrived in that cycle (pass-through from
``livegen:in`` arrives within a millisecond of the cycle's start) is in the block the
callback after next plays: key to sound is two periods, and a render may take 1.5
periods (at 128 frames; more at longer periods) before the callback finds too little.

The inbox is a :class:`~livegen.core.queues.BoundedQueue`: past :data:`INBOX_MAX`
messages, new ones are dropped and counted (``inbox_dropped`` in the status), except
note-offs and controller resets, which are always kept, so a flood never leaves a voice
sounding. Before one render the thread starts at most as many notes as the synth may
sound (the governor's voice limit); more could only steal each other before being heard,
so the rest of a flood's note-ons are dropped and counted (``notes_dropped``), and a
flood costs a render no more than a chord of all its voices. Once the ring needs audio, the
inbox waits after :data:`DRAIN_SHARE` of a period (the render comes first).
"""

from __future__ import annotations

import collections
import logging
import threading
import time

import numpy as np

from livegen.core.governor import LoadGovernor
from livegen.core.queues import BoundedQueue, first_midi_key
from livegen.synth.synth import Synth

log = logging.getLogger("livegen.synth")


def raise_priority() -> str | None:
    """Real-time priority for the calling render thread; None if granted, else why not."""
    from livegen.realtime import RENDER_PRIORITY, make_realtime
    return make_realtime(RENDER_PRIORITY)


INBOX_MAX = 4096
RENDER_AT = 0.5  # rendering at the device rate starts this far into the period ...
RENDER_AT_MAX_S = 0.002  # ... but no later than this: pass-through arrives within it
# Before a render the thread takes messages from the inbox until it is empty or, once the ring
# needs audio, until this share of a period has gone: the rest of a flood (every note-off is
# kept) waits for the next render instead of delaying this one. Under a flood the other
# threads hold the interpreter lock often, and 30-130 messages took 2-5 ms to handle.
# Measured (20,000 notes in 2 s at 128 frames, 12 runs each way): 0.8 underruns a flood on
# average with the share, 2.9 without (docs/benchmarks.md).
DRAIN_SHARE = 0.25
# A full garbage collection (livegen.realtime.Collector) runs on the render thread while no
# voice sounds, after this much silence went into the ring beyond what it keeps: the collection
# holds the interpreter lock (1-15 ms measured), and the callback plays the padding meanwhile
# instead of finding nothing (an underrun). A note played in that moment waits at most this.
COLLECT_PAD_S = 0.03
DRAIN_CHECK = 8  # messages between looks at the clock


class LiveSynth:
    RING_FRAMES = 1 << 16

    def __init__(self, synth: Synth, audio_cfg, realtime: bool = False):
        from livegen.io.audio import open_output
        self.synth = synth
        self.realtime = realtime
        self.realtime_refused: str | None = None
        self.inbox = BoundedQueue(INBOX_MAX, first_midi_key)  # (msg, at_ns)
        self.notes_dropped = 0  # note-ons past the voice limit before one render (the render thread's)
        self.output = open_output(audio_cfg, self.RING_FRAMES)
        self.ring = self.output.ring  # the render thread writes, the output's callback reads
        self.rate = self.output.sample_rate
        synth.set_sample_rate(self.rate)
        # the device's period: known from the first callback (JACK: at opening); until then
        # the configured one
        self._period_guess = audio_cfg.block_size or 256
        self.load = 0.0  # render time / audio time, smoothed
        self.level = 0.0  # the output's peak over the latest render (1.0 = full scale)
        self.governor = LoadGovernor(len(synth.alloc.slots))
        self.latencies_ms: collections.deque = collections.deque(maxlen=256)  # note-on -> DAC
        self.render_ms: collections.deque = collections.deque(maxlen=4096)  # each render's time
        self._capture: list[np.ndarray] | None = None  # blocks rendered while capturing
        self._capture_max = 600 * self.rate  # at most ten minutes are kept
        self._collect = threading.Event()  # a full collection is due (any thread sets it)
        self.collections = 0  # made by the render thread
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="livegen-render", daemon=True)

    @property
    def period(self) -> int:
        return self.output.period or self._period_guess

    def latency_parts(self) -> dict:
        """Where a note-on's time to the port goes, in ms at the device rate (what is known
        ahead; the render thread's wake-up and the thru path come on top)."""
        period = self.period
        ms = 1e3 / self.rate
        return {"period_ms": period * ms, "render_block_ms": period * ms, "ring_target_ms": 2 * period * ms,
                "stream_latency_ms": self.output.latency * 1e3}

    # -- any thread -----------------------------------------------------------------
    def send(self, msg: bytes, at_ns: int | None = None) -> None:
        """Hand a MIDI message to the synth (never blocks); ``at_ns``: when it arrived."""
        self.inbox.put((bytes(msg), at_ns or time.monotonic_ns()))

    def command(self, cmd) -> None:
        """Hand the synth a :class:`~livegen.core.pad.SetTimbre` (never blocks): the render
        thread applies it before its next render."""
        self.inbox.put((cmd, time.monotonic_ns()))

    @property
    def underruns(self) -> int:
        return self.output.underruns

    @property
    def voices(self) -> int:
        return self.synth.active_voices

    def status(self) -> dict:
        """A snapshot for status displays (read from any thread; values may be a block old)."""
        lat = sorted(self.latencies_ms)
        return {"voices": self.voices, "load": round(self.load, 3), "underruns": self.underruns,
                "kernel": self.synth.kernel_description, "rate": self.rate, "audio_lost": self.output.lost,
                "audio_host": self.output.backend, "audio_backend": self.output.describe,
                "voice_limit": self.governor.limit, "voices_shed": self.governor.shed,
                "inbox_dropped": self.inbox.dropped, "notes_dropped": self.notes_dropped, "period": self.period,
                "level": round(self.level, 4), "timbre": list(self.synth.channel_label),
                "render_ms_p99": round(float(np.percentile(self.render_ms, 99)), 2) if self.render_ms else None,
                "render_ms_max": round(max(self.render_ms), 2) if self.render_ms else None,
                "note_latency_ms": round(lat[len(lat) // 2], 1) if lat else None}

    def collect_when_silent(self) -> None:
        """Ask the render thread for a full garbage collection at its next moment with no
        voice sounding and nothing in its inbox (:data:`COLLECT_PAD_S`)."""
        self._collect.set()

    def start_capture(self) -> None:
        """Keep a copy of everything rendered from now on (at the device rate)."""
        self._capture = []

    def stop_capture(self) -> np.ndarray:
        """What was rendered since start_capture, as float32 mono at ``self.rate``."""
        blocks, self._capture = self._capture or [], None
        return np.concatenate(blocks) if blocks else np.zeros(0, np.float32)

    def start(self) -> None:
        # prime the ring with more silence than it keeps later: the first renders are slow
        # (first runs of ONNX Runtime and the kernel), and the extra drains in a few periods
        self.ring.write(np.zeros((6 * self.period, 1), np.float32))
        self.output.start()
        self._thread.start()

    def _stop_rendering(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def close(self) -> None:
        self._stop_rendering()
        self.output.close()

    def abandon(self) -> None:
        """Stop rendering and let go of the audio output whose JACK server went away, touching
        nothing (closing could hang; the process execs or exits next)."""
        self._stop_rendering()
        self.output.abandon()

    # -- the render thread ----------------------------------------------------------
    def _collect_padded(self) -> None:
        import gc
        pad = np.zeros((int(COLLECT_PAD_S * self.rate), 1), np.float32)
        self.ring.write(pad)
        capture = self._capture
        if capture is not None:
            capture.append(pad[:, 0])
        gc.collect()
        self.collections += 1
        self._collect.clear()

    def _run(self) -> None:
        if self.realtime:  # above ordinary processes, so a busy machine does not starve the audio
            self.realtime_refused = raise_priority()
        period = self.period
        seen = self.output.callbacks
        ons_left = self.synth.alloc.limit  # note-ons this render may still start
        while not self._stop.is_set():
            if self.output.period and self.output.period != period:
                log.warning("the audio period changed from %d to %d frames while running: rendering "
                            "for %d from now on", period, self.output.period, self.output.period)
                period = self.output.period
            n, target = period, 2 * period
            block_s = n / self.rate
            now = time.monotonic_ns()
            inbox = self.inbox
            drained, drain_from = 0, time.perf_counter()
            while inbox:
                drained += 1
                if (drained % DRAIN_CHECK == 0 and self.ring.available() < target
                        and time.perf_counter() - drain_from > DRAIN_SHARE * block_s):
                    break  # audio is due: render first, the rest of a flood after
                msg, at_ns = inbox.popleft()
                if type(msg) is not bytes:  # a timbre command
                    self.synth.apply(msg)
                    continue
                if msg[0] & 0xF0 == 0x90 and len(msg) > 2 and msg[2]:
                    if ons_left <= 0:  # more note-ons before one render than voices: a flood
                        self.notes_dropped += 1
                        continue
                    ons_left -= 1
                    self.synth.handle(msg)
                    queued = self.ring.available() / self.rate + self.output.latency
                    self.latencies_ms.append((now - at_ns) / 1e6 + (queued + block_s) * 1e3)
                else:
                    self.synth.handle(msg)
            if self._collect.is_set() and not inbox and not self.synth.active_voices:
                self._collect_padded()
            if self.ring.available() >= target:
                delay = min(RENDER_AT * period / self.rate, RENDER_AT_MAX_S)
                wait_cycle = getattr(self.output, "wait_cycle", None)
                if wait_cycle is not None:  # JACK's C callback wakes this thread each cycle
                    if wait_cycle(2 * period / self.rate):
                        self._stop.wait(delay)  # render late in the period: see the module's docstring
                    continue
                poll = max(period / self.rate / 4, 0.0005)
                self._stop.wait(poll)
                if self.output.callbacks != seen:  # a callback came within the last poll
                    seen = self.output.callbacks
                    self._stop.wait(max(0.0, delay - poll / 2))
                continue
            ons_left = self.synth.alloc.limit
            t0 = time.perf_counter()
            audio = self.synth.render(n)
            took = time.perf_counter() - t0
            self.level = float(np.abs(audio).max()) if len(audio) else 0.0
            self.render_ms.append(took * 1e3)
            load = took / block_s
            self.load = 0.9 * self.load + 0.1 * load
            limit = self.governor.update(load, self.synth.active_voices)
            if limit != self.synth.alloc.limit:
                self.synth.set_limit(limit)
            if self.ring.write(audio[:, None]) < len(audio):
                log.debug("ring full: dropped rendered audio")
            capture = self._capture
            if capture is not None and len(capture) * len(audio) < self._capture_max:
                capture.append(audio.copy())
