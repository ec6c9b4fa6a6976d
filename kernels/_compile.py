"""How a kernel body becomes machine code: built ahead of time if that build is there, else JIT.

Importing numba and loading its cached machine code costs a process about 0.9 s on two cores
(numba's import 0.4 s, then its target registries on the first cached dispatch 0.4 s), more than
PySceneDetect's whole run on a short clip. So `python -m vstream.kernels.build` (scripts/setup.sh
runs it) compiles every kernel body once with numba's ahead-of-time compiler (`numba.pycc`) into
one extension module named after the hash of this folder's sources. A process that finds the
build for its sources imports it and never imports numba; one that does not (an edited kernel, no
C compiler at set-up, `VSTREAM_KERNELS=jit`) JIT-compiles with numba as before, with the same
results. `NUMBA_DISABLE_JIT=1` runs the bodies as plain Python, as numba has it.

Trade-off: pycc's entry points hold the GIL while they run, where the JIT kernels release it
(`nogil`). The kernels run on 48x27 frames or a few boxes (microseconds a call), so a decode
thread waits microseconds, against the 0.9 s of start-up the build saves.

Each kernel body is a module-level function decorated `@kernel(signature)` (called from its
checked public wrapper, which passes exactly the signature's types: C-contiguous arrays of its
dtypes) or `@helper` (called only from other bodies).
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import os
import sysconfig
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

Body = TypeVar("Body", bound=Callable[..., Any])

#: export name -> (the JIT-compiled body, its signature), filled as the kernel modules import; the
#: builder compiles these
KERNELS: dict[str, tuple[Callable[..., Any], str]] = {}

_HERE = Path(__file__).parent


def writable_directory(directory: Path) -> bool:
    """numba's own test for a cache directory: it can be made and a file written in it."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=directory).close()
    except OSError:
        return False
    return True


def source_hash() -> str:
    """Hash of every source file of this folder: a build is used only for the sources it was
    built from."""
    digest = hashlib.sha256()
    for path in sorted(_HERE.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def module_name() -> str:
    """The extension module's name (also its init symbol) for these sources."""
    return f"vstream_kernels_aot_{source_hash()}"


def build_dirs() -> list[Path]:
    """Where a build is looked for, in order; the builder writes into the first writable one:
    beside the sources (where numba caches too: a clone, an editable or a user install), else the
    user's cache directory, else a per-user directory under the system's temporary directory."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    user = os.getuid() if hasattr(os, "getuid") else os.getlogin()
    return [_HERE / "__pycache__", Path(base) / "vstream" / "kernels",
            Path(tempfile.gettempdir()) / f"vstream-kernels-{user}"]


def build_file(directory: Path) -> Path:
    """The build's path in `directory`."""
    return directory / (module_name() + sysconfig.get_config_var("EXT_SUFFIX"))


def numba_disabled() -> bool:
    """`NUMBA_DISABLE_JIT` is set to a non-zero number: the bodies run as plain Python."""
    return os.environ.get("NUMBA_DISABLE_JIT", "0").strip() not in ("", "0")


def jit_only() -> bool:
    """True where the build must not be used: `VSTREAM_KERNELS=jit` (the builder, the JIT test
    pass) or `numba_disabled()`."""
    return os.environ.get("VSTREAM_KERNELS", "auto") == "jit" or numba_disabled()


@cache
def ahead_of_time() -> ModuleType | None:
    """The build for these sources, imported; None if there is none or it must not be used."""
    if jit_only():
        return None
    for directory in build_dirs():
        path = build_file(directory)
        if path.is_file():
            spec = importlib.util.spec_from_file_location(
                module_name(), path, loader=importlib.machinery.ExtensionFileLoader(module_name(), str(path)))
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
    return None


def _jit(body: Body) -> Body:
    import numba  # only here: a process with the build never imports numba

    from ._config import JIT_FLAGS  # sets numba's cache directory

    return numba.njit(**JIT_FLAGS)(body)


def export_name(body: Callable[..., Any]) -> str:
    """The build's name for a body: its module and name, e.g. `features__frame_features`."""
    return f"{body.__module__.rpartition('.')[2]}_{body.__name__}"


def kernel(signature: str) -> Callable[[Body], Body]:
    """Compile a kernel body for `signature` (numba's type syntax, e.g.
    "void(float64[:, ::1], int64)"): the build's entry point if there is one, else numba's JIT."""

    def compile_(body: Body) -> Body:
        name = export_name(body)
        built = ahead_of_time()
        if built is not None:
            return getattr(built, name)
        compiled = _jit(body)
        KERNELS[name] = (compiled, signature)
        return compiled

    return compile_


def helper(body: Body) -> Body:
    """Compile a body that only other kernel bodies call: the build has it inlined into them,
    so with the build it stays a plain (never called) Python function."""
    return body if ahead_of_time() is not None else _jit(body)
