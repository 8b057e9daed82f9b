"""Setting up a jam in one process: for ``livegen run``, ``livegen demo`` and ``livegen bench jam``.

:func:`load_models` loads the LSTM and the synth before any server or port starts
(a missing or bad model file is then one line at start-up; a missing timbre model
folder means MIDI only). :class:`Jam` opens livegen's virtual ports, the synth
sink and the daemon, and closes them again. :func:`jack_server` uses the JACK
server that runs, or starts a private dummy server (the machine has no audio
set-up) and points this process's JACK clients at it. :class:`Rig` is a Jam on
JACK plus a player connected to ``livegen:in`` and a recorder connected to
``livegen-out:out`` through real ports, as a DAW would connect.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import secrets
import time

from livegen.daemon import Daemon
from livegen.daemon.sink import abandon_sink, load_synth, open_sink, sink_status
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


@dataclasses.dataclass
class Models:
    lstm: LstmRuntime
    synth: object | None  # livegen.synth.synth.Synth, or None: MIDI only
    why_no_synth: str  # "" with a synth
    presets: object | None = None  # livegen.synth.presets.Presets (with a synth)
    pad: object | None = None  # livegen.core.pad.Pad of synth.pad_corners (with a synth)


def load_models(cfg) -> Models:
    """The config's LSTM and synth. A missing or bad LSTM, or a bad timbre model, raises
    (ModelFileError naming the file); audio off or no timbre model folder: MIDI only."""
    lstm = LstmRuntime(cfg.path(cfg.models.lstm), cfg.models.provider, cfg.jam.lstm_threads)
    folder = cfg.path(cfg.models.timbre)
    if not cfg.audio.enabled:
        return Models(lstm, None, "audio.enabled = false")
    if not folder.exists():
        return Models(lstm, None, f"no timbre model folder {str(folder)!r} (models.timbre)")
    synth = load_synth(cfg)
    from livegen.synth import presets
    known = presets.load(synth.files.presets, cfg.user_presets())
    pad = presets.pad(cfg.synth.pad_corners, cfg.synth.pad_channel, known.all())
    return Models(lstm, synth, "", known, pad)


class Jam:
    """livegen's virtual ports (``backend``, ``inp``, ``out``), the synth sink (``sink``, or
    None and ``why_no_sink``) and the :class:`Daemon` on them, not yet started."""

    def __init__(self, cfg, models: Models, native_jack: bool = True):
        """``native_jack``: false opens the ports through rtmidi's JACK backend (to compare)."""
        self.cfg = cfg
        self.models = models
        self.model = models.lstm
        self.backend, self.inp, self.out = midi.open_ports(cfg.midi, native_jack=native_jack,
                                                           realtime=cfg.jam.realtime)
        self.sink, self.why_no_sink = None, models.why_no_synth
        try:
            if models.synth is not None:  # only the audio device may be missing now: MIDI only
                self.sink, self.why_no_sink = open_sink(cfg, models.synth)
            self.daemon = Daemon(cfg, self.inp, self.out, self.model, self.sink, pad=models.pad)
        except BaseException:
            self.close()
            raise

    @property
    def audio(self) -> str:
        """What livegen plays audio with, for the first log line."""
        if self.sink is None:
            return f"MIDI only: {self.why_no_sink}"
        backend = (sink_status(self.sink) or {}).get("audio_backend")
        return f"synth on {backend}" if backend else "synth"

    @property
    def midi_backend(self) -> str:
        """What moves the MIDI ports' bytes: JACK native ports, or rtmidi and its API."""
        return self.inp.implementation

    def start(self) -> None:
        self.daemon.start()

    def stop(self) -> None:
        """Stop the daemon's threads (every open note is closed) if they run."""
        daemon = getattr(self, "daemon", None)
        if daemon is not None and daemon.sender.is_alive():
            daemon.stop()

    def close(self) -> None:
        """Stop, then close the ports and the sink."""
        self.stop()
        for port in (self.inp, self.out):
            port.close()
        if self.sink is not None:
            self.sink.close()
            self.sink = None

    def abandon(self) -> None:
        """Stop after the JACK server went away: the sink lets go of its stream without
        touching it; the ports stay open (closing a dead server's port takes a second: the
        caller closes them when it no longer waits)."""
        self.stop()
        abandon_sink(self.sink)
        self.sink = None


class Rig(Jam):
    """A :class:`Jam` on JACK, with a player port connected to ``livegen:in`` and a
    recorder connected to ``livegen-out:out``."""

    def __init__(self, cfg, models: Models, native_jack: bool = True):
        self.player = self.recorder = None
        super().__init__(dataclasses.replace(cfg, midi=dataclasses.replace(cfg.midi, backend="jack")), models,
                         native_jack)
        try:
            self.recorder = MidiRecorder("jack", "livegen-recorder", self.cfg.midi.out_port)
            self.player = open_player("jack", "livegen-player", self.cfg.midi.in_port)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self.stop()
        time.sleep(0.05)  # let the closing messages reach the recorder
        for port in (self.player, self.recorder):
            if port is not None:
                port.close()
        super().close()
