"""cffi (API mode) builder of ``livegen.io._jack``: the C process callbacks of livegen's JACK
MIDI ports (jackmidi.c) and audio output (jackaudio.c).

setuptools runs it when the package is built (``setup.py``: ``cffi_modules``), so a wheel
carries the compiled module and a user needs no C compiler. The cdef is the declaration
block of ``lgjack.h``, which the generated module and both C files include: the compiler
checks every function Python calls against its definition. Paths are relative to the
project's root, where setuptools runs it.
"""

from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent

# the libjack types the declarations use, opaque to Python
JACK_TYPES = """
typedef struct _jack_client jack_client_t;
typedef struct _jack_port jack_port_t;
"""


def cdef_block(header: Path) -> str:
    """The declarations between the ``cdef begin`` and ``cdef end`` markers of ``header``."""
    text = header.read_text()
    begin, end = "/* cdef begin */", "/* cdef end */"
    if begin not in text or end not in text:
        raise SystemExit(f"{header}: no {begin} ... {end} block")
    return text.split(begin, 1)[1].split(end, 1)[0]


ffibuilder = FFI()
ffibuilder.cdef(JACK_TYPES + cdef_block(HERE / "lgjack.h"))
ffibuilder.set_source(
    "livegen.io._jack",
    '#include "lgjack.h"',
    sources=["livegen/io/jackmidi.c", "livegen/io/jackaudio.c"],  # relative to the root, where it is built
    include_dirs=["livegen/io"],
    depends=["livegen/io/lgjack.h"],  # a changed header rebuilds
    libraries=["jack", "m"],
    extra_compile_args=["-O2", "-std=gnu11", "-Wall", "-Werror=incompatible-pointer-types",
                        "-Werror=implicit-function-declaration", "-Werror=int-conversion"],
)
