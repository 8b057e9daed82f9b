"""The control surface's commands: JSON objects checked here, at the boundary, like config keys.

:func:`parse` turns one command into a :class:`Command` (what to do, already checked) or
raises :class:`BadCommand` with one message naming the field and what is allowed. The
server carries them out (:mod:`livegen.ui.server`); docs/api.md lists them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from livegen.errors import LivegenError

# jam controls: name -> the config key of its controller. They move exactly as the CC does.
CONTROLS = {"temperature": "cc_temperature", "length": "cc_length", "texture": "cc_texture",
            "register": "cc_register", "density": "cc_density", "loop": "cc_loop", "mute": "cc_mute",
            "thru": "cc_thru", "variation": "cc_mutate", "panic": "cc_panic"}
TRIGGERS = ("variation", "panic")  # fire once: the surface sends 127 then 0


class BadCommand(LivegenError):
    """A command the surface cannot carry out (its message says why and what is allowed)."""


@dataclass(frozen=True)
class Command:
    cmd: str
    args: dict


def _number(obj: dict, key: str, lo: float, hi: float, integer: bool = False):
    value = obj.get(key)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and integer:
        ok = float(value).is_integer()
    if not ok or not lo <= value <= hi:
        kind = "an integer" if integer else "a number"
        raise BadCommand(f"{obj.get('cmd')}: {key} = {value!r}: must be {kind} in {lo:g}..{hi:g}")
    return int(value) if integer else float(value)


def _string(obj: dict, key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        raise BadCommand(f"{obj.get('cmd')}: {key} = {value!r}: must be a non-empty string")
    return value


def _fields(obj: dict, allowed: tuple[str, ...]) -> None:
    extra = sorted(set(obj) - {"cmd", *allowed})
    if extra:
        raise BadCommand(f"{obj['cmd']}: unknown field {extra[0]!r}; allowed: {', '.join(allowed) or 'none'}")


def parse(obj) -> Command:
    """One command (a decoded JSON object) -> Command; BadCommand otherwise."""
    if not isinstance(obj, dict):
        raise BadCommand(f"a command must be a JSON object with a \"cmd\" field, not {type(obj).__name__}")
    cmd = obj.get("cmd")
    if cmd not in PARSERS:
        raise BadCommand(f"unknown command {cmd!r}; the commands are: {', '.join(PARSERS)}")
    allowed, parse_args = PARSERS[cmd]
    _fields(obj, allowed)
    return Command(cmd, parse_args(obj))


def _pad(obj):
    if "x" not in obj and "y" not in obj:
        raise BadCommand("pad: give x, y or both (0..1, left to right and bottom to top)")
    return {k: _number(obj, k, 0.0, 1.0) if k in obj else None for k in ("x", "y")}


def _pad_channel(obj):
    return {"channel": _number(obj, "channel", 0, 16, integer=True)}


def _corners(obj):
    names = obj.get("names")
    if not (isinstance(names, list) and len(names) == 4 and all(isinstance(n, str) for n in names)):
        raise BadCommand(f"corners: names = {names!r}: must be a list of four preset names "
                         "(top-left, top-right, bottom-left, bottom-right)")
    return {"names": tuple(names)}


def _control(obj):
    name = obj.get("name")
    if name not in CONTROLS:
        raise BadCommand(f"control: name = {name!r}: must be one of {', '.join(CONTROLS)}")
    if name in TRIGGERS:
        if "value" in obj:
            raise BadCommand(f"control: {name} takes no value (it fires once)")
        return {"name": name, "value": None}
    return {"name": name, "value": _number(obj, "value", 0, 127, integer=True)}


def _audition(obj):
    pitch = _number(obj, "pitch", 0, 127, integer=True) if "pitch" in obj else 60
    return {"name": _string(obj, "name"), "pitch": pitch}


def _rename(obj):
    return {"name": _string(obj, "name"), "to": _string(obj, "to")}


def _delete(obj):
    return {"name": _string(obj, "name")}


PARSERS = {
    "pad": (("x", "y"), _pad),
    "pad_channel": (("channel",), _pad_channel),
    "corners": (("names",), _corners),
    "control": (("name", "value"), _control),
    "audition": (("name", "pitch"), _audition),
    "rename": (("name", "to"), _rename),
    "delete": (("name",), _delete),
}
