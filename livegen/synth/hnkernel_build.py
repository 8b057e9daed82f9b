"""cffi (API mode) builder of ``livegen.synth._hnkernel``, the synth's native kernel.

setuptools runs it when the package is built (``cffi_modules`` in setup.py): the C compiler
checks these declarations against ``hnkernel.h`` and ``hnkernel.c``, so they cannot drift.
"""

from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
HEADER = HERE / "hnkernel.h"

ffibuilder = FFI()
ffibuilder.cdef("\n".join(line for line in HEADER.read_text().splitlines()
                          if not line.lstrip().startswith("#")))
ffibuilder.set_source(
    "livegen.synth._hnkernel",
    '#include "hnkernel.h"\n' + (HERE / "hnkernel.c").read_text().replace('#include "hnkernel.h"', ""),
    include_dirs=[str(HERE)],
    extra_compile_args=["-O3", "-fno-math-errno", "-ffp-contract=fast", "-std=gnu99", "-Wno-psabi"],
    libraries=["m"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
