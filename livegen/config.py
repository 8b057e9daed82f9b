"""Configuration: frozen dataclasses loaded from ``config.toml``.

One dataclass per section. Each field's ``metadata`` says what it is
(``doc``) and what is allowed (``choices`` or ``range``); :func:`load`
checks every key against that and raises one :class:`ConfigError` that names
each bad key, its value and what is allowed. A missing file or section falls
back to the defaults written here (the repository's ``config.toml`` documents
them). Checks that span keys (controller numbers that collide) are the loader's
too, so ``livegen config`` refuses what ``livegen run`` refuses.

Without ``--config``, the file is ``./config.toml`` if there is one, else
``$XDG_CONFIG_HOME/livegen/config.toml`` (default ``~/.config``), else none.
A relative path (the ``models`` keys) is resolved when it is read: in a config
file against that file's folder, in ``--set`` against the working folder; a
default path is inside the installed package (the shipped models,
``livegen/models``).
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import logging
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from livegen.core.clock import MAX_BPM, MIN_BPM
from livegen.errors import ConfigError

log = logging.getLogger("livegen")

PACKAGE_DIR = Path(__file__).resolve().parent  # default paths resolve here: the shipped models
CONFIG_NAME = "config.toml"


def _f(default: Any, doc: str, *, choices: tuple | None = None, range: tuple | None = None,
       path: bool = False):
    """A config field with its documentation and allowed values; ``path``: a file or folder."""
    return field(default=default, metadata={"doc": doc, "choices": choices, "range": range, "path": path})


SEEDS = (0, 2**63 - 1)  # jam.seed and every --seed (numpy takes no negative seed)


def seed_option(text: str) -> int:
    """argparse type of every ``--seed``: a whole number in SEEDS."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not SEEDS[0] <= value <= SEEDS[1]:
        raise argparse.ArgumentTypeError(f"{text!r}: a seed is a whole number in range {SEEDS[0]}..{SEEDS[1]}")
    return value


MIDI_BACKENDS = ("auto", "jack", "alsa", "coremidi", "winmm")
AUDIO_BACKENDS = ("auto", "jack", "alsa", "pulse", "oss", "coreaudio", "wasapi", "asio", "mme", "directsound")


@dataclass(frozen=True)
class MidiConfig:
    """The virtual MIDI ports the DAW plays into and livegen plays out of."""

    backend: str = _f("auto", "MIDI API for the virtual ports; auto tries JACK, then ALSA, CoreMIDI, WinMM",
                      choices=MIDI_BACKENDS)
    in_port: str = _f("livegen:in", "the virtual input port the DAW sends to, as client:port")
    out_port: str = _f("livegen-out:out", "the virtual output port livegen plays into, as client:port")


@dataclass(frozen=True)
class AudioConfig:
    """The synth's audio output."""

    enabled: bool = _f(True, "open an audio output stream at all")
    backend: str = _f("auto", "audio host API; auto prefers JACK (while a server runs), then the system "
                      "default. On JACK livegen plays through a port of its own with a C callback; other "
                      "hosts through PortAudio", choices=AUDIO_BACKENDS)
    device: str = _f("", "output device name (a substring is enough); empty = the host API's default. "
                     "On JACK: the audio inputs to connect to (those whose name holds it); empty = the "
                     "server's playback ports")
    sample_rate: int = _f(0, "stream rate in Hz; 0 = the device's own rate (JACK: the server's, the only "
                          "one allowed)", range=(0, 384000))
    block_size: int = _f(0, "frames per callback; 0 = the backend chooses (not used on JACK: one callback "
                         "per server period)", range=(0, 8192))
    client_name: str = _f("livegen-synth", "JACK client name of the audio output (its port is "
                          "<name>:out_0)")


