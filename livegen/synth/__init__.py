"""The timbre synth: voices, the render thread, and the offline renderer."""

from __future__ import annotations


def synth_from_config(cfg, sample_rate: int | None = None, seed: int = 0):
    """A :class:`~livegen.synth.synth.Synth` for the model and settings in ``cfg``, rendering at
    ``sample_rate`` (None: the model's own rate)."""
    from livegen.engine.timbre import TimbreEngine
    from livegen.synth.synth import Synth
    s = cfg.synth
    files = TimbreEngine.load(cfg.path(cfg.models.timbre), cfg.models.provider, s.threads)
    return Synth(files, sample_rate=sample_rate, voices=s.voices, temperature=s.temperature,
                 preset=s.preset, channel_presets=s.channel_presets, morph_cc=s.morph_cc,
                 morph_preset=s.morph_preset, gain=s.gain, release_max_s=s.release_max_s, seed=seed)


def open_live(cfg, seed: int = 0, synth=None):
    """The synth (``synth``, else the config's) playing live into the configured audio
    output, started.

    The daemon's sink: ``send(msg, at_ns)``, ``status()``, ``close()``. Raises a
    LivegenError (ModelFileError, DeviceError, ConfigError) that says what is missing.
    """
    from livegen.synth.live import LiveSynth
    if synth is None:
        synth = synth_from_config(cfg, seed=seed)
    live = LiveSynth(synth, cfg.audio, realtime=cfg.synth.realtime)
    live.start()
    return live
