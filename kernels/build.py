"""Compile every kernel ahead of time: `python -m vstream.kernels.build` (scripts/setup.sh runs it).

One extension module, built by numba's ahead-of-time compiler (`numba.pycc`, which needs a C
compiler) from the kernel bodies and signatures `_compile.KERNELS` collects, named after the hash
of this folder's sources and written beside them (or where `_compile.build_dirs` says). Processes
then import it instead of numba (see `_compile.py`). Run it again after editing a kernel: until
then processes JIT-compile the edited sources, with the same results, about 1 s slower to start.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

from . import _compile


def build() -> Path:
    """Compile the kernels into the first writable of `_compile.build_dirs()` and return the
    module's path. Older builds there are removed."""
    if os.environ.get("VSTREAM_KERNELS") != "jit" or _compile.numba_disabled():
        raise RuntimeError("build from a process that JIT-compiles the kernels: "
                           "VSTREAM_KERNELS=jit, NUMBA_DISABLE_JIT unset")
    from numba.core.errors import NumbaPendingDeprecationWarning
    from numba.pycc import CC

    from . import assignment, distance, features, guided, iou, kalman, temporal  # noqa: F401  (fill KERNELS)

    directory = next(d for d in _compile.build_dirs() if _compile.writable_directory(d))
    target = _compile.build_file(directory)
    with tempfile.TemporaryDirectory(dir=directory) as scratch:
        cc = CC(_compile.module_name())
        cc.output_dir = scratch
        cc.verbose = False
        for name, (compiled, signature) in sorted(_compile.KERNELS.items()):
            cc.export(name, signature)(compiled.py_func)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NumbaPendingDeprecationWarning)  # pycc's own notice
            cc.compile()
        built = Path(scratch) / target.name
        os.replace(built, target)  # atomic: a process starting now sees no half-written file
    for old in directory.glob("vstream_kernels_aot_*"):
        if old != target:
            old.unlink(missing_ok=True)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vstream.kernels.build",
        description="Compile vstream's kernels ahead of time, so processes start without numba "
                    "(about 1 s faster). Needs a C compiler; without the build the kernels are "
                    "JIT-compiled by numba, with the same results.")
    parser.add_argument("--force", action="store_true",
                        help="compile even if a build for these sources exists")
    args = parser.parse_args(argv)
    existing = next((f for f in map(_compile.build_file, _compile.build_dirs()) if f.is_file()), None)
    if existing is not None and not args.force:
        print(existing)
        return 0
    if os.environ.get("VSTREAM_KERNELS") != "jit":
        # The package was imported before this runs, perhaps from a build (--force): compile
        # in a process whose kernels numba JIT-compiled.
        env = {**os.environ, "VSTREAM_KERNELS": "jit"}
        os.execve(sys.executable, [sys.executable, "-m", __spec__.name, *(argv or sys.argv[1:])], env)
    if not (shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")):
        print("vstream.kernels.build: no C compiler (install gcc): the kernels stay JIT-compiled, "
              "about 1 s slower to start", file=sys.stderr)
        return 1
    try:
        path = build()
    except Exception as error:  # noqa: BLE001  (one line for setup's log, not a traceback)
        print(f"vstream.kernels.build: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
