"""The WaveNet synth: voices, the render thread, and the offline renderer."""

from __future__ import annotations


def synth_from_config(cfg, seed: int = 0, thread_init=None):
    """A :class:`~livegen.synth.synth.Synth` for the model and settings in ``cfg``.

    ``thread_init`` runs first in each of the kernel's worker threads."""
    from livegen.engine.wavenet_files import WaveNetFiles
    from livegen.synth.synth import Synth
    s = cfg.synth
    files = WaveNetFiles.load(cfg.path(cfg.models.wavenet), cfg.models.provider)
    return Synth(files, voices=s.voices, temperature=s.temperature, engine=s.engine, preset=s.preset,
                 channel_presets=s.channel_presets, morph_cc=s.morph_cc, morph_preset=s.morph_preset,
                 gain=s.gain, release_max_s=s.release_max_s, threads=s.threads, seed=seed,
                 thread_init=thread_init)


def open_live(cfg, seed: int = 0, synth=None):
    """The synth (``synth``, else the config's) playing live into the configured audio
    output, started.

    The daemon's sink: ``send(msg, at_ns)``, ``status()``, ``close()``. Raises a
    LivegenError (ModelFileError, DeviceError, ConfigError) that says what is missing.
    """
    from livegen.synth.live import LiveSynth, raise_priority
    if synth is None:
        init = raise_priority if cfg.synth.realtime else None
        synth = synth_from_config(cfg, seed, thread_init=init)
    live = LiveSynth(synth, cfg.audio, block=cfg.synth.block, realtime=cfg.synth.realtime)
    live.start()
    return live