@dataclass(frozen=True)
class JamConfig:
    """The jam partner (``livegen run``): phrases, responses, timing, and control by MIDI CC."""

    tempo_bpm: float = _f(120.0, "tempo when no MIDI clock arrives", range=(MIN_BPM, MAX_BPM))
    beats_per_bar: int = _f(4, "beats in a bar; responses start on bar boundaries", range=(1, 32))
    follow_clock: bool = _f(True, "follow the DAW's MIDI clock (0xF8) when one arrives")
    temperature: float = _f(1.0, "LSTM sampling temperature", range=(0.05, 5.0))
    top_p: float = _f(0.95, "LSTM nucleus sampling: keep the most likely tokens up to this mass",
                      range=(0.01, 1.0))
    seed: int = _f(0, "random seed for sampling; 0 = a fresh seed each run", range=SEEDS)
    # phrases (livegen run)
    silence_beats: float = _f(2.0, "a phrase ends after this many beats with no key held", range=(0.25, 64.0))
    silence_s: float = _f(0.0, "if > 0, a phrase ends after this many seconds of silence instead",
                          range=(0.0, 60.0))
    end_cc: int = _f(-1, "a controller number that ends the phrase at once (value >= 64); -1 = none",
                     range=(-1, 127))
    max_phrase_beats: float = _f(32.0, "a phrase is cut (and answered) at this length in beats",
                                 range=(1.0, 256.0))
    min_notes: int = _f(2, "phrases with fewer notes are ignored", range=(1, 64))
    # responses
    response_bars: int = _f(0, "bars in a response; 0 = as many bars as the phrase took", range=(0, 32))
    max_response_bars: int = _f(8, "longest response when it follows the phrase, in bars", range=(1, 32))
    on_new_phrase: str = _f("interrupt", "a phrase started while livegen responds: interrupt the "
                            "response, or queue the answer after it", choices=("interrupt", "queue"))
    out_channel: int = _f(0, "MIDI channel of responses (1..16); 0 = the channel the phrase was played on",
                          range=(0, 16))
    thru: str = _f("synth", "where the player's notes pass through at once: the synth, the MIDI out, "
                   "both, or none", choices=("none", "synth", "midi", "both"))
    # timing
    offset_ms: float = _f(0.0, "playback offset for latency compensation; negative plays earlier",
                          range=(-500.0, 500.0))
    lead_ms: float = _f(30.0, "a response needs this much time before its bar line, else it moves "
                        "by whole bars", range=(0.0, 2000.0))
    spin_us: int = _f(1000, "rtmidi backends (ALSA, CoreMIDI, WinMM): the sender busy-waits this long "
                      "before a due message (sub-ms timing); 0 = sleep only. Not used on JACK",
                      range=(0, 20000))
    lstm_threads: int = _f(1, "ONNX Runtime threads for the LSTM", range=(1, 8))
    realtime: bool = _f(True, "run the daemon's threads (sender, control, generator, status) with "
                        "real-time priority (SCHED_FIFO, below JACK's) where the OS permits; the synth's "
                        "render thread: synth.realtime")
    # safety
    max_note_s: float = _f(10.0, "a response note held longer than this is ended", range=(0.1, 300.0))
    loop_window_ms: float = _f(50.0, "input equal to a message livegen sent this recently is its echo "
                               "through a MIDI loop and is ignored; 0 = off", range=(0.0, 2000.0))
    # state report and control by MIDI CC (controller numbers; -1 = off)
    state_cc: int = _f(85, "controller livegen sends on state changes: 0 idle, 64 listening, "
                       "127 responding; -1 = off", range=(-1, 127))
    state_channel: int = _f(16, "MIDI channel of the state controller", range=(1, 16))
    cc_temperature: int = _f(20, "controller setting the temperature (0..127 -> 0.1..2.0)", range=(-1, 127))
    cc_length: int = _f(21, "controller setting the response length (0..127 -> 0..8 bars, 0 = follow "
                        "the phrase)", range=(-1, 127))
    cc_loop: int = _f(22, "controller: >= 64 loops the last response, < 64 stops the loop", range=(-1, 127))
    cc_mutate: int = _f(23, "controller: >= 64 plays a variation of the last response on the next bar",
                        range=(-1, 127))
    cc_panic: int = _f(24, "controller: >= 64 ends every note and the response (panic)", range=(-1, 127))
    cc_mute: int = _f(25, "controller: >= 64 mutes responses, < 64 unmutes", range=(-1, 127))
    # answering in the player's texture, register and density (livegen.core.controls):
    # each is measured from the phrase ("follow") unless set here or by its controller
    texture: float = _f(0.0, "notes sounding at each onset the response aims for (1 = one line, 2 = two "
                        "voices, 3.5 = chords); 0 = follow the phrase", range=(0.0, 6.0))
    register: int = _f(0, "MIDI note the response's pitches centre on; 0 = follow the phrase", range=(0, 127))
    register_spread: float = _f(0.0, "standard deviation of the response's pitches in semitones; 0 = follow "
                                "the phrase", range=(0.0, 24.0))
    density: float = _f(0.0, "onsets per beat the response aims for (a chord is one onset); 0 = follow the "
                        "phrase", range=(0.0, 16.0))
    safety_net: bool = _f(True, "never more notes at once than the texture allows (1 up to texture 1.3, "
                          "2 up to 2.3, ...; one more ends the oldest first), none outside a register window "
                          "around the centre (a fifth either side at least), no new onset while the response is more than "
                          "1.3 times as dense as asked")
    cc_texture: int = _f(26, "controller switching the texture: 0 follow the phrase, 1..42 one line, "
                         "43..85 two voices, 86..127 chords", range=(-1, 127))
    cc_register: int = _f(27, "controller setting the register centre: 0 follow the phrase, else that MIDI "
                          "note", range=(-1, 127))
    cc_density: int = _f(28, "controller setting the density: 0 follow the phrase, 1..127 -> 0.25..8 onsets "
                         "per beat", range=(-1, 127))
    cc_thru: int = _f(29, "controller: >= 64 passes the player's notes through (where jam.thru says; "
                      "to the synth when that is 'none'), < 64 stops", range=(-1, 127))
    cc_pad_x: int = _f(16, "controller moving the timbre pad left (0) to right (127); on the channel it "
                       "arrives on when synth.pad_channel picks one channel", range=(-1, 127))
    cc_pad_y: int = _f(17, "controller moving the timbre pad bottom (0) to top (127)", range=(-1, 127))


