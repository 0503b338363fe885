"""`python -m bench [NAME [ARGS...]]`: run every benchmark (or one) and print its figures.

Each module in this folder named `*_bench.py` exposes `main(argv: list[str]) -> None`.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

from ledgerbridge.observability.logs import configure_logging


def _names() -> list[str]:
    folder = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(folder)]) if m.name.endswith("_bench"))


def run() -> None:
    # Only warnings, to stderr: the apps a benchmark runs in its own process would print
    # each request (structlog, unconfigured, writes to stdout) over the figures, and a
    # line a request would slow what is measured.
    configure_logging("warning")
    args = sys.argv[1:]
    names = _names()
    if args and args[0] in ("-h", "--help"):
        print("benchmarks:", ", ".join(names))
        return
    selected = [args[0]] if args else names
    for name in selected:
        if name not in names:
            raise SystemExit(f"unknown benchmark {name!r}; choose from {names}")
        print(f"== {name}", flush=True)
        importlib.import_module(f"bench.{name}").main(args[1:] if args else [])


if __name__ == "__main__":
    run()
