"""The presets a user plays: the model's own (``presets.json`` in its folder, never changed
here) and the user's (``synth.user_presets``: what the control surface encodes, renames and
deletes). A user preset may not take a model preset's name.

Also the timbre pad's corners (``synth.pad_corners``) as a :class:`~livegen.core.pad.Pad`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from livegen.core.pad import Pad
from livegen.engine.timbre import load_presets, save_presets
from livegen.errors import ConfigError, DataError

NAME = re.compile(r"^[\w][\w .+#()-]{0,47}$")  # letters, digits, a few marks; 48 characters at most


@dataclass(frozen=True)
class Presets:
    """Every preset by name, in order: the model's, then the user's."""

    model: dict[str, np.ndarray]
    user: dict[str, np.ndarray]
    user_file: Path

    def all(self) -> dict[str, np.ndarray]:
        return {**self.model, **self.user}

    def listing(self) -> list[dict]:
        return ([{"name": n, "user": False} for n in self.model]
                + [{"name": n, "user": True} for n in self.user])


def load(model_presets: dict[str, np.ndarray], user_file: Path) -> Presets:
    """The model's presets and the user's file (absent: none yet). A user file that cannot be
    read raises ModelFileError naming it."""
    z_dim = len(next(iter(model_presets.values()))) if model_presets else None
    user = load_presets(user_file, z_dim, allow_empty=True) if user_file.exists() else {}
    return Presets(dict(model_presets), {n: z for n, z in user.items() if n not in model_presets}, user_file)


def check_name(name: str, presets: Presets, *, new: bool) -> str:
    """``name`` stripped, if it is a valid preset name (for a ``new`` one: not taken)."""
    name = name.strip() if isinstance(name, str) else ""
    if not NAME.match(name):
        raise DataError(f"preset name {name!r}: use 1 to 48 letters, digits, spaces or . + # ( ) - _, "
                        "starting with a letter or digit")
    if new and name in presets.all():
        raise DataError(f"preset name {name!r} is taken: choose another")
    return name


def _user(presets: Presets, name: str) -> None:
    if name in presets.model:
        raise DataError(f"preset {name!r} is one of the model's own: only your presets "
                        f"({presets.user_file}) can be renamed or deleted")
    if name not in presets.user:
        raise DataError(f"no preset {name!r} in your presets ({presets.user_file})")


def rename(presets: Presets, old: str, new: str) -> Presets:
    """Rename a user preset (written to the user's file at once, in place in its order)."""
    _user(presets, old)
    new = check_name(new, presets, new=True)
    user = {(new if n == old else n): z for n, z in presets.user.items()}
    save_presets(presets.user_file, user)
    return Presets(presets.model, user, presets.user_file)


def delete(presets: Presets, name: str) -> Presets:
    """Delete a user preset (written to the user's file at once)."""
    _user(presets, name)
    user = {n: z for n, z in presets.user.items() if n != name}
    save_presets(presets.user_file, user)
    return Presets(presets.model, user, presets.user_file)


def corner_names(spec: str, names: list[str]) -> tuple[str, ...]:
    """synth.pad_corners (four names, comma-separated; empty: the first four of ``names``, the
    last repeated when there are fewer)."""
    if not names:
        raise ConfigError("the timbre model has no presets: the pad has no corners")
    if not spec.strip():
        return tuple(names[min(i, len(names) - 1)] for i in range(4))
    want = tuple(s.strip() for s in spec.split(","))
    bad = [n for n in want if n not in names]
    if len(want) != 4 or bad:
        raise ConfigError(f"synth.pad_corners = {spec!r}: must be four preset names separated by commas"
                          + (f" ({', '.join(map(repr, bad))}: no such preset)" if bad else "")
                          + f"; there are: {', '.join(names)}")
    return want


def pad(spec: str, channel: int, presets: dict[str, np.ndarray]) -> Pad:
    """The pad of synth.pad_corners and synth.pad_channel, untouched (no channel moved yet)."""
    names = corner_names(spec, list(presets))
    return Pad(names, np.stack([presets[n] for n in names]).astype(np.float32), channel)