@dataclass(frozen=True)
class SynthConfig:
    """The neural synth: voices, timbre presets, morphing. Program change n on a channel selects
    the model's n-th preset for that channel."""

    voices: int = _f(16, "polyphony limit of the synth", range=(1, 64))
    temperature: float = _f(1.0, "how much of the model's noise part sounds: 1 = as trained, "
                            "0 = harmonics only", range=(0.0, 2.0))
    threads: int = _f(1, "ONNX Runtime threads of the timbre encoder (livegen encode) and of the "
                         "reference decoder (bench synth); the synth plays through its native "
                         "kernel on the render thread", range=(1, 16))
    preset: str = _f("", "timbre preset of every channel; empty = the model's first preset")
    channel_presets: str = _f("", "presets for MIDI channels 1, 2, ... separated by commas; "
                                  "an empty entry keeps synth.preset")
    morph_cc: int = _f(1, "controller that morphs a channel's timbre toward synth.morph_preset; "
                          "-1 = off", range=(-1, 127))
    morph_preset: str = _f("", "the preset synth.morph_cc morphs toward; empty = no morphing")
    gain: float = _f(1.0, "output gain", range=(0.0, 8.0))
    release_max_s: float = _f(3.0, "longest a released note may ring before it fades out over a "
                              "frame (never past the 0.6 s of release the timbre model learned)",
                              range=(0.05, 30.0))
    realtime: bool = _f(True, "render with real-time priority (SCHED_FIFO, below the sender and "
                        "control threads) where the OS permits it")
    pad_corners: str = _f("", "the timbre pad's corner presets, top-left, top-right, bottom-left, "
                          "bottom-right, separated by commas; empty = the model's first four")
    pad_channel: int = _f(0, "MIDI channel the timbre pad plays (1..16); 0 = every channel",
                          range=(0, 16))
    user_presets: str = _f("", "the user's presets file (what the control surface encodes, renames and "
                           "deletes; the model's own presets are never changed); empty = "
                           "$XDG_DATA_HOME/livegen/presets.json", path=True)


LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class UiConfig:
    """The control surface in the browser (``livegen run``; docs/api.md): where it listens, and
    who may use it."""

    enabled: bool = _f(True, "serve the control surface in the browser while livegen runs")
    bind: str = _f("127.0.0.1", "address the control surface listens on; any other than 127.0.0.1, "
                   "localhost or ::1 needs ui.token")
    port: int = _f(8765, "TCP port of the control surface; 0 = any free port (the address is logged)",
                   range=(0, 65535))
    token: str = _f("", "secret every request must carry when ui.bind is not local (at least 16 "
                    "characters); empty = none")
    audition_channel: int = _f(16, "MIDI channel the preset list's audition button plays on",
                               range=(1, 16))


@dataclass(frozen=True)
class ModelsConfig:
    """The model files, and where ONNX Runtime runs them."""

    lstm: str = _f("models/lstm/lstm.onnx", "the phrase model (ONNX); relative to the config file "
                   "(the default: the shipped model, inside the package)", path=True)
    timbre: str = _f("models/timbre", "folder of the timbre model's ONNX files and presets; without "
                     "it livegen runs MIDI only", path=True)
    provider: str = _f("auto", "ONNX Runtime provider: auto uses CUDA where present, else the CPU",
                       choices=("auto", "cpu", "cuda"))


