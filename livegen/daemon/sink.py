"""Opening the synth sink the daemon plays through (or none: MIDI only).

The daemon needs an object with ``send(msg: bytes, at_ns: int | None)`` (only
enqueues; thread-safe), ``close()``, and optionally ``status()`` or the
attributes ``voices``, ``load``, ``underruns``. The synth package provides it
(issue 6): :func:`open_sink` asks ``livegen.synth.open_sink(cfg)`` for one, or
builds a ``LiveSynth`` from ``livegen.synth.synth_from_config``. When audio is
off, or the synth or its model or the audio device is not there, livegen runs
MIDI only and says why.
"""

from __future__ import annotations

import logging

from livegen.errors import LivegenError

log = logging.getLogger("livegen.daemon")


def open_sink(cfg):
    """(sink, "") or (None, the reason livegen runs MIDI only). Starts the sink."""
    if not cfg.audio.enabled:
        return None, "audio.enabled = false"
    try:
        import livegen.synth as synth_pkg
    except ImportError as err:
        return None, f"the synth is not installed ({err})"
    opener = getattr(synth_pkg, "open_sink", None)
    try:
        if opener is not None:
            return opener(cfg), ""
        try:
            from livegen.synth.live import LiveSynth
            make = synth_pkg.synth_from_config
        except (ImportError, AttributeError) as err:
            return None, f"the live synth is not available yet ({err})"
        sink = LiveSynth(make(cfg), cfg.audio, block=cfg.synth.block)
        sink.start()
        return sink, ""
    except LivegenError as err:
        return None, str(err)


def sink_status(sink) -> dict | None:
    """voices, load, underruns (what the sink offers) for the status line."""
    if sink is None:
        return None
    try:
        if hasattr(sink, "status"):
            return dict(sink.status())
        return {k: getattr(sink, k) for k in ("voices", "load", "underruns") if hasattr(sink, k)}
    except Exception:  # the status line must never take the daemon down
        return None
