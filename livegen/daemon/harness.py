"""A whole jam set-up in one process, for ``livegen demo`` and ``livegen bench jam``.

:func:`jack_server` uses the JACK server that runs, or starts a private dummy
server (the machine has no audio set-up) and points this process's JACK clients
at it. :class:`Rig` opens livegen's virtual ports, the model, the synth sink
and the daemon, plus a player connected to ``livegen:in`` and a recorder
connected to ``livegen-out:out`` through real ports, as a DAW would connect.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import secrets
import time

from livegen.daemon import Daemon
from livegen.daemon.sink import open_sink
from livegen.engine.lstm import LstmRuntime
from livegen.io import jackserver, midi
from livegen.io.midiclient import MidiRecorder, open_player

log = logging.getLogger("livegen")


@contextlib.contextmanager
def jack_server(rate: int = 48000, period: int = 256, private: bool = False):
    """Yields (server or None, a description). None: a JACK server was already running."""
    if not private and midi.probe("jack") is None:
        yield None, f"the running JACK server ({os.environ.get('JACK_DEFAULT_SERVER', 'default')})"
        return
    name = f"livegen-{os.getpid()}-{secrets.token_hex(2)}"
    with jackserver.serving(name, rate, period) as server:
        yield server, f"a private JACK dummy server {name!r} at {rate} Hz, period {period}"


def load_model(cfg) -> LstmRuntime:
    """The LSTM of the config (load it before starting servers: a missing file is the usual mistake)."""
    return LstmRuntime(cfg.path(cfg.models.lstm), cfg.models.provider, cfg.jam.lstm_threads)


class Rig:
    def __init__(self, cfg, model: LstmRuntime, synth=None, native_jack: bool = True):
        """``synth``: from :func:`livegen.daemon.sink.load_synth`, loaded before any server or
        port starts (so a bad model file is one line at start-up); None loads it here.
        ``native_jack``: false opens livegen's ports through rtmidi's JACK backend."""
        cfg = dataclasses.replace(cfg, midi=dataclasses.replace(cfg.midi, backend="jack"))
        self.cfg = cfg
        self.model = model
        self.backend, self.inp, self.out = midi.open_ports(cfg.midi, native_jack=native_jack)
        self.sink, self.why_no_sink = None, ""
        self.player = self.recorder = None
        try:
            self.sink, self.why_no_sink = open_sink(cfg, synth)
            self.daemon = Daemon(cfg, self.inp, self.out, self.model, self.sink)
            self.recorder = MidiRecorder("jack", "livegen-recorder", cfg.midi.out_port)
            self.player = open_player("jack", "livegen-player", cfg.midi.in_port)
        except BaseException:
            self.close()
            raise

    def start(self) -> None:
        self.daemon.start()

    def close(self) -> None:
        daemon = getattr(self, "daemon", None)
        if daemon is not None and daemon.sender.is_alive():
            daemon.stop()
        time.sleep(0.05)  # let the closing messages reach the recorder
        for port in (self.player, self.recorder, self.inp, self.out):
            if port is not None:
                port.close()
        if self.sink is not None:
            self.sink.close()
            self.sink = None
