"""Audio output: on JACK a port of livegen's own with a C callback, elsewhere PortAudio.

:func:`open_output` chooses. Where the host is JACK (``audio.backend = "jack"``, or
``"auto"`` while a JACK server runs) the output is :class:`~livegen.io.jackaudio.JackAudioOutput`:
no Python runs on JACK's thread, and PortAudio is not even initialised (it would open a
JACK client of its own). Other hosts (ALSA, Core Audio, WASAPI, ...) get
:class:`AudioOutput` through sounddevice (PortAudio); this is the only module that
touches sounddevice. Its stream's callback copies frames from an
:class:`~livegen.core.ring.AudioRing` and counts; it allocates nothing, takes no lock,
calls no model and logs nothing. The render thread fills the ring.
"""

from __future__ import annotations

import logging

from livegen.core.ring import AudioRing
from livegen.errors import DeviceError
from livegen.io.quiet import captured_stderr

log = logging.getLogger("livegen.audio")

# config name -> PortAudio host API name
HOST_APIS = {
    "jack": "JACK Audio Connection Kit",
    "alsa": "ALSA",
    "pulse": "PulseAudio",
    "oss": "OSS",
    "coreaudio": "Core Audio",
    "wasapi": "Windows WASAPI",
    "asio": "ASIO",
    "mme": "MME",
    "directsound": "Windows DirectSound",
}


def _sd():
    import sys
    if "sounddevice" in sys.modules:  # imported: nothing noisy to hide
        return sys.modules["sounddevice"]
    with captured_stderr() as noise:
        try:
            import sounddevice
        except OSError as err:
            raise DeviceError(f"PortAudio is not installed ({err}); Debian: apt-get install "
                              "libportaudio2") from err
    log.debug("import sounddevice: %s", "".join(noise).strip())
    return sounddevice


# sounddevice has no public way to re-initialise PortAudio (to see a JACK server started
# after import), to name PortAudio's JACK client, or to forget a stream of a dead server.
# Its private names used for that are read here and nowhere else; tests/test_jack_ports.py
# fails when a sounddevice release renames them.
SD_INTERNALS = ("_libname", "_terminate", "_initialize", "_last_callback", "_initialized")


def sd_internal(name: str):
    """sounddevice's private ``name`` (one of SD_INTERNALS), or a DeviceError saying that
    this sounddevice lacks it."""
    if name not in SD_INTERNALS:
        raise ValueError(f"{name!r} is not one of the sounddevice internals livegen relies on")
    sd = _sd()
    try:
        return getattr(sd, name)
    except AttributeError as err:
        raise DeviceError(f"sounddevice {sd.__version__} has no {name}, which livegen relies on: "
                          "install the sounddevice version pyproject.toml names") from err


_client_name = None  # the buffer PortAudio's JACK client name points into


def set_jack_client_name(name: str) -> None:
    """The JACK client name of PortAudio's streams (takes effect at the next rescan)."""
    import ctypes
    global _client_name
    try:
        lib = ctypes.CDLL(sd_internal("_libname"))
        lib.PaJack_SetClientName.argtypes = [ctypes.c_char_p]
        # PortAudio keeps the pointer, not a copy: the buffer must outlive every stream
        _client_name = ctypes.create_string_buffer(name.encode())
        lib.PaJack_SetClientName(_client_name)
    except (OSError, AttributeError):  # a PortAudio without JACK: nothing to name
        log.debug("PortAudio has no JACK host API; client name %r not set", name)


def rescan():
    """Re-initialise PortAudio, so that a JACK server started after import is seen."""
    terminate, initialize = sd_internal("_terminate"), sd_internal("_initialize")
    with captured_stderr():
        terminate()
        initialize()
    return _sd()


def release() -> None:
    """Let go of PortAudio (and so of its JACK client) before a JACK server it uses stops.

    PortAudio aborts the process if its JACK server vanished before it terminates.
    """
    import sys
    if "sounddevice" in sys.modules and sd_internal("_initialized"):
        terminate = sd_internal("_terminate")
        with captured_stderr():
            terminate()


def host_apis() -> list[dict]:
    """PortAudio's host APIs, each with the names of its output devices."""
    sd = rescan()
    devices = sd.query_devices()
    result = []
    for api in sd.query_hostapis():
        outs = [devices[i]["name"] for i in api["devices"] if devices[i]["max_output_channels"] > 0]
        result.append({"name": api["name"], "outputs": outs})
    return result


def on_jack(audio_cfg) -> bool:
    """The audio host is JACK: asked for, or ``auto`` while a JACK server runs."""
    if audio_cfg.backend != "auto":
        return audio_cfg.backend == "jack"
    from livegen.io.jacknative import server_running
    try:
        return server_running()
    except DeviceError:  # no JACK-Client or libjack: no JACK here
        return False


