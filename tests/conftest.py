"""Shared fixtures: a private JACK dummy server for tests that need real ports."""

from __future__ import annotations

import os
import shutil

import pytest

from livegen.io import jackserver

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
    log = tmp_path_factory.mktemp("jack") / "jackd.log"
    with jackserver.serving(f"livegen-test-{os.getpid()}", JACK_RATE, JACK_PERIOD, str(log)) as server:
        yield server


def jack_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not found (apt-get install jackd2)")
    return path
