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


def open_sink(cfg, synth=None):
    """(sink, "") or (None, the reason livegen runs MIDI only). Starts the sink.

    ``synth``: the :class:`~livegen.synth.synth.Synth`, loaded before any port opened so
    that a bad model file stops livegen at start-up (:func:`load_synth`); None loads it
    here. Only the audio device may be missing: then livegen runs MIDI only.
    """
    if not cfg.audio.enabled:
        return None, "audio.enabled = false"
    from livegen.synth import open_live
    try:
        return open_live(cfg, synth=synth), ""
    except LivegenError as err:
        return None, str(err)


def load_synth(cfg):
    """The synth of the config (None with audio off); a bad model file raises here."""
    if not cfg.audio.enabled:
        return None
    from livegen.synth import synth_from_config
    from livegen.synth.live import raise_priority
    return synth_from_config(cfg)


def sink_status(sink) -> dict | None:
    """voices, load, underruns (what the sink offers) for the status line."""
    if sink is None:
        return None
    # no catch-all here: a sink whose status fails has a bug or lost its device, and either
    # must reach the log (LiveSynth.status reports a lost stream as audio_lost)
    if hasattr(sink, "status"):
        return dict(sink.status())
    return {k: getattr(sink, k) for k in ("voices", "load", "underruns") if hasattr(sink, k)}


def abandon_sink(sink) -> None:
    """Stop the sink after its audio server went away: ``abandon()`` where the sink has one
    (it lets go of the stream without touching it), else ``close()``."""
    if sink is None:
        return
    if hasattr(sink, "abandon"):
        sink.abandon()
    else:
        sink.close()
