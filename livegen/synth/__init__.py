"""The WaveNet synth: voices, the render thread, and the offline renderer."""

from __future__ import annotations


def synth_from_config(cfg, seed: int = 0):
    """A :class:`~livegen.synth.synth.Synth` for the model and settings in ``cfg``."""
    from livegen.engine.wavenet_files import WaveNetFiles
    from livegen.synth.synth import Synth
    s = cfg.synth
    files = WaveNetFiles.load(cfg.path(cfg.models.wavenet), cfg.models.provider)
    return Synth(files, voices=s.voices, temperature=s.temperature, engine=s.engine, preset=s.preset,
                 channel_presets=s.channel_presets, morph_cc=s.morph_cc, morph_preset=s.morph_preset,
                 gain=s.gain, release_max_s=s.release_max_s, threads=s.threads, seed=seed)


def open_live(cfg, seed: int = 0):
    """The synth playing live into the configured audio output, started.

    The daemon's sink: ``send(msg, at_ns)``, ``status()``, ``close()``. Raises a
    LivegenError (ModelFileError, DeviceError, ConfigError) that says what is missing.
    """
    from livegen.synth.live import LiveSynth
    live = LiveSynth(synth_from_config(cfg, seed), cfg.audio, block=cfg.synth.block)
    live.start()
    return live
