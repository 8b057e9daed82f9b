"""What livegen's JACK ports share: the compiled process callbacks and opening a JACK client.

The process callbacks are C (``jackmidi.c``, ``jackaudio.c`` beside this module), compiled
when the package is built into the extension module ``livegen.io._jack`` (cffi API mode,
``jack_build.py``): no Python runs on JACK's real-time thread. JACK-Client (Python)
opens the client, registers its port and connects it; the C side is attached to the
client's pointer before the client is activated.

If the module cannot be loaded, :func:`native` raises one DeviceError naming the file and
why; callers say so (MIDI falls back to rtmidi's JACK backend, logged; audio never falls
back to a Python callback on JACK).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import time
from pathlib import Path

from livegen.errors import DeviceError
from livegen.io import jackwatch
from livegen.io.quiet import captured_stderr

log = logging.getLogger("livegen.io")

MODULE = "livegen.io._jack"
_native = None

# A JACK2 client that another client of the same process outlives can be opened dead: libjack
# keeps one table of the clients' wake-up futexes per process, and each client of the process
# updates it from its own notification thread. When a client (of any process) closes and a new
# client of this process takes its number before a sibling client here has handled the removal,
# the new client's real-time thread waits on the old client's futex: the server never wakes it,
# its process callback never runs, and jackd logs "client = NAME was not finished, state =
# Triggered" every cycle (measured: about 220 xruns a second at 128 frames, the MIDI port
# silent, in 1 start in 4 of a livegen whose harness polled the server with short-lived clients).
# So a port waits for its client's first process callback after activating it and reopens the
# client when none comes.
FIRST_CYCLE_S = 0.5  # a running server calls a new client within a few periods (23 ms each at most)
OPEN_TRIES = 3
REOPEN_PAUSE_S = 0.2  # lets the sibling clients handle the closed client's removal first


def first_cycle(cycles, timeout_s: float = FIRST_CYCLE_S) -> bool:
    """Wait until ``cycles()`` (a process callback's count) is above 0; False after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while cycles() == 0:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.005)
    return True


def never_ran(what: str, name: str, attempt: int) -> None:
    """Say that JACK did not run the process callback of a client that was just activated."""
    if attempt < OPEN_TRIES:
        log.warning("%s %r: JACK did not run its process callback within %.1f s of activating it (a "
                    "JACK2 race with a client that closed at that moment): reopening it (try %d of %d)",
                    what, name, FIRST_CYCLE_S, attempt + 1, OPEN_TRIES)
    else:
        log.error("%s %r: JACK did not run its process callback after %d tries: it stays silent until "
                  "livegen is restarted (is the JACK server stalled or freewheeling?)", what, name, OPEN_TRIES)


def module_file() -> str:
    """Where the compiled module is (or would be, when not built)."""
    spec = importlib.util.find_spec(MODULE)
    if spec is not None and spec.origin:
        return spec.origin
    return str(Path(__file__).with_name("_jack.abi3.so"))


def native():
    """(ffi, lib) of the compiled process callbacks; DeviceError naming the file if they
    cannot be loaded."""
    global _native
    if _native is None:
        if importlib.util.find_spec(MODULE) is None:
            raise DeviceError(f"livegen's native JACK module is not built: no {module_file()} (pip install "
                              ". builds it; in a checkout: python setup.py build_ext --inplace)")
        try:
            from livegen.io import _jack
        except (ImportError, OSError) as err:
            raise DeviceError(f"cannot load livegen's native JACK module {module_file()}: {err} "
                              "(Debian: apt-get install libjack-jackd2-0)") from err
        _native = _jack.ffi, _jack.lib
    return _native


def unavailable() -> str | None:
    """None if the native JACK module loads here, else why not (one line naming the file)."""
    try:
        native()
    except DeviceError as err:
        return str(err)
    return None


def jack_module():
    try:
        import jack
    except (ImportError, OSError) as err:
        raise DeviceError(f"JACK needs JACK-Client and libjack ({err}); Debian: apt-get install "
                          "jackd2") from err
    return jack


def c_pointer(obj, ctype: str):
    """The C pointer inside a JACK-Client Client or Port, as a ``ctype`` (``jack_client_t *``,
    ``jack_port_t *``) of :func:`native`'s ffi. JACK-Client keeps it in ``_ptr`` and has no
    public accessor: this is the one place that reads it (tests/test_jack_midi.py checks it
    still works)."""
    jack = jack_module()
    ffi = native()[0]
    return ffi.cast(ctype, int(jack._ffi.cast("uintptr_t", obj._ptr)))


def close_client(client, deactivate: bool) -> bool:
    """Close a JACK-Client Client (deactivated first if ``deactivate``); False, leaving it
    open, when its server is gone: libjack crashed the process (a segmentation fault) closing
    a client whose server died while it opened, also from the garbage collector. Such a client
    is left to the process, which re-executes itself or exits (livegen.daemon.jackrestart);
    its ``_ptr`` (see :func:`c_pointer`) is cleared so nothing closes it later."""
    if jackwatch.server_identity(jackwatch.server_name()) is None:
        client._ptr = jack_module()._ffi.NULL
        return False
    with captured_stderr():  # libjack's "Server is not running" when its server died
        if deactivate:
            client.deactivate()
        client.close()
    return True


def _name_taken(client_name: str) -> bool:
    """A client of this name is on the server (JACK2 answers a taken exact name with the
    same status as a missing server: ask a client of another name)."""
    jack = jack_module()
    try:
        with captured_stderr():
            probe = jack.Client("livegen-name-probe", no_start_server=True)
    except jack.JackOpenError:
        return False
    try:
        probe.get_uuid_for_client_name(client_name)
        return True
    except jack.JackError:
        return False
    finally:
        probe.close()


def refused(what: str, full_name: str, err, status=None, key: str = "midi.in_port / midi.out_port") -> DeviceError:
    """The DeviceError for a client or port the server refused: why, and what to change
    (``key``: the config keys that name it)."""
    server = os.environ.get("JACK_DEFAULT_SERVER", "default")
    client = full_name.partition(":")[0]
    if status is not None and (status.name_not_unique or _name_taken(client)):
        why = (f"the JACK client name {client!r} is taken (is another livegen running? give "
               f"{key} another client name)")
    elif status is not None and (status.server_failed or status.server_error):
        why = f"no JACK server is running (server name {server!r}): start one, e.g. jackd -d dummy"
    elif status is not None and status.invalid_option:
        why = f"the JACK server refused the client name {client!r} ({err})"
    else:
        why = f"the JACK server refused it ({err})"
    return DeviceError(f"cannot open {what} {full_name!r} on JACK: {why}")


def open_client(what: str, full_name: str, key: str = "midi.in_port / midi.out_port"):
    """A JACK-Client Client named for ``full_name`` ('client:port'), on the running server
    (none is started); DeviceError (:func:`refused`) if the server refuses it."""
    jack = jack_module()
    client_name = full_name.partition(":")[0]
    os.environ.setdefault("JACK_NO_START_SERVER", "1")
    failed = None
    with captured_stderr():
        try:
            client = jack.Client(client_name, use_exact_name=True, no_start_server=True)
        except jack.JackOpenError as err:
            failed = err
    if failed is not None:
        raise refused(what, full_name, failed, getattr(failed, "status", None), key) from failed
    return client


def server_running() -> bool:
    """A JACK server answers (the one JACK_DEFAULT_SERVER names); none is started."""
    jack = jack_module()
    os.environ.setdefault("JACK_NO_START_SERVER", "1")
    try:
        with captured_stderr():
            probe = jack.Client("livegen-probe", no_start_server=True)
    except jack.JackOpenError:
        return False
    probe.close()
    return True