def open_output(audio_cfg, capacity: int):
    """The configured audio output, with a ring of ``capacity`` frames (``output.ring``),
    not started: JACK's own port where the host is JACK (:func:`on_jack`), else a
    PortAudio stream. Never PortAudio on JACK: a native part that cannot load is a
    DeviceError naming its file."""
    if on_jack(audio_cfg):
        from livegen.io.jackaudio import JackAudioOutput
        return JackAudioOutput(audio_cfg, capacity)
    return AudioOutput(audio_cfg, AudioRing(capacity))


def choose_device(audio_cfg) -> tuple[str, int]:
    """(host API config name, device index) of PortAudio for the config; DeviceError says
    what exists. ``auto`` never picks PortAudio's JACK host API (:func:`open_output`
    serves JACK)."""
    sd = rescan()
    apis = sd.query_hostapis()
    devices = sd.query_devices()
    wanted = ([k for k in HOST_APIS if k not in ("pulse", "jack")] if audio_cfg.backend == "auto"
              else [audio_cfg.backend])
    seen = []
    for key in wanted:
        for api in apis:
            if api["name"] != HOST_APIS[key]:
                continue
            outs = [i for i in api["devices"] if devices[i]["max_output_channels"] > 0]
            seen.append(f"{key}: {', '.join(devices[i]['name'] for i in outs) or 'no output device'}")
            if audio_cfg.device:
                outs = [i for i in outs if audio_cfg.device.lower() in devices[i]["name"].lower()]
            elif api["default_output_device"] in outs:
                outs = [api["default_output_device"]]
            if outs:
                return key, outs[0]
    hint = ("" if seen else f" (PortAudio has none of: {', '.join(wanted)})")
    jack = ("; is a JACK server running? (start one, e.g. jackd -d dummy)"
            if audio_cfg.backend in ("auto", "jack") else "")
    want = f"audio device {audio_cfg.device!r}" if audio_cfg.device else "audio output device"
    raise DeviceError(f"no {want} for audio.backend = {audio_cfg.backend!r}{hint}{jack}"
                      + ("\n  found " + "\n  found ".join(seen) if seen else ""))


class AudioOutput:
    """A PortAudio output stream fed from a ring buffer. ``underruns`` counts callbacks that
    found too little.

    ``period``: frames the latest callback asked for (the device's period: the render
    thread renders in that cadence, watching ``callbacks``); 0 before the first. On JACK
    (tests, comparisons) it still works, but livegen plays through
    :class:`~livegen.io.jackaudio.JackAudioOutput` there (:func:`open_output`)."""

    def __init__(self, audio_cfg, ring: AudioRing):
        sd = _sd()
        self.ring = ring
        set_jack_client_name(audio_cfg.client_name)
        self.backend, self.device = choose_device(audio_cfg)
        info = sd.query_devices(self.device)
        self.sample_rate = audio_cfg.sample_rate or int(info["default_samplerate"])
        self.callbacks = 0
        self.frames = 0
        self.period = 0
        self.underruns = 0
        self.xruns = 0  # PortAudio's own output-underflow flags
        with captured_stderr() as noise:
            try:
                self.stream = sd.OutputStream(
                    samplerate=self.sample_rate, blocksize=audio_cfg.block_size, device=self.device,
                    channels=ring.buf.shape[1], dtype="float32", callback=self._callback)
            except sd.PortAudioError as err:
                raise DeviceError(f"cannot open audio output {info['name']!r} at {self.sample_rate} Hz "
                                  f"on {self.backend}: {err}") from err
        log.debug("open audio: %s", "".join(noise).strip())
        # what plays the audio, for the status screen
        self.describe = f"PortAudio {self.backend} device #{self.device} {info['name']!r} (Python callback)"

    def _callback(self, outdata, frames, time_info, status) -> None:  # PortAudio's thread
        if self.ring.read_into(outdata) < frames:
            self.underruns += 1
        if status.output_underflow:
            self.xruns += 1
        self.callbacks += 1
        self.frames += frames
        self.period = frames

    @property
    def latency(self) -> float:
        """The stream's output latency in seconds, as PortAudio reports it."""
        return float(self.stream.latency)

    def start(self) -> None:
        self.stream.start()
        self._started = True

    @property
    def lost(self) -> bool:
        """The stream stopped by itself: its server (JACK) or device went away."""
        if not getattr(self, "_started", False):
            return False
        try:
            return not self.stream.active
        except _sd().PortAudioError:  # PortAudio cannot even say: the stream is gone
            return True

    def close(self) -> None:
        if self.lost:
            abandon_portaudio()
            return
        self.stream.stop()
        self.stream.close()

    def abandon(self) -> None:
        """Let go of the stream without touching PortAudio: its JACK server is gone (or
        going), and stop or close could hang. The process should exit or exec next."""
        abandon_portaudio()


def abandon_portaudio() -> None:
    """Forget PortAudio after its JACK server died under an open stream.

    From then on PortAudio hangs in stop, close and terminate, and sounddevice would call
    them at exit: clearing its bookkeeping lets the process exit.
    """
    import sys
    sd = sys.modules.get("sounddevice")
    if sd is not None:
        for name, value in (("_last_callback", None), ("_initialized", 0)):
            sd_internal(name)  # still there (a DeviceError if not)
            setattr(sd, name, value)
