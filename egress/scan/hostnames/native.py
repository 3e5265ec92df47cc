"""The hostname scorer compiled to C by mypyc, or its pure Python where there is no build.

    .venv/bin/python -m egress.scan.hostnames build     # scripts/setup.sh runs it (as a script)
    .venv/bin/python -m egress.scan.hostnames status    # which one this checkout runs
    .venv/bin/python -m egress.scan.hostnames clean     # back to the pure Python

`build` compiles the scorer's modules (`MODULES`) in place with mypyc (the `native` extra:
mypy and setuptools) and a C compiler: an extension module beside each source, and one shared
library, `_native_<digest>__mypyc`, named by the digest of the sources it was built from.
Without a compiler, mypyc or Python's headers it says so in one line and leaves the pure
Python (same scores, about two thirds of the speed); the launcher's egress image has no
compiler and runs the pure Python.

The compiled and the pure modules are the same code: the scores are identical
(tests/test_hostname_native.py compares them). Python imports an extension module before a
source file of the same name, so a build must never outlive its sources: the package's
`__init__` imports this module first, and its `choose()` runs before any of them is
imported. When the sources' digest names no built library (a source edited since the build)
or `BOTTLE_EGRESS_PURE` is set, it loads every one of them from its source instead, all or
none (compiled modules call each other directly, so a mix would run stale code).
`status()` says which runs; `bottle egress run` logs it at start, the benchmark reports it.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Final

HERE: Final = Path(__file__).resolve().parent
PACKAGE: Final = "egress.scan.hostnames"
# every module the scorer runs, in import order (each imports only those before it)
MODULES: Final = ("words", "names", "suffixes", "labels", "shapes", "scorer")
PURE_ENV: Final = "BOTTLE_EGRESS_PURE"
BUILD_COMMAND: Final = ".venv/bin/python -m egress.scan.hostnames build"
_EXT: Final = importlib.machinery.EXTENSION_SUFFIXES[0]  # the suffix setuptools builds with
_LIB_PREFIX: Final = "_native_"

_why_pure = "not compiled"  # set by choose(): why the pure Python runs, when it does


def source_digest() -> str:
    """What a build was made from: the sources of MODULES (names and contents)."""
    h = hashlib.sha256()
    for module in MODULES:
        data = (HERE / f"{module}.py").read_bytes()
        h.update(f"{module}:{len(data)}:".encode())
        h.update(data)
    return h.hexdigest()[:16]


def _library(digest: str) -> Path:
    return HERE / f"{_LIB_PREFIX}{digest}__mypyc{_EXT}"


def _built_files() -> list[Path]:
    """Every file a build leaves in the package: the extension modules and shared libraries."""
    return sorted([*(p for m in MODULES if (p := HERE / f"{m}{_EXT}").exists()),
                   *HERE.glob(f"{_LIB_PREFIX}*__mypyc*")])


def choose() -> None:
    """Before the package imports MODULES: load them from their sources unless a build of
    exactly these sources is there (and BOTTLE_EGRESS_PURE is not set)."""
    global _why_pure
    shims = [m for m in MODULES if (HERE / f"{m}{_EXT}").exists()]
    if not shims:
        _why_pure = "not compiled"
        return
    if os.environ.get(PURE_ENV):
        _why_pure = f"{PURE_ENV} is set"
    elif len(shims) < len(MODULES) or not _library(source_digest()).exists():
        _why_pure = f"the build is stale: sources changed since; run {BUILD_COMMAND}"
    else:
        return  # the import system finds the extension modules first
    package = sys.modules[PACKAGE]
    for module in MODULES:
        name = f"{PACKAGE}.{module}"
        if name in sys.modules:
            continue
        spec = importlib.util.spec_from_file_location(name, HERE / f"{module}.py")
        assert spec is not None and spec.loader is not None
        loaded = importlib.util.module_from_spec(spec)
        sys.modules[name] = loaded
        try:
            spec.loader.exec_module(loaded)
        except BaseException:
            del sys.modules[name]
            raise
        setattr(package, module, loaded)


def compiled() -> bool:
    """Whether the scorer this process runs is compiled (every one of MODULES)."""
    importlib.import_module(f"{PACKAGE}.scorer")  # and so every module it imports
    return all((sys.modules[f"{PACKAGE}.{m}"].__file__ or "").endswith(_EXT) for m in MODULES)


def status() -> str:
    """`compiled (mypyc)` or `pure Python (why)`: which scorer this process runs."""
    return "compiled (mypyc)" if compiled() else f"pure Python ({_why_pure})"


# -- the build -----------------------------------------------------------------------------------

# Run by `build` in its own interpreter (mypyc's setuptools build raises or exits on failure):
# argv: source paths (comma-separated), group name, build directory.
_SETUP = """
import sys
from mypyc.build import mypycify
from setuptools import setup
paths, group, out = sys.argv[1].split(","), sys.argv[2], sys.argv[3]
setup(name="bottle-egress-native", ext_modules=mypycify(paths, group_name=group, target_dir=out + "/c"),
      script_args=["build_ext", "--build-lib", out + "/lib", "--build-temp", out + "/temp"])