@dataclass(frozen=True)
class Config:
    midi: MidiConfig = field(default_factory=MidiConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    jam: JamConfig = field(default_factory=JamConfig)
    synth: SynthConfig = field(default_factory=SynthConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    ui: UiConfig = field(default_factory=UiConfig)
    source: str = "defaults"  # the file this came from, for messages

    def path(self, value: str) -> Path:
        """A path key's value as a path: the loader made the ones it read absolute; a relative
        one is a default, inside the installed package."""
        p = Path(os.path.expanduser(value))
        return p if p.is_absolute() else PACKAGE_DIR / p

    def user_presets(self) -> Path:
        """The user's presets file (synth.user_presets, else under $XDG_DATA_HOME)."""
        if self.synth.user_presets:
            return Path(self.synth.user_presets)
        data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
        return Path(data) / "livegen" / "presets.json"


SECTIONS: dict[str, type] = {"midi": MidiConfig, "audio": AudioConfig, "jam": JamConfig,
            "synth": SynthConfig, "models": ModelsConfig, "ui": UiConfig}

# keys an older livegen read: a config that sets one loads, with one notice (logged) saying why
# the key is gone, so an old config.toml keeps working
REMOVED: dict[str, str] = {
    "synth.block": "the synth renders at the audio device's rate, one period per callback, and "
                   "nothing is resampled",
}

# keys that were renamed: the old spelling still works and says, in one line, what it is now
RENAMED = {"models.wavenet": "models.timbre"}


def _new_key(section: str, key: str) -> str:
    """``key``, or its new name if it was renamed (saying so)."""
    new = RENAMED.get(f"{section}.{key}")
    if new is None:
        return key
    log.warning("%s.%s is now called %s (the old name still works)", section, key, new)
    return new.partition(".")[2]


_TYPES = {"bool": bool, "int": int, "float": float, "str": str}


def _type_name(t: type) -> str:
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}[t]


def _check_value(section: str, key: str, value: Any, f: dataclasses.Field) -> tuple[Any, str | None]:
    """The value converted to the field's type, or an error message."""
    name = f"{section}.{key}"
    t = _TYPES[f.type]
    ok = (isinstance(value, bool) if t is bool
          else isinstance(value, int) and not isinstance(value, bool) if t is int
          else isinstance(value, (int, float)) and not isinstance(value, bool) if t is float
          else isinstance(value, str))
    if not ok:
        return None, f"{name} = {value!r}: must be {_type_name(t)}"
    if t is float:
        value = float(value)
    choices, rng = f.metadata["choices"], f.metadata["range"]
    if choices and value not in choices:
        return None, f"{name} = {value!r}: must be one of {', '.join(map(repr, choices))}"
    if rng and not (rng[0] <= value <= rng[1]):
        return None, f"{name} = {value!r}: must be in range {rng[0]}..{rng[1]}"
    if name in ("midi.in_port", "midi.out_port"):
        client, sep, port = value.partition(":")
        if not (sep and client and port):
            return None, f"{name} = {value!r}: must be client:port, e.g. 'livegen:in'"
    return value, None


def _unknown(kind: str, name: str, allowed) -> str:
    close = difflib.get_close_matches(name, list(allowed), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown {kind} {name!r}{hint}; allowed: {', '.join(allowed)}"


def _is_path(section: str, key: str) -> bool:
    fields = dataclasses.fields(SECTIONS[section]) if section in SECTIONS else ()
    return any(f.name == key and f.metadata["path"] for f in fields)


def _absolute(value: str, base_dir: Path) -> str:
    if not value:
        return value  # empty: the key's own default place
    p = Path(os.path.expanduser(value))
    return str(p if p.is_absolute() else base_dir / p)


def _check_jam(jam: JamConfig) -> list[str]:
    """What no single key can say: controller numbers (keys cc_* and *_cc) that collide."""
    errors, seen = [], {}
    names = [f.name for f in dataclasses.fields(JamConfig)]
    for key in (n for n in names if n.startswith("cc_") or n.endswith("_cc")):
        value = getattr(jam, key)
        if value < 0:
            continue
        if value in seen:
            errors.append(f"jam.{seen[value]} and jam.{key} are both controller {value}: "
                          "give each its own number (or -1 to turn one off)")
        else:
            seen[value] = key
    if jam.state_cc in (120, 123) and jam.thru in ("midi", "both"):
        errors.append(f"jam.state_cc = {jam.state_cc}: that controller ends notes (with jam.thru = "
                      f"{jam.thru!r} it reaches the MIDI out); use another")
    return errors


def _check_ui(ui: UiConfig) -> list[str]:
    """A control surface reachable from other machines needs a token."""
    if ui.bind in LOCAL_HOSTS:
        return []
    if len(ui.token) < 16:
        return [f"ui.bind = {ui.bind!r} is not a local address: set ui.token to a secret of at least 16 "
                "characters (every request must carry it), or bind 127.0.0.1"]
    return []


def from_dict(data: dict, *, base_dir: Path | None = None, source: str = "defaults") -> Config:
    """Build a Config from parsed TOML; every problem is reported in one ConfigError.

    Relative path values are made absolute against ``base_dir`` (None: the working folder).
    """
    errors: list[str] = []
    sections: dict[str, Any] = {}
    for section, values in data.items():
        if section not in SECTIONS:
            errors.append(_unknown("section", section, SECTIONS))
            continue
        if not isinstance(values, dict):
            errors.append(f"[{section}] must be a table of keys, not {values!r}")
            continue
        cls = SECTIONS[section]
        fields = {f.name: f for f in dataclasses.fields(cls)}
        kwargs = {}
        for key, value in values.items():
            if f"{section}.{key}" in REMOVED:
                log.warning("%s: %s.%s is no longer used (%s): remove it", source, section, key,
                            REMOVED[f"{section}.{key}"])
                continue
            old, key = key, _new_key(section, key)
            if old != key and key in values:
                errors.append(f"{section}.{old} and {section}.{key} are one key (its old and new "
                              f"name): give only {section}.{key}")
                continue
            if key not in fields:
                errors.append(_unknown("key", f"{section}.{key}", [f"{section}.{k}" for k in fields]))
                continue
            checked, err = _check_value(section, key, value, fields[key])
            if err:
                errors.append(err)
            elif fields[key].metadata["path"]:
                kwargs[key] = _absolute(checked, base_dir or Path.cwd())
            else:
                kwargs[key] = checked
        sections[section] = cls(**kwargs)
    if not errors:
        errors += _check_jam(sections.get("jam", JamConfig()))
        errors += _check_ui(sections.get("ui", UiConfig()))
    if errors:
        if len(errors) == 1:
            raise ConfigError(f"{source}: {errors[0]}")
        raise ConfigError(f"{source}: {len(errors)} problems:\n  " + "\n  ".join(errors))
    return Config(**sections, source=source)


def parse_override(text: str) -> tuple[str, str, Any]:
    """``section.key=value`` -> (section, key, value); the value is read as TOML, else a string."""
    name, sep, raw = text.partition("=")
    section, dot, key = name.strip().partition(".")
    if not (sep and dot and section and key):
        raise ConfigError(f"--set {text!r}: must be section.key=value, e.g. --set jam.tempo_bpm=96")
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return section, key, value


def config_candidates() -> list[Path]:
    """Where livegen looks for a config file without ``--config``, in order."""
    xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return [Path.cwd() / CONFIG_NAME, Path(xdg) / "livegen" / CONFIG_NAME]


def load(path: str | os.PathLike | None = None, overrides: list[str] = ()) -> Config:
    """Load config from ``path`` (None: the first of :func:`config_candidates` that exists, else
    the defaults), then apply ``overrides`` (``section.key=value``).

    An explicitly named file must exist; the implicit ones may be absent.
    """
    if path is None:
        path = next((p for p in config_candidates() if p.is_file()), None)
    data: dict = {}
    base_dir, source = None, "defaults"
    if path is not None:
        p = Path(path)
        try:
            with open(p, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError as err:
            raise ConfigError(f"config file {str(p)!r} does not exist") from err
        except IsADirectoryError as err:
            raise ConfigError(f"config file {str(p)!r} is a directory, not a TOML file") from err
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{p}: not valid TOML: {err}") from err
        except UnicodeDecodeError as err:
            raise ConfigError(f"{p}: not valid TOML: not UTF-8 text") from err
        base_dir, source = p.resolve().parent, str(p)
    for text in overrides:
        section, key, value = parse_override(text)
        key = _new_key(section, key)  # an old name on the command line overrides the file's new one
        if _is_path(section, key) and isinstance(value, str):
            value = _absolute(value, Path.cwd())  # a path on the command line: from where it was typed
        data.setdefault(section, {})
        if isinstance(data[section], dict):
            for old in (o for o, new in RENAMED.items() if new == f"{section}.{key}"):
                data[section].pop(old.partition(".")[2], None)  # it overrides the file's old name too
            data[section][key] = value
    return from_dict(data, base_dir=base_dir, source=source)


def toml_value(value) -> str:
    """``value`` as TOML writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def reference_markdown() -> str:
    """The configuration reference, ``docs/config.md``, from the fields above: written by
    ``livegen config --markdown``; ``tests/test_docs.py`` holds the file equal to it."""
    out = ["# Configuration reference", "",
           "<!-- Generated from livegen/config.py by `livegen config --markdown > docs/config.md`: "
           "edit the field there, not this file. -->", "",
           "livegen reads one TOML file: `--config PATH`, else `./config.toml` if there is one, else "
           "`$XDG_CONFIG_HOME/livegen/config.toml` (default `~/.config/livegen/config.toml`), else none. "
           "Every key is optional; a missing key or section takes the default below. "
           "`--set section.key=value` (repeatable) overrides one key for a run. "
           "An unknown key, a wrong type, a value out of range, or two controls on one controller "
           "number stop livegen with one message naming the key, the value and what is allowed.", "",
           "A relative path in a config file is relative to that file's folder; one given with `--set`, "
           "to the working folder. The default model paths name the models shipped inside the installed "
           "package (`livegen/models/`).", "",
           "`livegen config` prints the configuration in force (after `--config` and `--set`, paths "
           "resolved); `livegen config --reference` prints this table as text. The repository's "
           "`config.toml` sets every key to its default, with a comment on each.", ""]
    for section, cls in SECTIONS.items():
        out += [f"## [{section}]", "", " ".join((cls.__doc__ or "").split()), "",
                "| key | default | allowed | what it does |", "|---|---|---|---|"]
        for sec, key, default, allowed, doc in describe():
            if sec == section:
                doc = doc.replace("|", "\\|")
                out.append(f"| `{key}` | `{toml_value(default)}` | {allowed} | {doc} |")
        out.append("")
    if RENAMED:
        out += ["## Old names", "", "These still work, with one line saying the new name:", ""]
        out += [f"- `{old}`: now `{new}`" for old, new in RENAMED.items()]
        out.append("")
    return "\n".join(out)


def describe() -> list[tuple[str, str, Any, str, str]]:
    """(section, key, default, allowed, doc) for every key: the config reference."""
    rows = []
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            m = f.metadata
            allowed = (", ".join(m["choices"]) if m["choices"]
                       else f"{m['range'][0]}..{m['range'][1]}" if m["range"]
                       else "a path" if m["path"] else _type_name(_TYPES[f.type]))
            rows.append((section, f.name, f.default, allowed, m["doc"]))
    return rows
