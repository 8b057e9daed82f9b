"""Shared fixtures: a private JACK dummy server for tests that need real ports."""

from __future__ import annotations

import os
import shutil

import pytest

from livegen.io import audio, jackserver

JACK_RATE = 16000
JACK_PERIOD = 256


def pytest_collection_modifyitems(config, items):
    missing = jackserver.missing_tools()
    if not missing:
        return
    skip = pytest.mark.skip(reason=f"needs a JACK server: {', '.join(missing)} not found "
                                   "(apt-get install jackd2)")
    for item in items:
        if "jack" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def jack_server(tmp_path_factory):
    """A JACK dummy server of this test session's own, stopped at the end.

    Sets JACK_DEFAULT_SERVER for this process, so every JACK client the tests
    open (rtmidi, PortAudio) reaches it and no other server.
    """
    name = f"livegen-test-{os.getpid()}"
    log = tmp_path_factory.mktemp("jack") / "jackd.log"
    server = jackserver.start(name, JACK_RATE, JACK_PERIOD, str(log))
    saved = {k: os.environ.get(k) for k in ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER")}
    os.environ.update(JACK_DEFAULT_SERVER=name, JACK_NO_START_SERVER="1")
    yield server
    audio.release()  # PortAudio aborts if its JACK server goes first
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def jack_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not found (apt-get install jackd2)")
    return path