"""


def missing() -> str | None:
    """What a build needs and this machine lacks, or None."""
    for module, extra in (("mypyc", "mypy"), ("setuptools", "setuptools")):
        if importlib.util.find_spec(module) is None:
            return f"{extra} is not installed (pip install -e '.[native]')"
    cc = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
    if not cc or shutil.which(cc[0]) is None:
        return f"no C compiler ({cc[0] if cc else 'cc'} not found)"
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").exists():
        return "Python's C headers (Python.h) are not installed"
    return None


def build(force: bool = False) -> tuple[bool, str]:
    """Compile MODULES in place unless a build of these sources is there: (compiled, what
    happened in one line). Never raises for a machine that cannot build: the pure Python
    stays."""
    digest = source_digest()
    shims = [HERE / f"{m}{_EXT}" for m in MODULES]
    if not force and _library(digest).exists() and all(p.exists() for p in shims):
        return True, "compiled (up to date)"
    lacking = missing()
    if lacking is not None:
        return False, f"pure Python: {lacking}"
    repo = HERE.parents[2]
    with tempfile.TemporaryDirectory(prefix="bottle-native-") as out:
        paths = ",".join(str((HERE / f"{m}.py").relative_to(repo)) for m in MODULES)
        res = subprocess.run([sys.executable, "-c", _SETUP, paths, f"{PACKAGE}.{_LIB_PREFIX}{digest}",
                              out], cwd=repo, capture_output=True, text=True, check=False)
        built = sorted((Path(out) / "lib" / Path(*PACKAGE.split("."))).glob(f"*{_EXT}"))
        if res.returncode != 0 or len(built) != len(MODULES) + 1:
            log = Path(tempfile.gettempdir()) / "bottle-native-build.log"
            log.write_text(res.stdout + res.stderr)
            last = (res.stderr.strip().splitlines() or ["no output"])[-1][:200]
            return False, f"pure Python: compiling failed ({last}; log: {log})"
        for old in _built_files():
            old.unlink()
        for new in built:
            # copied beside, then renamed over: a process that has the old file mapped keeps it
            part = HERE / f".{new.name}.part"
            shutil.copyfile(new, part)
            os.replace(part, HERE / new.name)
    return True, "compiled"


def clean() -> int:
    files = _built_files()
    for f in files:
        f.unlink()
    return len(files)


def main(argv: list[str]) -> int:
    usage = "usage: python -m egress.scan.hostnames build [--force] [--quiet] | status | clean"
    if not argv or argv[0] not in ("build", "status", "clean"):
        print(usage, file=sys.stderr)
        return 2
    if argv[0] == "status":  # as the package loads it (this may run as a script)
        print(f"hostname scorer: {importlib.import_module(f'{PACKAGE}.native').status()}")
        return 0
    if argv[0] == "clean":
        print(f"hostname scorer: {clean()} built files removed")
        return 0
    ok, what = build(force="--force" in argv)
    if not ok or "--quiet" not in argv:
        print(f"hostname scorer: {what}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    # scripts/setup.sh runs `python egress/scan/hostnames/native.py build --quiet` on every
    # `./bottle`: as a script it imports no package, so an up-to-date build costs ~50 ms
    sys.exit(main(sys.argv[1:]))
else:
    choose()  # the package's __init__ imports this module before any of MODULES
