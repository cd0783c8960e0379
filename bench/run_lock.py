"""The product as its run lock installs it, inside the benchmark's environment.

The benchmark's environment (``requirements/bench.txt``) also holds the peers' packages:
pandas, polars, numpy and the like. pyarrow and ADBC import pandas and polars whenever they
find them installed, which adds about 50 MiB to a process that never uses them. A product
process of the benchmark hides every installed distribution that ``requirements/run.txt``
does not list, so its memory is the memory of the product as ``make install`` installs it.

``python -m bench.run_lock MODULE ARGS...`` runs ``python -m MODULE ARGS...`` so: the
benchmark starts the product's servers and workers this way.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import re
import runpy
import sys
from collections.abc import Sequence
from importlib.metadata import packages_distributions
from pathlib import Path
from types import ModuleType

RUN_LOCK = Path(__file__).resolve().parents[1] / "requirements" / "run.txt"
PROJECT = "xdm-connector"
_LOCKED_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==")


def _normalized(distribution: str) -> str:
    """A distribution's name as PEP 503 compares it."""
    return re.sub(r"[-_.]+", "-", distribution).lower()


def locked_distributions(lock: Path = RUN_LOCK) -> frozenset[str]:
    """The distributions that ``lock`` pins, and the project itself."""
    names = {
        _normalized(found.group(1))
        for line in lock.read_text(encoding="utf-8").splitlines()
        if (found := _LOCKED_LINE.match(line))
    }
    return frozenset(names | {PROJECT})


def hidden_modules(lock: Path = RUN_LOCK) -> frozenset[str]:
    """The top-level modules that only distributions absent from ``lock`` provide."""
    locked = locked_distributions(lock)
    return frozenset(
        module
        for module, distributions in packages_distributions().items()
        if not any(_normalized(name) in locked for name in distributions)
    )


class _RunLockFinder(importlib.abc.MetaPathFinder):
    """Refuses the hidden modules as if they were not installed (``ModuleNotFoundError``,
    which the optional imports of pyarrow, ADBC and DuckDB expect)."""

    def __init__(self, hidden: frozenset[str]) -> None:
        self.hidden = hidden

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.partition(".")[0] in self.hidden:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


def install(lock: Path = RUN_LOCK) -> None:
    """Hide, from now on, what ``lock`` does not install (``main`` does it first thing, before
    the module it runs imports anything)."""
    sys.meta_path.insert(0, _RunLockFinder(hidden_modules(lock)))


def command(module: str, *arguments: str) -> list[str]:
    """The command line that runs ``python -m module arguments`` as the run lock installs it."""
    return [sys.executable, "-m", "bench.run_lock", module, *arguments]


def main(argv: list[str]) -> None:
    """Run the module named by ``argv[0]`` as ``__main__`` with the rest as its arguments."""
    install()
    sys.argv = argv
    runpy.run_module(argv[0], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
